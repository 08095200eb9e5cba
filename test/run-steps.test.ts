/**
 * The run-level steps called directly on a local lake (a real FolderStore and StoreCatalog in a
 * temporary folder) with Pluto's listings in memory: StartRun, FinalizeRun,
 * RecordExperimentFailure, the run-abort path and the run report. Each case builds its own lake.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { AccessDeniedError, ConfigError, PlutoAuthError } from '../functions/core/errors.js';
import { readManifest } from '../functions/core/history.js';
import { ID_RULE } from '../functions/core/ids.js';
import {
  abortKey,
  commitRecordKey,
  itemsKey,
  rejectedItemsKey,
  reportKey,
  slotFailureKey,
  slotFailurePrefix,
} from '../functions/core/layout.js';
import { readLease } from '../functions/core/lease.js';
import { parquetRowCount } from '../functions/core/parquet.js';
import type { PlutoApi } from '../functions/core/ports.js';
import {
  type CommitRecord,
  commitRecordSchema,
  encodeJson,
  errorInfoSchema,
  type Manifest,
  readJson,
  rejectedItemSchema,
} from '../functions/core/records.js';
import { exportSettings } from '../functions/core/settings.js';
import type { ProgressListener, StepDeps } from '../functions/core/workflow/deps.js';
import { finalizeRun } from '../functions/core/workflow/finalize-run.js';
import { experimentItemSchema, type StartRunOutput } from '../functions/core/workflow/messages.js';
import { recordExperimentFailure } from '../functions/core/workflow/record-experiment-failure.js';
import { renderRunReport } from '../functions/core/workflow/report.js';
import { endIfRunAborted, failIfRunAborted, recordRunAbort } from '../functions/core/workflow/run-abort.js';
import { startRun } from '../functions/core/workflow/start-run.js';
import { type MemoryLab, memoryPluto } from './support/memory-pluto.js';

const NOW = '2026-03-01T10:00:00.000Z';
const EXECUTION = 'exec-1';
const LAB: MemoryLab = {
  projects: { P1: ['PLX1', 'PLX2'], P2: ['PLX2', 'PLX3'] },
  unfiled: ['PLX9'],
  forbidden: ['PLX9'],
};

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

interface Events {
  readonly finishedExperiments: { experimentId: string; status: string }[];
  readonly finishedRuns: Parameters<NonNullable<ProgressListener['runFinished']>>[0][];
}

/** A fresh lake in its own folder, the given Pluto, a fixed clock and the default settings. */
function localLake(pluto: PlutoApi = memoryPluto(LAB)): { deps: StepDeps; events: Events } {
  const root = mkdtempSync(join(tmpdir(), 'run-steps-'));
  roots.push(root);
  const store = new FolderStore(root);
  const events: Events = { finishedExperiments: [], finishedRuns: [] };
  const deps: StepDeps = {
    store,
    catalog: new StoreCatalog(store),
    pluto,
    clock: { now: () => new Date(NOW) },
    settings: exportSettings(),
    progress: {
      experimentFinished: ({ experimentId, status }) =>
        events.finishedExperiments.push({ experimentId, status }),
      runFinished: (info) => events.finishedRuns.push(info),
    },
  };
  return { deps, events };
}

const start = (deps: StepDeps, runId = 'run-1', execution = EXECUTION, filters = {}) =>
  startRun({ run: { runId, ...filters }, execution }, deps);

function record(experimentId: string, status: CommitRecord['status'], extra: Partial<CommitRecord> = {}) {
  return commitRecordSchema.parse({
    runId: 'run-1',
    experimentId,
    projectId: 'P1',
    status,
    startedAt: NOW,
    finishedAt: NOW,
    datasets: [],
    ...extra,
  });
}

/** Step Functions' Cause of a Lambda error: the error's JSON as Lambda reports it. */
const lambdaCause = (errorType: string, errorMessage: string, detail?: string) =>
  JSON.stringify({ errorType, errorMessage, ...(detail === undefined ? {} : { detail }) });

