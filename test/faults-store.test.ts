import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TableName } from '../functions/core/contract.js';
import {
  commitRecordKey,
  commitRecordPrefix,
  LEASE_KEY,
  receiptPrefix,
  runPrefix,
  slotsKey,
} from '../functions/core/layout.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import type { ObjectStore } from '../functions/core/ports.js';
import {
  commitRecordSchema,
  encodeJson,
  projectRecordSchema,
  readJson,
  receiptSchema,
} from '../functions/core/records.js';
import { type StepDeps, systemClock } from '../functions/core/workflow/deps.js';
import { type Slot, slotSchema } from '../functions/core/workflow/messages.js';
import { STEPS } from '../functions/core/workflow/steps.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import {
  exportWith,
  FAST_SETTINGS,
  type FolderLake,
  holdStep,
  lakeDigest,
  lakeRegistry,
  SMALL_ORGANISATION,
  stepRecorder,
  type TableDigest,
} from './support/fault-harness.js';
import { FaultyCatalog, FaultyStore } from './support/faulty-store.js';
import { snapshotFiles } from './support/lake-files.js';
import { fixedSecret } from './support/secrets.js';

let simulator: RunningSimulator;
let clean: FolderLake;
let cleanDigest: Record<TableName, TableDigest>;
const { lake, removeAll } = lakeRegistry();

beforeAll(async () => {
  simulator = await startSimulator({ seed: 23, ...SMALL_ORGANISATION });
  clean = await lake('clean');
  expect((await exportWith({ simulator, ...clean, runId: 'run-1' })).status).toBe('committed');
  cleanDigest = await lakeDigest(clean.root);
});

afterAll(async () => {
  await simulator?.close();
  await removeAll();
});

const exportable = () => simulator.truth.exportable.map((e) => e.id).sort();

/**
 * Every Parquet file of the run against the parts its commit and project records name: equal sets mean no
 * part is missing and none is extra; each slot has exactly one receipt.
 */
async function accounting(store: ObjectStore, runId: string) {
  const files = (await store.list('data/'))
    .map((o) => o.key)
    .filter((key) => key.includes(`/run_id=${runId}/`) && !key.startsWith('data/export_log/'));
  const records = await store.list(commitRecordPrefix(runId));
  const recorded: string[] = [];
  let receipts = 0;
  let slots = 0;
  for (const { key } of records) {
    const record = await readJson(store, key, commitRecordSchema);
    if (record === undefined) throw new Error(`unreadable ${key}`);
    for (const dataset of record.datasets) recorded.push(...dataset.parts.map((p) => p.key));
    if (record.status !== 'exported') continue;
    const planned = (await readJson(store, slotsKey(runId, record.experimentId), slotSchema.array())) ?? [];
    const found = await store.list(receiptPrefix(runId, record.experimentId));
    for (const { key: receipt } of found) expect(await readJson(store, receipt, receiptSchema)).toBeDefined();
    slots += planned.length;
    receipts += found.length;
  }
  for (const { key } of await store.list(`${runPrefix(runId)}projects/`)) {
    const project = await readJson(store, key, projectRecordSchema);
    if (project === undefined) throw new Error(`unreadable ${key}`);
    recorded.push(project.part.key);
  }
  return { files: files.sort(), recorded: recorded.sort(), records: records.length, slots, receipts };
}

async function expectExactlyOnce(store: ObjectStore, runId: string, experiments: number) {
  const books = await accounting(store, runId);
  expect(books.files).toEqual(books.recorded);
  expect(books.files.length).toBeGreaterThan(0);
  expect(books.receipts).toBe(books.slots);
  expect(books.records).toBe(experiments);
}

