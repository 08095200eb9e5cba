/**
 * `pluto-export probe` against the simulator and each of its variants: the default organisation
 * holds every assumption, and each variant makes exactly its own assumption DIFFERENT. The saved
 * shapes hold no id, no value and no token.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import { CHECKS } from '../functions/core/probe/checks.js';
import { type ProbeReport, runProbe } from '../functions/core/probe/probe.js';
import { shapeOf } from '../functions/core/probe/shape.js';
import {
  type RunningSimulator,
  SIMULATOR_VARIANTS,
  type SimulatorOptions,
  type SimulatorTruth,
  startSimulator,
} from '../functions/simulator/index.js';
import { DOWNLOAD_EXTRA_HEADERS } from '../functions/simulator/world.js';
import { runCli } from './support/cli.js';
import { SMALL_ORGANISATION } from './support/fault-harness.js';
import { fixedSecret } from './support/secrets.js';

const SEED = 31;
/** Gene_Symbol, Average_Expression, Log2_Fold_Change, P_Value, Adj_P_Value: what Pluto's R client tests read. */
const DE_COLUMNS = 5;
const PLOT_DATA = 'lab/experiments/{experiment}/plots/{plot}/data/';
const PLOT_DOWNLOAD = 'lab/experiments/{experiment}/plots/{plot}/download/';

async function probe(options: SimulatorOptions): Promise<{ report: ProbeReport; truth: SimulatorTruth }> {
  const simulator = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION, ...options });
  try {
    const client = createPlutoClient({
      baseUrl: simulator.url,
      secrets: fixedSecret(simulator.truth.token),
      version: 'test',
    });
    return { report: await runProbe(client, { sample: 3 }), truth: simulator.truth };
  } finally {
    await simulator.close();
  }
}

const differing = (report: ProbeReport) =>
  Object.fromEntries(report.checks.filter((c) => c.verdict !== 'OK').map((c) => [c.assumption, c.seen]));

/** Plots the probe lists (those of every experiment Pluto shows) and those of the 3 it probes. */
function plotsOf(truth: SimulatorTruth) {
  const listed = truth.exportable.flatMap((e) => e.plots);
  const probed = truth.exportable.slice(0, 3).flatMap((e) => e.plots);
  return { listed, probed };
}

