/**
 * Where a plot's results come from: the data pages or the complete CSV download. With variant
 * `download-more-columns` the download of each differential expression plot holds two columns
 * more; `auto` (the default) exports them, `--results-source data` keeps the data page columns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExportConfig } from '../functions/cli/export-command.js';
import { createFaultPlan, type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { DOWNLOAD_EXTRA_HEADERS } from '../functions/simulator/world.js';
import { runCli } from './support/cli.js';
import { exportWith, type FolderLake, lakeRegistry, SMALL_ORGANISATION } from './support/fault-harness.js';
import { queryLake } from './support/lake-query.js';

const SEED = 47;
const { lake, removeAll } = lakeRegistry();
let simulator: RunningSimulator;
let auto: FolderLake;
let dataOnly: FolderLake;
let autoRequests: Readonly<Record<string, number>>;
let dataRequests: Readonly<Record<string, number>>;

const deDownloads = () =>
  simulator.truth.exportable.flatMap((e) =>
    e.plots
      .filter((plot) => plot.analysis_type === 'differential_expression')
      .map((plot) => ({
        plotId: plot.uuid,
        truth: e.downloads.get(plot.uuid),
        data: e.results.get(plot.uuid),
      })),
  );

const columnsByPlot = async (root: string) =>
  Object.fromEntries(
    (
      await queryLake(
        root,
        `select plot_id, string_agg(distinct column_name, ',' order by column_name) as columns
         from results group by plot_id`,
      )
    ).map((row) => [row.plot_id, String(row.columns).split(',')]),
  );

const sorted = (names: readonly string[]) => [...names].sort();

beforeAll(async () => {
  simulator = await startSimulator({
    seed: SEED,
    ...SMALL_ORGANISATION,
    variants: ['download-more-columns'],
  });
  auto = await lake('auto');
  expect(await exportWith({ simulator, ...auto, runId: 'run-1' })).toMatchObject({
    status: 'committed',
    experiments: { partial: 0, failed: 0 },
  });
  autoRequests = { ...simulator.requests.byEndpoint };
  simulator.requests.reset();
  dataOnly = await lake('data');
  const result = await runCli(
    ['export', '--api-url', simulator.url, '--out', dataOnly.root, '--results-source', 'data'],
    { PLUTO_API_TOKEN: simulator.truth.token },
  );
  expect(result.code, result.stderr).toBe(0);
  dataRequests = { ...simulator.requests.byEndpoint };
});

afterAll(async () => {
  await simulator.close();
  await removeAll();
});

describe('--results-source', () => {
  it('auto: a differential expression plot whose download has more columns is exported from it, every cell as the simulator served it', async () => {
    const plots = deDownloads();
    expect(plots).toHaveLength(simulator.truth.exportable.length);
    const columns = await columnsByPlot(auto.root);
    for (const { plotId, truth } of plots) {
      expect(truth?.headers.slice(-DOWNLOAD_EXTRA_HEADERS.length)).toEqual(DOWNLOAD_EXTRA_HEADERS);
      expect(columns[plotId]).toEqual(sorted(truth?.headers.slice(1) ?? []));
      const extra = await queryLake(
        auto.root,
        `select feature_id, column_name, value from results
         where plot_id = '${plotId}' and column_name in ('Log2_Fold_Change_SE', 'Stat')
         order by feature_id, column_name`,
      );
      const expected = [];
      for (let r = 0; r < (truth?.rowCount ?? 0); r++) {
        const row = truth?.row(r) ?? [];
        for (const [i, name] of DOWNLOAD_EXTRA_HEADERS.entries()) {
          expected.push({ feature_id: row[0], column_name: name, value: row[row.length - 2 + i] });
        }
      }
      expected.sort((a, b) =>
        String(a.feature_id) === String(b.feature_id)
          ? a.column_name.localeCompare(b.column_name)
          : String(a.feature_id) < String(b.feature_id)
            ? -1
            : 1,
      );
      expect(extra).toHaveLength(2 * (truth?.rowCount ?? 0));
      expect(extra).toEqual(expected);
    }
    // Planning asks each plot for its download and reads its header line once; a wider download
    // is then read whole twice, to plan its slot and in that slot, which does not choose again.
    const plotCount = simulator.truth.exportable.reduce((sum, e) => sum + e.plots.length, 0);
    expect(autoRequests['plot-download']).toBe(plotCount + 2 * plots.length);
    expect(autoRequests['signed-download']).toBe(plotCount + 2 * plots.length);
  });

  it('auto: the columns the data pages also hold are the same cells whichever source was read', async () => {
    const shared = (root: string) =>
      queryLake(
        root,
        `select plot_id, feature_id, column_name, value, value_text from results
         where column_name not in ('Log2_Fold_Change_SE', 'Stat')
         order by plot_id, feature_id, column_name`,
      );
    const fromData = await shared(dataOnly.root);
    expect(fromData.length).toBeGreaterThan(0);
    expect(await shared(auto.root)).toEqual(fromData);
  });

  it('data (from the command line): every plot keeps the columns of its data pages, and no download is asked for', async () => {
    const columns = await columnsByPlot(dataOnly.root);
    for (const { plotId, data } of deDownloads()) {
      expect(columns[plotId]).toEqual(sorted(data?.headers.slice(1) ?? []));
      expect(columns[plotId]).not.toContain('Stat');
    }
    expect(dataRequests['plot-data']).toBeGreaterThan(0);
    expect(dataRequests['plot-download']).toBeUndefined();
    expect(dataRequests['signed-download']).toBeUndefined();
  });

  it('auto: a plot whose download answers 404 keeps its data pages, and the experiment exports', async () => {
    const plan = createFaultPlan([
      { endpoints: ['plot-download'], fault: { kind: 'refused', status: 404, detail: 'Not found.' } },
    ]);
    const refusing = await startSimulator({
      seed: SEED,
      ...SMALL_ORGANISATION,
      variants: ['download-more-columns'],
      faults: plan.hook,
    });
    try {
      const target = await lake('refused');
      const output = await exportWith({ simulator: refusing, ...target, runId: 'run-1' });
      expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
      expect(plan.count('refused')).toBe(refusing.requests.byEndpoint['plot-download']);
      expect(refusing.requests.byEndpoint['signed-download']).toBeUndefined();
      const all = `select plot_id, feature_id, column_name, value, value_text from results
                   order by plot_id, feature_id, column_name`;
      expect(await queryLake(target.root, all)).toEqual(await queryLake(dataOnly.root, all));
    } finally {
      await refusing.close();
    }
  });

  it('an unknown source is one line naming the option and the choices', () => {
    expect(() => parseExportConfig({ 'results-source': 'csv' })).toThrow(
      '--results-source: Invalid option: expected one of "auto"|"data"|"download"',
    );
    expect(parseExportConfig({}).resultsSource).toBe('auto');
  });

  it('download: every plot is read from its download alone, and equals the data pages where they hold the same columns', async () => {
    const plain = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION });
    try {
      const forced = await lake('download');
      const output = await exportWith({
        simulator: plain,
        ...forced,
        runId: 'run-1',
        settings: { resultsSource: 'download' },
      });
      expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
      expect(plain.requests.byEndpoint['plot-data']).toBeUndefined();
      const plots = plain.truth.exportable.reduce((sum, e) => sum + e.plots.length, 0);
      // Twice per plot: once to plan it, once by its one slot.
      expect(plain.requests.byEndpoint['signed-download']).toBe(2 * plots);
      const all = `select plot_id, feature_id, column_name, value, value_text from results
                   order by plot_id, feature_id, column_name`;
      const fromDownload = await queryLake(forced.root, all);
      const plainData = await lake('plain-data');
      await exportWith({
        simulator: plain,
        ...plainData,
        runId: 'run-1',
        settings: { resultsSource: 'data' },
      });
      expect(fromDownload).toEqual(await queryLake(plainData.root, all));
    } finally {
      await plain.close();
    }
  });

  it('auto: a plot whose data changed chooses again; the other plots keep their choice without asking the download', async () => {
    const running = await startSimulator({
      seed: SEED,
      ...SMALL_ORGANISATION,
      variants: ['download-more-columns'],
    });
    try {
      const target = await lake('changed');
      await exportWith({ simulator: running, ...target, runId: 'run-1' });
      const changed = running.truth.exportable.find((e) =>
        e.plots.some((plot) => plot.analysis_type === 'differential_expression'),
      );
      const plot = changed?.plots.find((p) => p.analysis_type === 'differential_expression');
      if (changed === undefined || plot === undefined) throw new Error('no differential expression plot');
      running.truth.setCell(changed.id, plot.uuid, 0, 1, 4242.5);
      running.requests.reset();
      const output = await exportWith({ simulator: running, ...target, runId: 'run-2' });
      expect(output).toMatchObject({
        status: 'committed',
        experiments: { exported: 1, unchanged: running.truth.exportable.length - 1 },
      });
      const wider = changed.plots.filter((p) => p.analysis_type === 'differential_expression').length;
      const downloads = running.requests.recent.filter((r) => r.endpoint === 'plot-download');
      expect(downloads.every((r) => r.path.startsWith(`lab/experiments/${changed.id}/`))).toBe(true);
      // The changed plot's header line; then every wider download of the exported experiment,
      // read whole to plan its slot and in that slot.
      expect(downloads.filter((r) => r.path.includes(plot.uuid))).toHaveLength(3);
      expect(downloads).toHaveLength(1 + 2 * wider);
      const [cell] = await queryLake(
        target.root,
        `select value, (select count(distinct column_name) from results where plot_id = '${plot.uuid}') as columns
         from results where plot_id = '${plot.uuid}' and row_number = 0
         and column_name = '${changed.downloads.get(plot.uuid)?.headers[1]}'`,
      );
      expect(cell).toEqual({
        value: 4242.5,
        columns: (changed.downloads.get(plot.uuid)?.headers.length ?? 0) - 1,
      });
    } finally {
      await running.close();
    }
  });
});