describe('StartRun', () => {
  it('lists every experiment once with its first project, writes the item list and takes the lease', async () => {
    const { deps } = localLake();
    const output = await start(deps);
    expect(output).toEqual({
      runId: 'run-1',
      execution: EXECUTION,
      itemsKey: itemsKey('run-1'),
      full: false,
      missingExperiments: 'keep',
      listedAll: true,
      status: 'started',
      experimentCount: 4,
      startedAt: NOW,
    });
    expect(await readJson(deps.store, itemsKey('run-1'), experimentItemSchema.array())).toEqual([
      { experimentId: 'PLX1', projectId: 'P1' },
      { experimentId: 'PLX2', projectId: 'P1' },
      { experimentId: 'PLX3', projectId: 'P2' },
      { experimentId: 'PLX9', projectId: null },
    ]);
    expect(await readLease(deps.store)).toMatchObject({ runId: 'run-1', holder: { execution: EXECUTION } });
  });

  it('names every id Pluto does not know and writes nothing, not even the lease', async () => {
    const { deps } = localLake();
    const failure = start(deps, 'run-1', EXECUTION, {
      experimentIds: ['PLX1', 'PLX9', 'PLX404'],
      projectIds: ['P1', 'P7'],
    });
    await expect(failure).rejects.toThrow(ConfigError);
    await expect(failure).rejects.toThrow(
      'Pluto does not know projects P7 or experiments PLX404: check the ids given (nothing was exported)',
    );
    expect(await deps.store.list('')).toEqual([]);
  });

  it('plans an experiment Pluto refuses (403), so that the refusal gets recorded', async () => {
    const { deps } = localLake();
    const output = await start(deps, 'run-1', EXECUTION, { experimentIds: ['PLX9', 'PLX3'] });
    expect(output).toMatchObject({ status: 'started', experimentCount: 2, listedAll: false });
    expect(await readJson(deps.store, itemsKey('run-1'), experimentItemSchema.array())).toEqual([
      { experimentId: 'PLX3', projectId: 'P2' },
      { experimentId: 'PLX9', projectId: null },
    ]);
  });

  it('sets aside a listed id that cannot be a key and goes on without it', async () => {
    const { deps } = localLake(memoryPluto({ projects: { P1: ['PLX1', 'PLX/../2'] } }));
    expect(await start(deps)).toMatchObject({ status: 'started', experimentCount: 1 });
    const rejected = await readJson(deps.store, rejectedItemsKey('run-1'), rejectedItemSchema.array());
    expect(rejected).toEqual([
      {
        shownId: '"PLX/../2"',
        projectId: 'P1',
        error: {
          name: 'InvalidIdError',
          message: `Pluto listed an experiment with the id "PLX/../2", which is not ${ID_RULE}; it was not exported`,
        },
      },
    ]);
    expect(await readJson(deps.store, itemsKey('run-1'), experimentItemSchema.array())).toEqual([
      { experimentId: 'PLX1', projectId: 'P1' },
    ]);
  });

  it('keeps a second run out while the first holds the lease', async () => {
    const { deps } = localLake();
    await start(deps);
    const second = await start(deps, 'run-2', 'exec-2');
    expect(second).toMatchObject({
      runId: 'run-2',
      status: 'leased',
      experimentCount: 0,
      execution: 'exec-2',
    });
    expect(await deps.store.head(itemsKey('run-2'))).toBeUndefined();
    expect(await readLease(deps.store)).toMatchObject({ runId: 'run-1', holder: { execution: EXECUTION } });
  });

  it('resumes an aborted run from its item list, without listing again, and clears the aborted attempt', async () => {
    const pluto = memoryPluto(LAB);
    const { deps } = localLake(pluto);
    await start(deps);
    const listed = [...pluto.requests];
    await recordRunAbort('run-1', { name: 'PlutoAuthError', message: 'token refused' }, deps.store);
    await deps.store.put(
      slotFailureKey('run-1', 'PLX1', 'assay', 0),
      encodeJson({ name: 'X', message: 'x' }),
    );
    await expect(
      endIfRunAborted({ runId: 'run-1', execution: EXECUTION, startedAt: NOW }, deps),
    ).rejects.toThrow(PlutoAuthError);

    const resumed = await start(deps, 'run-1', 'exec-2');
    expect(resumed).toMatchObject({ status: 'started', experimentCount: 4 });
    expect(pluto.requests).toEqual(listed);
    expect(await deps.store.head(abortKey('run-1'))).toBeUndefined();
    expect(await deps.store.list(slotFailurePrefix('run-1'))).toEqual([]);
  });
});

