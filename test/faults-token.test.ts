/**
 * A revoked token ends the run at once with one line naming the secret; nothing is published and
 * the same run id resumes with the parts already written. And the token, whatever the faults,
 * appears nowhere: not in output, errors, state payloads, records or any file of the lake.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPERIMENT_TABLES } from '../functions/core/contract.js';
import { readManifest } from '../functions/core/history.js';
import type { Catalog } from '../functions/core/ports.js';
import {
  createFaultPlan,
  DATA_ENDPOINTS,
  type FaultPlan,
  type FaultRule,
  type RunningSimulator,
  startSimulator,
} from '../functions/simulator/index.js';
import { type CliResult, runCli } from './support/cli.js';
import {
  exportWith,
  type FolderLake,
  lakeDigest,
  newLake,
  SMALL_ORGANISATION,
  type StepCall,
  stepRecorder,
} from './support/fault-harness.js';
import { snapshotFiles } from './support/lake-files.js';
import { queryLake } from './support/lake-query.js';

const TOKEN = 'NqVwYS81VP7Hb1DX8pPd5khxE3pyIgKpaUnArl63';
/** What the command line uses with `--rows-per-part 300 --concurrency 1`, so plans and slots match it. */
const CLI_LIKE = { settings: { rowsPerPart: 300, pageSize: 10_000 }, concurrency: 1 } as const;
const REVOKED_AFTER_SLOT_PAGES = 2;

let simulator: RunningSimulator;
let plan: FaultPlan | undefined;
let lake: FolderLake;
let cli: CliResult;
const lakes: FolderLake[] = [];

function inject(rules: readonly FaultRule[]): FaultPlan {
  plan = createFaultPlan(rules);
  return plan;
}

/** Data requests of ExportSlot (the planner's probes ask for one row). */
const slotPages = () =>
  simulator.requests.recent.filter(
    (r) => DATA_ENDPOINTS.includes(r.endpoint) && Number(new URLSearchParams(r.query).get('limit')) > 1,
  );

/** Runs the experiment tables point at (a project's row stays with the run that last saw it change). */
async function pointerRuns(catalog: Catalog): Promise<Set<string>> {
  const runs = new Set<string>();
  for (const table of EXPERIMENT_TABLES) {
    for (const pointer of await catalog.listPartitions(table)) runs.add(pointer.runId);
  }
  return runs;
}

let cleanSlotPages = 0;

beforeAll(async () => {
  expect(TOKEN).toMatch(/^[A-Za-z0-9]{40}$/);
  simulator = await startSimulator({
    seed: 31,
    ...SMALL_ORGANISATION,
    token: TOKEN,
    faults: (r) => plan?.hook(r),
  });
  lake = await newLake('revoked');
  lakes.push(lake);
  simulator.requests.reset();
  expect((await exportWith({ simulator, ...lake, runId: 'run-0', ...CLI_LIKE })).status).toBe('committed');
  cleanSlotPages = slotPages().length;

  inject([
    {
      fault: { kind: 'token-revoked' },
      after: { count: REVOKED_AFTER_SLOT_PAGES, of: { endpoints: DATA_ENDPOINTS, minLimit: 2 } },
    },
  ]);
  cli = await runCli(
    [
      'export',
      '--api-url',
      simulator.url,
      '--out',
      lake.root,
      '--run-id',
      'run-401',
      '--full',
      '--concurrency',
      '1',
      '--rows-per-part',
      '300',
    ],
    { PLUTO_API_TOKEN: TOKEN },
  );
});

afterAll(async () => {
  await simulator?.close();
  for (const { root } of lakes) await rm(root, { recursive: true, force: true });
});

describe('a token revoked mid-run', () => {
  it('stops the run at once with one line naming PLUTO_API_TOKEN, and exits 1', () => {
    expect(cli.code, cli.stderr).toBe(1);
    const lines = `${cli.stdout}${cli.stderr}`.trim().split('\n');
    const naming = lines.filter((line) => line.includes('PLUTO_API_TOKEN'));
    expect(naming).toHaveLength(1);
    expect(naming[0]).toMatch(
      /^pluto-export: Pluto rejected the API token \(.*Invalid token\..*\): set PLUTO_API_TOKEN/,
    );
    expect(cli.stderr.trim().split('\n').at(-1)).toBe(naming[0]);
    // The refused request and its one retry after re-reading the token; nothing after it.
    expect(plan?.count('token-revoked')).toBe(2);
  });

  it('publishes nothing: every pointer stays on the previous run; the run is on record as failed', async () => {
    expect(await pointerRuns(lake.catalog)).toEqual(new Set(['run-0']));
    const manifest = await readManifest(lake.store, 'run-401');
    expect(manifest).toMatchObject({
      status: 'failed',
      error: { name: 'PlutoAuthError' },
      counts: { exported: 0, partial: 0, unchanged: 0, skipped: 0, failed: 0 },
      exportLog: { rows: 0 },
    });
  });

  it('resumes under the same run id once the token is good, reusing the parts already written', async () => {
    plan?.stop();
    const written = Object.entries(await snapshotFiles(lake.root)).filter(
      // The run's own export_log is rewritten when the resumed run ends; data parts are reused.
      ([path]) =>
        path.includes('run_id=run-401') && path.endsWith('.parquet') && !path.includes('export_log'),
    );
    expect(written.length).toBeGreaterThanOrEqual(REVOKED_AFTER_SLOT_PAGES);
    simulator.requests.reset();
    const output = await exportWith({ simulator, ...lake, runId: 'run-401', full: true, ...CLI_LIKE });
    expect(output.status).toBe('committed');
    expect(slotPages()).toHaveLength(cleanSlotPages - REVOKED_AFTER_SLOT_PAGES);
    const after = await snapshotFiles(lake.root);
    for (const [path, hash] of written) expect(after[path]).toBe(hash);
    expect(await pointerRuns(lake.catalog)).toEqual(new Set(['run-401']));
    expect(await lake.store.list('runs/run-401/failures/')).toEqual([]);
    const { export_log: _log, ...tables } = await lakeDigest(lake.root);
    const reference = await newLake('revoked-reference');
    lakes.push(reference);
    await exportWith({ simulator, ...reference, runId: 'run-0', ...CLI_LIKE });
    const { export_log: _referenceLog, ...referenceTables } = await lakeDigest(reference.root);
    expect(tables).toEqual(referenceTables);
  });
});

