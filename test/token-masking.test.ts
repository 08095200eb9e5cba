/**
 * The second line of defence: the token reaches the export by paths the entry refusal never sees
 * (an error message, a record built from the command line, a cell handed over after the body was
 * checked), and still no file of the lake and no line of output holds it.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLE_NAMES, TABLES } from '../functions/core/contract.js';
import { PlutoBadRequestError } from '../functions/core/errors.js';
import { commitRecordKey, manifestKey, planKey, reportKey } from '../functions/core/layout.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import type { DataPage, DatasetRef } from '../functions/core/pluto/model.js';
import type { PlutoApi } from '../functions/core/ports.js';
import { REDACTED } from '../functions/core/secrets.js';
import type { FinalizeOutput } from '../functions/core/workflow/messages.js';
import { runLocalExport } from '../functions/local/local-export.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';
import {
  FAST_SETTINGS,
  type FolderLake,
  newLake,
  SMALL_ORGANISATION,
  stepRecorder,
} from './support/fault-harness.js';
import { readFiles } from './support/lake-files.js';
import { queryLake } from './support/lake-query.js';
import { fixedSecret } from './support/secrets.js';

const TOKEN = 'Hq4xW2nLp9Rt7Vb3Kd8Mf6Jc1Zs5Ya0Ge2Ui4Oo7';

let simulator: RunningSimulator;
const lakes: FolderLake[] = [];

beforeAll(async () => {
  expect(TOKEN).toMatch(/^[A-Za-z0-9]{40}$/);
  simulator = await startSimulator({ seed: 41, ...SMALL_ORGANISATION, token: TOKEN });
});

afterAll(async () => {
  await simulator.close();
  await Promise.all(lakes.map((lake) => rm(lake.root, { recursive: true, force: true })));
});

async function lake(name: string): Promise<FolderLake> {
  const made = await newLake(name);
  lakes.push(made);
  return made;
}

/** Every file of the lake whose bytes hold `text`, by path. */
async function filesHolding(root: string, text: string): Promise<string[]> {
  const files = await readFiles(root);
  return [...files].filter(([, body]) => body.includes(text)).map(([path]) => path);
}

/** `table.column` for every string cell of the lake that holds `text`, with how many. */
async function cellsHolding(root: string, text: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const table of TABLE_NAMES) {
    for (const column of TABLES[table].columns.filter((c) => c.type === 'string')) {
      const [row] = await queryLake(
        root,
        `select count(*)::INTEGER as n from "${table}" where contains("${column.name}", '${text}')`,
      );
      if (Number(row?.n) > 0) found[`${table}.${column.name}`] = Number(row?.n);
    }
  }
  return found;
}