describe('store and catalog faults', () => {
  it('retries every write that fails once, and commits exactly the clean data', async () => {
    const target = await lake('fail-once');
    const store = new FaultyStore(target.store, [{ fault: 'fail', timesPerKey: 1 }]);
    const output = await exportWith({ simulator, store, catalog: target.catalog, runId: 'run-1' });
    expect(output.status).toBe('committed');
    expect(store.strikes.length).toBeGreaterThan(30);
    expect(new Set(store.strikes.map((s) => s.operation))).toEqual(new Set(['put', 'putIfAbsent']));
    await expectExactlyOnce(target.store, 'run-1', simulator.truth.experiments.length);
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
    expect(await target.store.head(LEASE_KEY)).toBeUndefined();
  });

  it('survives a worker dying after each write succeeded: one part per slot, one commit record', async () => {
    const target = await lake('crash-after-write');
    const store = new FaultyStore(target.store, [
      { fault: 'crash-after-write', operations: ['putIfAbsent'], timesPerKey: 1 },
      { fault: 'crash-after-write', operations: ['put'], key: /manifest\.json$/, timesPerKey: 1 },
    ]);
    const output = await exportWith({ simulator, store, catalog: target.catalog, runId: 'run-1' });
    expect(output.status).toBe('committed');
    const crashed = store.strikes.map((s) => s.key);
    expect(crashed.filter((key) => key.endsWith('.parquet')).length).toBeGreaterThan(10);
    expect(crashed).toEqual(expect.arrayContaining([LEASE_KEY, 'runs/run-1/manifest.json']));
    await expectExactlyOnce(target.store, 'run-1', simulator.truth.experiments.length);
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
    expect(await target.store.head(LEASE_KEY)).toBeUndefined();
  });

  it('repoints on retry after a crash between the commit record and the repoint', async () => {
    const target = await lake('crash-before-repoint');
    const catalog = new FaultyCatalog(target.catalog, 2);
    const output = await exportWith({ simulator, store: target.store, catalog, runId: 'run-1' });
    expect(output.status).toBe('committed');
    expect(catalog.failedPuts).toBe(2);
    await expectExactlyOnce(target.store, 'run-1', simulator.truth.experiments.length);
    for (const id of exportable()) {
      expect(await target.catalog.getPartition('experiments', id)).toMatchObject({ runId: 'run-1' });
    }
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
  });

  it('fails only the experiment whose parts can never be written; its previous commit stays visible', async () => {
    const target = await lake('fail-always');
    expect((await exportWith({ simulator, ...target, runId: 'run-1' })).status).toBe('committed');
    const [victim] = exportable();
    if (victim === undefined) throw new Error('no experiment');
    const store = new FaultyStore(target.store, [
      {
        fault: 'fail',
        operations: ['putIfAbsent'],
        key: new RegExp(`experiment_id=${victim}/run_id=run-2/`),
      },
    ]);
    const output = await exportWith({
      simulator,
      store,
      catalog: target.catalog,
      runId: 'run-2',
      full: true,
    });
    expect(output).toMatchObject({ status: 'committed', experiments: { failed: 1 } });
    const record = await readJson(target.store, commitRecordKey('run-2', victim), commitRecordSchema);
    expect(record).toMatchObject({ status: 'failed', error: { name: 'StoreError' } });
    expect(record?.error?.message).toContain('Injected store fault (fail) on putIfAbsent data/');
    expect(await target.catalog.getPartition('assay', victim)).toMatchObject({ runId: 'run-1' });
    const { export_log: _log, ...tables } = await lakeDigest(target.root);
    const { export_log: _cleanLog, ...cleanTables } = cleanDigest;
    expect(tables).toEqual(cleanTables);
  });

  it('lets exactly one of two workers exporting the same slot at once write its part', async () => {
    const target = await lake('two-workers');
    const deps: StepDeps = {
      store: target.store,
      catalog: target.catalog,
      pluto: createPlutoClient({
        baseUrl: simulator.url,
        secrets: fixedSecret(simulator.truth.token),
        version: 'test',
      }),
      clock: systemClock,
      settings: FAST_SETTINGS,
    };
    const [experimentId] = exportable();
    if (experimentId === undefined) throw new Error('no experiment');
    const runId = 'run-1';
    await STEPS.StartRun({ run: { runId, experimentIds: [experimentId] }, execution: 'test' }, deps);
    await STEPS.PlanExperiment({ runId, full: false, item: { experimentId, projectId: null } }, deps);
    const slots = (await readJson(target.store, slotsKey(runId, experimentId), slotSchema.array())) as Slot[];
    expect(slots.length).toBeGreaterThan(3);
    for (const slot of slots) {
      const input = { runId, experimentId, slot };
      const [first, second] = await Promise.all([
        STEPS.ExportSlot(input, deps),
        STEPS.ExportSlot(input, deps),
      ]);
      expect(second).toEqual(first);
    }
    const commit = await STEPS.CommitExperiment(
      {
        runId,
        experimentId,
        action: 'export',
        slotsKey: slotsKey(runId, experimentId),
        slotCount: slots.length,
      },
      deps,
    );
    expect(commit).toMatchObject({ status: 'exported' });
    await expectExactlyOnce(target.store, runId, 1);
    const { export_log: _log, ...tables } = await lakeDigest(target.root, { experimentId });
    const { export_log: _cleanLog, ...cleanTables } = await lakeDigest(clean.root, { experimentId });
    expect(tables).toEqual(cleanTables);
  });

  it('replays a committed run as a no-op: no request, every file unchanged', async () => {
    const before = await snapshotFiles(clean.root);
    const requests = simulator.requests.total;
    const output = await exportWith({ simulator, ...clean, runId: 'run-1' });
    expect(output.status).toBe('committed');
    expect(simulator.requests.total).toBe(requests);
    expect(await snapshotFiles(clean.root)).toEqual(before);
  });
});

describe('overlapping runs', () => {
  it('ends a second run as leased while the first holds the lease, and lets a later run proceed', async () => {
    const target = await lake('overlap');
    const hold = holdStep('CommitExperiment', { firstOnly: true });
    const first = exportWith({ simulator, ...target, runId: 'run-a', interceptStep: hold.intercept });
    await hold.reached;
    const second = stepRecorder();
    const leased = await exportWith({
      simulator,
      ...target,
      runId: 'run-b',
      interceptStep: second.intercept,
    });
    expect(leased).toMatchObject({ runId: 'run-b', status: 'leased' });
    expect(second.calls.map((c) => c.step)).toEqual(['StartRun', 'FinalizeRun']);
    expect(await target.store.list('runs/run-b/')).toEqual([]);
    hold.release();
    expect((await first).status).toBe('committed');
    expect(await target.store.head(LEASE_KEY)).toBeUndefined();
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
  });

  it('takes over a stale lease, and respects one that has not expired', async () => {
    const target = await lake('stale-lease');
    const lease = (runId: string, expiresInMs: number) =>
      encodeJson({
        runId,
        acquiredAt: new Date(Date.now() - 86_400_000).toISOString(),
        expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
      });
    await target.store.put(LEASE_KEY, lease('run-alive', 60_000));
    expect(await exportWith({ simulator, ...target, runId: 'run-c' })).toMatchObject({ status: 'leased' });

    await target.store.put(LEASE_KEY, lease('run-dead', -60_000));
    expect(await exportWith({ simulator, ...target, runId: 'run-d' })).toMatchObject({ status: 'committed' });
    expect(await target.store.head(LEASE_KEY)).toBeUndefined();
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
  });
});