describe('the token', () => {
  it('appears in no output, error, state payload, record or file of the lake', async () => {
    const target = await newLake('token-scan');
    lakes.push(target);
    const plot = simulator.truth.exportable[1]?.plots[0];
    if (plot === undefined) throw new Error('need a plot');
    const echoes: FaultRule[] = [
      {
        fault: { kind: 'server-error', status: 502, echoAuthorization: true },
        endpoints: ['plots'],
        at: [1],
      },
      {
        fault: { kind: 'refused', status: 403, detail: 'Plot not shared', echoAuthorization: true },
        plotId: plot.uuid,
      },
    ];
    const recorder = stepRecorder();
    const events: unknown[] = [];
    const progress = {
      runPlanned: (e: unknown) => void events.push(e),
      experimentPlanned: (e: unknown) => void events.push(e),
      slotExported: (e: unknown) => void events.push(e),
      experimentFinished: (e: unknown) => void events.push(e),
      partWritten: (e: unknown) => void events.push(e),
    };
    const thrown: unknown[] = [];
    const revoking = inject([...echoes, { fault: { kind: 'token-revoked' }, after: { count: 25 } }]);
    await exportWith({
      simulator,
      ...target,
      runId: 'run-1',
      interceptStep: recorder.intercept,
      progress,
    }).catch((error: unknown) => void thrown.push(error));
    expect(thrown).toHaveLength(1);
    expect(revoking.count('token-revoked')).toBeGreaterThan(0);
    inject(echoes);
    const output = await exportWith({
      simulator,
      ...target,
      runId: 'run-1',
      interceptStep: recorder.intercept,
      progress,
    });
    expect(output.status).toBe('committed');
    expect(plan?.count('refused')).toBeGreaterThan(0);

    const [masked] = await queryLake(
      target.root,
      `select error_detail from export_log where dataset = 'plot-${plot.uuid}'`,
    );
    expect(masked?.error_detail).toBe('Plot not shared (Token [redacted])');

    const texts: [string, string][] = [
      ['command line output', cli.stdout + cli.stderr],
      ['progress events', JSON.stringify(events)],
      ...recorder.calls.map((call): [string, string] => [`${call.step} payloads`, payloadText(call)]),
      ...thrown.map((error): [string, string] => ['run error', errorText(error)]),
    ];
    for (const root of [lake.root, target.root]) texts.push(...(await lakeTexts(root)));
    expect(recorder.calls.length).toBeGreaterThan(40);
    expect(texts.filter(([, text]) => text.includes('[redacted]')).length).toBeGreaterThan(0);
    const leaks = texts.filter(([, text]) => text.includes(TOKEN)).map(([where]) => where);
    expect(leaks).toEqual([]);
  });
});

function payloadText(call: StepCall): string {
  return JSON.stringify(call.input) + JSON.stringify(call.output ?? null) + errorText(call.error);
}

function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 5; depth++) {
    if (!(e instanceof Error)) {
      parts.push(String(e));
      break;
    }
    parts.push(e.name, e.message, e.stack ?? '', JSON.stringify(e));
    e = e.cause;
  }
  return parts.join('\n');
}

/** Every file's bytes as text, and every Parquet file's decoded rows (compression hides raw bytes). */
async function lakeTexts(root: string): Promise<[string, string][]> {
  const files = (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  const texts: [string, string][] = [];
  const duckdb = await DuckDBInstance.create(':memory:');
  const connection = await duckdb.connect();
  try {
    for (const file of files) {
      texts.push([file, (await readFile(file)).toString('latin1')]);
      if (!file.endsWith('.parquet')) continue;
      const reader = await connection.runAndReadAll(
        `select * from read_parquet('${file.replaceAll("'", "''")}')`,
      );
      texts.push([`${file} rows`, JSON.stringify(reader.getRowObjectsJson())]);
    }
  } finally {
    connection.closeSync();
    duckdb.closeSync();
  }
  expect(files.filter((file) => file.endsWith('.parquet')).length).toBeGreaterThan(20);
  return texts;
}