describe('the token planted past the entry refusal', () => {
  const idOf = (i: number) => () => simulator.truth.exportable[i]?.id as string;
  const [failing, planted, described] = [idOf(0), idOf(1), idOf(2)];
  let target: FolderLake;
  let output: FinalizeOutput;
  const recorder = stepRecorder();
  const events: unknown[] = [];

  /** The real client, with the token slipped in where nothing checks any more. */
  function planting(pluto: PlutoApi): PlutoApi {
    return {
      listProjects: () => pluto.listProjects(),
      getProject: (projectId) => pluto.getProject(projectId),
      listProjectExperiments: (projectId) => pluto.listProjectExperiments(projectId),
      listExperiments: () => pluto.listExperiments(),
      listPlots: (experimentId) => pluto.listPlots(experimentId),
      getAnalysis: (analysisId) => pluto.getAnalysis(analysisId),
      listFiles: (experimentId) => pluto.listFiles(experimentId),
      getDownloadHeaders: (dataset) => pluto.getDownloadHeaders(dataset),
      getQcReport: (experimentId) => pluto.getQcReport(experimentId),
      downloadFile: (experimentId, fileId, limits) => pluto.downloadFile(experimentId, fileId, limits),
      async getExperiment(experimentId) {
        if (experimentId === failing()) {
          throw new PlutoBadRequestError(
            `Pluto answered 400 for lab/experiments/${experimentId}/: ${TOKEN}`,
            {
              detail: `Token ${TOKEN} may not read this experiment`,
              code: 'bad_request',
              details: JSON.stringify({ token: TOKEN }),
            },
          );
        }
        const experiment = await pluto.getExperiment(experimentId);
        return experimentId === described()
          ? { ...experiment, description: `shared by ${TOKEN}` }
          : experiment;
      },
      async getDataPage(dataset: DatasetRef, offset: number, limit: number): Promise<DataPage> {
        if (dataset.kind === 'results' && dataset.experimentId === described()) {
          throw new PlutoBadRequestError(`Pluto answered 400 for the plot ${dataset.plotId}`, {
            detail: `Token ${TOKEN} may not read this plot`,
            code: 'bad_request',
            details: JSON.stringify({ token: TOKEN }),
          });
        }
        const page = await pluto.getDataPage(dataset, offset, limit);
        if (dataset.kind !== 'samples' || dataset.experimentId !== planted() || offset !== 0) return page;
        const [first, second, ...rest] = page.columns;
        return { ...page, columns: [first ?? [], [`note ${TOKEN}`, ...(second ?? []).slice(1)], ...rest] };
      },
    };
  }

  beforeAll(async () => {
    target = await lake('masking');
    output = await runLocalExport({
      input: { runId: 'run-1' },
      store: target.store,
      catalog: target.catalog,
      pluto: planting(
        createPlutoClient({
          baseUrl: simulator.url,
          secrets: fixedSecret(TOKEN),
          version: 'test',
          sleep: async () => undefined,
        }),
      ),
      settings: FAST_SETTINGS,
      experimentConcurrency: 2,
      slotConcurrency: 2,
      retryDelayScale: 0,
      interceptStep: recorder.intercept,
      progress: {
        experimentFinished: (e) => void events.push(e),
        partWritten: (e) => void events.push(e),
      },
    });
  });

  it('still exports: the failing experiment is recorded failed, the one with failing plots partial', () => {
    expect(output.status).toBe('committed');
    expect(output.experiments).toEqual({
      exported: SMALL_ORGANISATION.experiments - 3,
      partial: 1,
      unchanged: 0,
      skipped: 1,
      failed: 1,
    });
  });

  it('reads [redacted] in the cells, records and report where it was planted', async () => {
    const log = await queryLake(
      target.root,
      `select experiment_id, status, error_code, error_detail, error_details from export_log
       where error_code is not null and status = 'failed' order by experiment_id, dataset`,
    );
    const plots = simulator.truth.exportable[2]?.plots ?? [];
    expect(log).toEqual(
      [
        {
          experiment_id: failing(),
          status: 'failed',
          error_code: 'PlutoBadRequestError',
          error_detail: `Pluto answered 400 for lab/experiments/${failing()}/: ${REDACTED}`,
          error_details: null,
        },
        ...plots.map(() => ({
          experiment_id: described(),
          status: 'failed',
          error_code: 'bad_request',
          error_detail: `Token ${REDACTED} may not read this plot`,
          error_details: `{"token":"${REDACTED}"}`,
        })),
      ].sort((a, b) => a.experiment_id.localeCompare(b.experiment_id)),
    );
    expect(plots.length).toBeGreaterThan(0);
    const cells = await queryLake(
      target.root,
      `select value from samples where experiment_id = '${planted()}' and contains(value, 'redacted')`,
    );
    expect(cells).toEqual([{ value: `note ${REDACTED}` }]);
    const [experiment] = await queryLake(
      target.root,
      `select raw_json from experiments where experiment_id = '${described()}'`,
    );
    expect(JSON.parse(String(experiment?.raw_json)).description).toBe(`shared by ${REDACTED}`);
    expect(await cellsHolding(target.root, REDACTED)).toEqual({
      'experiments.description': 1,
      'experiments.raw_json': 1,
      'samples.value': 1,
      'export_log.error_detail': 1 + plots.length,
      'export_log.error_details': plots.length,
    });
    // report.md holds Markdown, where the brackets are escaped.
    const records = (await filesHolding(target.root, 'redacted')).filter((path) => path.startsWith('runs/'));
    expect(records.sort()).toEqual(
      [
        commitRecordKey('run-1', described()),
        commitRecordKey('run-1', failing()),
        manifestKey('run-1'),
        planKey('run-1', described()),
        reportKey('run-1'),
      ].sort(),
    );
  });

  it('is in no cell, no file, no step payload or error and no progress event', async () => {
    expect(await cellsHolding(target.root, TOKEN)).toEqual({});
    expect(await filesHolding(target.root, TOKEN)).toEqual([]);
    const payloads = recorder.calls.map((call) =>
      JSON.stringify([
        call.input,
        call.output ?? null,
        call.error?.message ?? null,
        call.error?.stack ?? null,
      ]),
    );
    expect(payloads.filter((text) => text.includes(REDACTED)).length).toBeGreaterThan(0);
    expect(payloads.filter((text) => text.includes(TOKEN))).toEqual([]);
    expect(JSON.stringify(events)).not.toContain(TOKEN);
  });
});

describe('the token given where an option expects something else', () => {
  const exportCli = (out: string, apiUrl: string, ...more: string[]) =>
    runCli(['export', '--api-url', apiUrl, '--out', out, ...more], { PLUTO_API_TOKEN: TOKEN });

  it('pasted as an experiment id: exit 2 naming the id as [redacted]', async () => {
    const target = await lake('masking-id');
    const result = await exportCli(target.root, simulator.url, '--experiments', TOKEN);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(REDACTED);
    expect(`${result.stdout}${result.stderr}`).not.toContain(TOKEN);
    expect(await filesHolding(target.root, TOKEN)).toEqual([]);
  });

  it('pasted into the API URL: exit 2 naming the URL with [redacted]', async () => {
    const target = await lake('masking-url');
    const result = await exportCli(target.root, `http://127.0.0.1:9/${TOKEN}/`);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`http://127.0.0.1:9/${REDACTED}/`);
    expect(`${result.stdout}${result.stderr}`).not.toContain(TOKEN);
    expect(await filesHolding(target.root, TOKEN)).toEqual([]);
  });

  it('as a folder name of the lake: the run commits, its summary and `runs` show [redacted]', async () => {
    const parent = await lake('masking-out');
    const out = `${parent.root}/${TOKEN}`;
    const result = await exportCli(out, simulator.url, '--concurrency', '2');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`committed .* -> .*/\\${REDACTED.slice(0, -1)}\\]\n$`));
    expect(`${result.stdout}${result.stderr}`).not.toContain(TOKEN);
    const runs = await runCli(['runs', '--lake', out], { PLUTO_API_TOKEN: TOKEN });
    expect(runs.code).toBe(0);
    expect(`${runs.stdout}${runs.stderr}`).not.toContain(TOKEN);
    expect(await filesHolding(parent.root, TOKEN)).toEqual([]);
  });
});