describe('FinalizeRun', () => {
  async function startedWithRecords(): Promise<{ deps: StepDeps; events: Events; started: StartRunOutput }> {
    const lake = localLake(memoryPluto({ projects: { P1: ['PLX1', 'PLX2', 'PLX3', 'PLX4', 'PLX5'] } }));
    const started = await start(lake.deps);
    const outcomes = [
      record('PLX1', 'exported'),
      record('PLX2', 'partial'),
      record('PLX3', 'skipped', { error: { name: 'PlutoForbiddenError', message: 'refused' } }),
      record('PLX5', 'unchanged', { sourceRunId: 'run-0' }),
    ];
    for (const outcome of outcomes) {
      await lake.deps.store.put(commitRecordKey('run-1', outcome.experimentId), encodeJson(outcome));
    }
    return { ...lake, started };
  }

  it('records every experiment, an experiment without a record as failed, and releases the lease', async () => {
    const { deps, events, started } = await startedWithRecords();
    const output = await finalizeRun(started, deps);
    const counts = { exported: 1, partial: 1, unchanged: 1, skipped: 1, failed: 1 };
    expect(output).toEqual({
      runId: 'run-1',
      status: 'committed',
      manifestKey: 'runs/run-1/manifest.json',
      experiments: counts,
    });
    const manifest = await readManifest(deps.store, 'run-1');
    expect(manifest?.status).toBe('committed');
    expect(manifest?.experiments.map((e) => [e.experimentId, e.status, e.error?.name])).toEqual([
      ['PLX1', 'exported', undefined],
      ['PLX2', 'partial', undefined],
      ['PLX3', 'skipped', 'PlutoForbiddenError'],
      ['PLX4', 'failed', 'MissingCommitRecordError'],
      ['PLX5', 'unchanged', undefined],
    ]);
    const exportLog = await deps.store.get(manifest?.exportLog?.key ?? '');
    expect(await parquetRowCount(exportLog ?? new Uint8Array())).toBe(5);
    expect(await readLease(deps.store)).toBeUndefined();
    expect(events.finishedRuns).toEqual([{ runId: 'run-1', status: 'committed', experiments: counts }]);
  });

  it('answers a retry after the manifest with the same counts, and reports the run once', async () => {
    const { deps, events, started } = await startedWithRecords();
    const first = await finalizeRun(started, deps);
    const again = await finalizeRun(started, deps);
    expect(again).toEqual(first);
    expect(events.finishedRuns).toHaveLength(1);
  });

  it('records a run whose experiment map failed as failed, keeping what committed', async () => {
    const { deps, started } = await startedWithRecords();
    const output = await finalizeRun(
      { ...started, failure: { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'too many failed' } },
      deps,
    );
    expect(output.status).toBe('failed');
    const manifest = await readManifest(deps.store, 'run-1');
    expect(manifest?.error).toEqual({
      name: 'States.ExceedToleratedFailureThreshold',
      message: 'too many failed',
    });
    expect(manifest?.counts.exported).toBe(1);
  });

  it('leaves a lake another run holds alone', async () => {
    const { deps, started } = await startedWithRecords();
    const output = await finalizeRun({ ...started, status: 'leased', execution: 'exec-2' }, deps);
    expect(output).toEqual({
      runId: 'run-1',
      status: 'leased',
      experiments: { exported: 0, partial: 0, unchanged: 0, skipped: 0, failed: 0 },
    });
    expect(await readManifest(deps.store, 'run-1')).toBeUndefined();
    expect(await readLease(deps.store)).toMatchObject({ holder: { execution: EXECUTION } });
  });
});