/** The files of the 3 probed experiments. */
const filesOf = (truth: SimulatorTruth) => truth.exportable.slice(0, 3).map((e) => e.files);
const sum = (numbers: readonly number[]) => numbers.reduce((a, b) => a + b, 0);
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('probe verdicts', () => {
  it('the default simulator holds every assumption', async () => {
    const { report, truth } = await probe({});
    expect(report.checks.map((c) => c.assumption)).toEqual(CHECKS.map((c) => c.assumption));
    expect(differing(report)).toEqual({});
    const { listed, probed } = plotsOf(truth);
    expect(report.organisation).toEqual({
      projects: truth.projects.length,
      experiments: truth.experiments.length,
      refusedExperiments: truth.forbiddenExperimentIds.length,
      plotsByDisplayType: {
        volcano_plot_v2: listed.filter((p) => p.display?.display_type === 'volcano_plot_v2').length,
        sample_scatter_plot: truth.exportable.length,
      },
      probedExperiments: 3,
    });
    const seen = Object.fromEntries(report.checks.map((c) => [c.assumption, c.seen]));
    expect(seen[`${PLOT_DATA} answers a page {count, headers, items}, not {url}`]).toBe(
      `a page ×${probed.length}`,
    );
    expect(seen['plots have uuid and the fields read']).toBe(`plot ×${listed.length}`);
    expect(seen[`${PLOT_DOWNLOAD} (CSV) has no more columns than ${PLOT_DATA}`]).toBe(
      `no more columns ×${probed.length}`,
    );
    expect(seen['an unknown id answers 400 {code: invalid_object_id, message}']).toBe(
      '400 {code: invalid_object_id, message}',
    );
  });

  const expected: Record<
    (typeof SIMULATOR_VARIANTS)[number],
    (truth: SimulatorTruth) => Record<string, string>
  > = {
    'paging-ignored': (truth) => ({
      [`${PLOT_DATA} honours limit and offset`]: `volcano_plot_v2: limit 2 answered more rows ×${
        plotsOf(truth).probed.filter((p) => p.display?.display_type === 'volcano_plot_v2').length
      }`,
    }),
    'signed-url-csv': () => ({
      [`${PLOT_DATA} answers a page {count, headers, items}, not {url}`]:
        'a page ×4; {url}, fetched without the token: text/csv ×3',
    }),
    'signed-url-json': () => ({
      [`${PLOT_DATA} answers a page {count, headers, items}, not {url}`]:
        'a page ×4; {url}, fetched without the token: application/json ×3',
    }),
    'image-plot': () => ({
      [`${PLOT_DATA} answers a page {count, headers, items}, not {url}`]:
        'a page ×7; {url}, fetched without the token: image/png ×3',
    }),
    'shared-analysis': (truth) => ({
      'each analysis is shown by one plot': `${truth.exportable.length} of ${
        plotsOf(truth).listed.length - truth.exportable.length
      } analyses shown by several plots (2 plots ×${truth.exportable.length})`,
    }),
    'pending-analysis': (truth) => ({
      'plot analyses are complete, none pending': `pending ×${truth.exportable.length} of ${
        plotsOf(truth).listed.length
      } (their data is not read)`,
    }),
    'external-plot': () => ({
      [`${PLOT_DATA} has columns, the first one the row key`]: 'no columns: analysis type external ×3',
    }),
    'plot-data-without-count': () => ({
      [`${PLOT_DATA} pages carry count`]: 'no count on 14 of 14 pages',
    }),
    'analysis-detail-missing': (truth) => ({
      "analyses/{analysis}/ answers each plot's analysis": `analyses/{analysis}/: 404 {detail} ×${
        new Set(plotsOf(truth).probed.map((p) => p.analysis?.uuid)).size
      }`,
    }),
    'project-detail-refused': () => ({ 'lab/projects/{project}/ answers the project': '403 {detail}' }),
    'files-paged': (truth) => {
      const groups = filesOf(truth).map((files) => new Set(files.map((f) => f.dataType)).size);
      const short = filesOf(truth).map(
        (files) =>
          [...new Set(files.map((f) => f.dataType))].filter(
            (type) => files.filter((f) => f.dataType === type).length > 1,
          ).length,
      );
      return {
        'lab/experiments/{experiment}/files/ answers {<data type>: {count, items}}, every item at once': `fewer items than count in ${sum(short)} of ${sum(groups)} groups`,
      };
    },
    'download-more-columns': (truth) => {
      const de = plotsOf(truth).probed.filter((p) => p.analysis_type === 'differential_expression');
      return {
        [`${PLOT_DOWNLOAD} (CSV) has no more columns than ${PLOT_DATA}`]: `volcano_plot_v2: download ${
          DE_COLUMNS + DOWNLOAD_EXTRA_HEADERS.length
        } columns, data ${DE_COLUMNS} ×${de.length} (auto reads the download)`,
      };
    },
    'qc-report-signed-url': () => ({
      'lab/experiments/{experiment}/qc-report/ answers a file record {uuid, filename}, or 404':
        'qc-report/: {url} ×3',
    }),
    'files-without-size': (truth) => {
      const items = sum(filesOf(truth).map((files) => files.length));
      return { 'file items carry a size': `no size on ${items} of ${items} items` };
    },
  };

  it.each(SIMULATOR_VARIANTS)('%s makes its own assumption DIFFERENT and nothing else', async (variant) => {
    const { report, truth } = await probe({ variants: [variant] });
    expect(differing(report)).toEqual(expected[variant](truth));
    expect(report.checks.filter((c) => c.verdict === 'DIFFERENT')).toHaveLength(1);
  });

  it('unknown ids answered 404 (unknownIds not_found) make the error-body assumption DIFFERENT and nothing else', async () => {
    const { report } = await probe({ unknownIds: 'not_found' });
    expect(differing(report)).toEqual({
      'an unknown id answers 400 {code: invalid_object_id, message}': '404 {detail}',
    });
  });
});

describe('saved shapes', () => {
  it('keep the keys of Pluto objects, and of data only the sizes and types of rows', () => {
    expect(
      shapeOf({ pluto_id: 'PLX123456', plot_count: 2, owner: { first_name: 'Zoë' }, tags: ['a', 'b'] }),
    ).toEqual({
      object: {
        pluto_id: 'string',
        plot_count: 'number',
        owner: { object: { first_name: 'string' } },
        tags: { list: 2, of: ['string'] },
      },
    });
    const rows = {
      count: 9,
      headers: ['sample_id', 'Cell Type'],
      items: [{ sample_id: 'WT_1', 'Cell Type': 'HEK' }],
    };
    expect(shapeOf(rows, { dataPage: true })).toEqual({
      object: {
        count: 'number',
        headers: { list: 2, of: ['string'] },
        items: { list: 1, of: [{ row: 2, of: ['string'] }] },
      },
    });
    const columns = {
      headers: ['Gene_Symbol', 'P_Value'],
      items: [
        ['GAPDH', 'ACTB'],
        [0.1, null],
      ],
    };
    expect(shapeOf(columns, { dataPage: true })).toEqual({
      object: {
        headers: { list: 2, of: ['string'] },
        items: {
          list: 2,
          of: [
            { list: 2, of: ['string'] },
            { list: 2, of: ['number', 'null'] },
          ],
        },
      },
    });
    expect(JSON.stringify(shapeOf([{ Gene_Symbol: 'GAPDH', P_Value: 0.1 }], { dataPage: true }))).toBe(
      '{"list":1,"of":[{"row":2,"of":["string","number"]}]}',
    );
  });
});