describe('RecordExperimentFailure', () => {
  const item = { experimentId: 'PLX1', projectId: 'P1' };

  it("records Pluto's refusal as skipped with its detail, once however often it is retried", async () => {
    const { deps, events } = localLake();
    const input = {
      runId: 'run-1',
      item,
      failure: {
        Error: 'PlutoForbiddenError',
        Cause: lambdaCause('PlutoForbiddenError', 'Pluto answered 403', 'You do not have permission.'),
      },
    };
    expect(await recordExperimentFailure(input, deps)).toEqual({
      runId: 'run-1',
      experimentId: 'PLX1',
      status: 'skipped',
    });
    await recordExperimentFailure(input, deps);
    expect(await readJson(deps.store, commitRecordKey('run-1', 'PLX1'), commitRecordSchema)).toEqual({
      runId: 'run-1',
      experimentId: 'PLX1',
      projectId: 'P1',
      status: 'skipped',
      startedAt: NOW,
      finishedAt: NOW,
      datasets: [],
      error: {
        name: 'PlutoForbiddenError',
        message: 'Pluto answered 403',
        detail: 'You do not have permission.',
      },
    });
    expect(events.finishedExperiments).toEqual([{ experimentId: 'PLX1', status: 'skipped' }]);
  });

  it("records a failed slot map with the slot's own error, not Step Functions' summary", async () => {
    const { deps } = localLake();
    const drift = { name: 'PageDriftError', message: 'PLX1 assay: count changed from 4000 to 4001' };
    await deps.store.put(slotFailureKey('run-1', 'PLX1', 'assay', 3), encodeJson(drift));
    const output = await recordExperimentFailure(
      {
        runId: 'run-1',
        item,
        failure: { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'map failed' },
      },
      deps,
    );
    expect(output.status).toBe('failed');
    const stored = await readJson(deps.store, commitRecordKey('run-1', 'PLX1'), commitRecordSchema);
    expect(stored?.error).toEqual(drift);
  });

  it('turns a run-fatal error into the run abort, keeping the first, and writes no experiment record', async () => {
    const { deps, events } = localLake();
    for (const [name, message] of [
      ['PlutoAuthError', 'token refused'],
      ['AccessDeniedError', 'Cannot write x: make the folder writable'],
    ] as const) {
      const output = await recordExperimentFailure(
        { runId: 'run-1', item, failure: { Error: name, Cause: lambdaCause(name, message) } },
        deps,
      );
      expect(output).toEqual({ runId: 'run-1', experimentId: 'PLX1', status: 'failed' });
    }
    expect(await readJson(deps.store, abortKey('run-1'), errorInfoSchema)).toEqual({
      name: 'PlutoAuthError',
      message: 'token refused',
    });
    expect(await deps.store.head(commitRecordKey('run-1', 'PLX1'))).toBeUndefined();
    expect(events.finishedExperiments).toEqual([]);
  });
});

describe('the run abort', () => {
  it('lets steps through until a run-fatal error is recorded, then fails each with that error', async () => {
    const { deps } = localLake();
    await expect(failIfRunAborted('run-1', deps.store)).resolves.toBeUndefined();
    await recordRunAbort(
      'run-1',
      { name: 'AccessDeniedError', message: 'access to bucket "lake" denied (AccessDenied)' },
      deps.store,
    );
    const failure = failIfRunAborted('run-1', deps.store);
    await expect(failure).rejects.toThrow(AccessDeniedError);
    await expect(failure).rejects.toThrow('access to bucket "lake" denied (AccessDenied)');
    await expect(failIfRunAborted('run-2', deps.store)).resolves.toBeUndefined();
  });

  it('ends an aborted run as failed with the export_log of what committed, and frees the lease', async () => {
    const { deps } = localLake();
    const started = await start(deps);
    await deps.store.put(commitRecordKey('run-1', 'PLX1'), encodeJson(record('PLX1', 'exported')));
    await recordRunAbort(
      'run-1',
      { name: 'PlutoAuthError', message: 'token refused', code: 'authentication_failed' },
      deps.store,
    );

    const ending = endIfRunAborted(started, deps);
    await expect(ending).rejects.toThrow(PlutoAuthError);
    await expect(ending).rejects.toMatchObject({ message: 'token refused', code: 'authentication_failed' });
    const manifest = await readManifest(deps.store, 'run-1');
    expect(manifest).toMatchObject({
      status: 'failed',
      error: { name: 'PlutoAuthError', message: 'token refused' },
      counts: { exported: 1, partial: 0, unchanged: 0, skipped: 0, failed: 0 },
    });
    expect(manifest?.experiments.map((e) => e.experimentId)).toEqual(['PLX1']);
    expect(await readLease(deps.store)).toBeUndefined();
    expect(new TextDecoder().decode(await deps.store.get(reportKey('run-1')))).toContain(
      '# Run run-1: failed',
    );
  });

  it('ends a run that was not aborted as nothing', async () => {
    const { deps } = localLake();
    const started = await start(deps);
    await expect(endIfRunAborted(started, deps)).resolves.toBeUndefined();
    expect(await readManifest(deps.store, 'run-1')).toBeUndefined();
    expect(await readLease(deps.store)).toMatchObject({ runId: 'run-1' });
  });
});

describe('the run report', () => {
  const manifest = (experiments: CommitRecord[]): Manifest => ({
    runId: 'run-7',
    codeVersion: '1.2.3',
    status: 'committed',
    startedAt: '2026-03-01T10:00:00.000Z',
    finishedAt: '2026-03-01T10:01:30.000Z',
    schemaFingerprints: {},
    counts: {
      exported: experiments.filter((e) => e.status === 'exported').length,
      partial: experiments.filter((e) => e.status === 'partial').length,
      unchanged: experiments.filter((e) => e.status === 'unchanged').length,
      skipped: experiments.filter((e) => e.status === 'skipped').length,
      failed: experiments.filter((e) => e.status === 'failed').length,
    },
    experiments,
  });
  const part = (table: 'samples' | 'assay' | 'results', rows: number) => ({
    table,
    key: `data/${table}/p.parquet`,
    rows,
    bytes: 10,
    sha256: 'a'.repeat(64),
    schemaFingerprint: 'b'.repeat(64),
  });
  const dataset = (name: string, rows: number, extra: object = {}) => ({
    dataset: name,
    status: 'exported' as const,
    apiCount: rows,
    rowsWritten: rows,
    parts: [],
    ...extra,
  });

  it('lists what changed with its rows, every failed or skipped dataset escaped, and what stayed', () => {
    const report = renderRunReport(
      manifest([
        record('PLX1', 'exported', {
          finishedAt: '2026-03-01T10:00:12.500Z',
          datasets: [
            dataset('samples', 4, { parts: [part('samples', 4)] }),
            dataset('assay', 40),
            dataset('plot-u1', 7),
          ],
        }),
        record('PLX2', 'partial', {
          previousRunId: 'run-6',
          datasets: [
            dataset('samples', 2),
            dataset('plot-u2', 0, {
              status: 'failed',
              rowsWritten: 0,
              error: { name: 'PageDriftError', message: 'count | changed <b>' },
            }),
          ],
        }),
        record('PLX3', 'skipped', {
          error: { name: 'PlutoNotFoundError', message: 'Pluto answered 404', detail: 'Not *found*.' },
        }),
        record('PLX4', 'unchanged', { sourceRunId: 'run-5' }),
      ]),
    );
    expect(report.split('\n')).toEqual([
      '# Run run-7: committed',
      '',
      'Started 2026-03-01T10:00:00.000Z, finished 2026-03-01T10:01:30.000Z (90.0 s), code version 1.2.3.',
      '',
      '1 exported, 1 partial, 1 unchanged, 1 skipped, 0 failed.',
      '',
      '## Changed since the last run',
      '',
      '| experiment | change | samples rows | assay rows | results rows | seconds |',
      '|---|---|---:|---:|---:|---:|',
      '| PLX1 | new | 4 | 40 | 7 | 12.5 |',
      '| PLX2 | re-exported (was run run-6), partial | 2 | 0 | 0 | 0.0 |',
      '',
      '## Skipped and failed',
      '',
      '| experiment | dataset | status | error | detail |',
      '|---|---|---|---|---|',
      '| PLX3 | all | skipped | PlutoNotFoundError | Not \\*found\\*. |',
      '| PLX2 | plot-u2 | failed | PageDriftError | count \\| changed &lt;b&gt; |',
      '',
      '## Unchanged',
      '',
      'PLX4 (current: run run-5)',
      '',
    ]);
  });

  it('says so when nothing changed, failed or stayed', () => {
    const report = renderRunReport(manifest([]));
    expect(report).toContain('## Changed since the last run\n\nNothing changed.\n');
    expect(report).toContain('## Skipped and failed\n\nNone.\n');
    expect(report.endsWith('## Unchanged\n\nNone.\n')).toBe(true);
  });
});