describe('pluto-export probe', () => {
  let simulator: RunningSimulator;
  let folder: string;

  beforeAll(async () => {
    simulator = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION, variants: ['image-plot'] });
    folder = await mkdtemp(join(tmpdir(), 'pluto-probe-'));
  });
  afterAll(async () => {
    await simulator.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('prints the table, exits 1 for a DIFFERENT assumption, and saves shapes without ids, values or the token', async () => {
    const saved = join(folder, 'shapes.json');
    const result = await runCli(['probe', '--api-url', simulator.url, '--save', saved], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe(
      `projects: ${simulator.truth.projects.length}; experiments: ${simulator.truth.experiments.length} (1 refused)`,
    );
    expect(lines[1]).toBe('plots by display type: volcano_plot_v2 5, sample_scatter_plot 4, image 4');
    expect(lines.find((line) => line.includes('not {url}'))).toMatch(
      / a page ×7; \{url\}, fetched without the token: image\/png ×3 +DIFFERENT$/,
    );
    expect(lines).toContain(`${CHECKS.length} assumptions: ${CHECKS.length - 1} OK, 1 DIFFERENT, 0 NOT SEEN`);

    const text = await readFile(saved, 'utf8');
    const { truth } = simulator;
    const values = [
      truth.token,
      ...truth.experiments.map((e) => e.id),
      ...truth.projects.map((p) => p.id),
      ...truth.exportable.flatMap((e) => e.plots.map((p) => p.uuid)),
      String(truth.exportable[0]?.samples.row(0)[0]),
      'GAPDH',
      'Cell Type',
      String(truth.exportable[0]?.metadata.name),
    ];
    for (const value of values) expect(text, value).not.toContain(value);
    const json = JSON.parse(text) as ProbeReport & { api: string };
    expect(json.api).toBe(new URL(simulator.url).origin);
    expect(json.checks.filter((c) => c.verdict === 'DIFFERENT')).toHaveLength(1);
    const sampleData = json.requests.find(
      (r) => r.request === 'lab/experiments/{experiment}/sample-data/?limit=2&offset=0',
    );
    expect(sampleData).toMatchObject({ status: 200, contentType: 'application/json', times: 3 });
    expect(sampleData?.shape).toMatchObject({
      object: { count: 'number', headers: { list: 8, of: ['string'] }, items: { list: 2 } },
    });
  });

  it('exits 0 when every assumption holds', async () => {
    const clean = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION });
    try {
      const result = await runCli(['probe', '--api-url', clean.url], { PLUTO_API_TOKEN: clean.truth.token });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(
        `${CHECKS.length} assumptions: ${CHECKS.length} OK, 0 DIFFERENT, 0 NOT SEEN`,
      );
    } finally {
      await clean.close();
    }
  });

  it('says NOT SEEN for what an organisation without plots cannot show, and exits 0', async () => {
    const plotless = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION, plots: false });
    try {
      const result = await runCli(['probe', '--api-url', plotless.url], {
        PLUTO_API_TOKEN: plotless.truth.token,
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const lines = result.stdout.split('\n');
      expect(lines[1]).toBe('plots by display type: none');
      const notSeen = [
        [
          'lab/experiments/{experiment}/plots/ honours limit and offset',
          'no answer with two rows to compare',
        ],
        ['plots have uuid and the fields read', 'no plot listed'],
        [`${PLOT_DATA} answers a page {count, headers, items}, not {url}`, 'no plot to ask for'],
        [`${PLOT_DATA} pages carry count`, 'no plot data page'],
        [`${PLOT_DATA} honours limit and offset`, 'no answer with two rows to compare'],
        [`${PLOT_DATA} items are row objects; column arrays for volcano_plot_v2`, 'no plot data with rows'],
        [`${PLOT_DOWNLOAD} (CSV) has no more columns than ${PLOT_DATA}`, 'no plot with a CSV download'],
        [`${PLOT_DATA} has columns, the first one the row key`, 'no plot data page'],
        ['plot analyses are complete, none pending', 'no plot listed'],
        ['each analysis is shown by one plot', 'no plot names its analysis'],
        ["analyses/{analysis}/ answers each plot's analysis", 'no plot names its analysis'],
      ];
      expect(lines.filter((line) => / {2}NOT SEEN$/.test(line))).toEqual(
        notSeen.map(([assumption, seen]) =>
          expect.stringMatching(new RegExp(`^${escapeRegExp(assumption ?? '')} +${seen} +NOT SEEN$`)),
        ),
      );
      expect(lines).toContain(
        `${CHECKS.length} assumptions: ${CHECKS.length - notSeen.length} OK, 0 DIFFERENT, ${notSeen.length} NOT SEEN`,
      );
    } finally {
      await plotless.close();
    }
  });

  it('exits 2 with one line for an experiment Pluto does not list, no Pluto at --api-url, and no token', async () => {
    const unknown = await runCli(['probe', '--api-url', simulator.url, '--experiments', 'PLX999999'], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'pluto-export: Pluto lists no experiment PLX999999 for this token: check --experiments\n',
    );
    const nothing = await runCli(['probe', '--api-url', 'http://127.0.0.1:1/'], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(
      /^pluto-export: Cannot reach Pluto at http:\/\/127\.0\.0\.1:1\/ .*: check --api-url\n$/,
    );
    const noToken = await runCli(['probe', '--api-url', simulator.url]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toBe(
      'pluto-export: PLUTO_API_TOKEN is not set: export your Pluto API key as PLUTO_API_TOKEN\n',
    );
  });
});
