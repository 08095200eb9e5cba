/**
 * Readers never see half a run, and retention removes superseded run folders only after the grace
 * period, never one a pointer uses, and never a run that has not finished.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPERIMENT_TABLES } from '../functions/core/contract.js';
import { manifestKey } from '../functions/core/layout.js';
import type { Clock, ObjectStore } from '../functions/core/ports.js';
import { removeSupersededRuns } from '../functions/core/retention.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import {
  exportWith,
  type FolderLake,
  holdStep,
  lakeDigest,
  newLake,
  SMALL_ORGANISATION,
} from './support/fault-harness.js';
import { queryLake } from './support/lake-query.js';

const HOUR = 3_600_000;

let simulator: RunningSimulator;
let lake: FolderLake;
let changed: string;

const clockAt = (ms: number): Clock => ({ now: () => new Date(ms) });

async function folderKeys(prefix: string): Promise<string[]> {
  return (await lake.store.list(prefix)).map((o) => o.key);
}

/** Every folder a pointer names still holds its files. */
async function expectPointedFoldersIntact(): Promise<void> {
  for (const table of EXPERIMENT_TABLES) {
    for (const pointer of await lake.catalog.listPartitions(table)) {
      expect(await folderKeys(pointer.location), pointer.location).not.toEqual([]);
    }
  }
}

beforeAll(async () => {
  simulator = await startSimulator({ seed: 41, ...SMALL_ORGANISATION });
  lake = await newLake('retention');
  expect((await exportWith({ simulator, ...lake, runId: 'run-1' })).status).toBe('committed');
  const [first] = simulator.truth.exportable;
  if (first === undefined) throw new Error('no experiment');
  changed = first.id;
});

afterAll(async () => {
  await simulator?.close();
  if (lake) await rm(lake.root, { recursive: true, force: true });
});

describe('a reader during a run', () => {
  it('sees only the previous commit while the new parts are written, then the new one', async () => {
    const before = await lakeDigest(lake.root);
    simulator.truth.setCell(changed, 'assay', 0, 1, 4242.5);
    const held = holdStep('CommitExperiment');
    const run = exportWith({ simulator, ...lake, runId: 'run-2', interceptStep: held.intercept });
    await held.reached;

    expect(await folderKeys(`data/assay/experiment_id=${changed}/run_id=run-2/`)).not.toEqual([]);
    expect(await lakeDigest(lake.root)).toEqual(before);
    const sample = simulator.truth.experiment(changed).assay.headers[1];
    const cellSql = `select value from assay where experiment_id = '${changed}' and row_number = 0 and sample_id = '${sample}'`;
    const [previous] = await queryLake(lake.root, cellSql);
    expect(previous?.value).not.toBe(4242.5);

    held.release();
    expect(await run).toMatchObject({ status: 'committed', experiments: { exported: 1 } });
    const after = await lakeDigest(lake.root);
    expect(after.assay.rows).toBe(before.assay.rows);
    expect(after.assay.checksum).not.toBe(before.assay.checksum);
    expect(await queryLake(lake.root, cellSql)).toEqual([{ value: 4242.5 }]);
  });
});

describe('removeSupersededRuns', () => {
  /** The folders of `runId` for the changed experiment that hold files now. */
  const foldersOf = async (runId: string) => {
    const keys = (await lake.store.list('data/')).map((o) => o.key);
    return EXPERIMENT_TABLES.map((table) => `data/${table}/experiment_id=${changed}/run_id=${runId}/`)
      .filter((folder) => keys.some((key) => key.startsWith(folder)))
      .sort();
  };

  it('keeps superseded folders during the grace period', async () => {
    const finished = Date.now();
    const result = await removeSupersededRuns({
      ...lake,
      clock: clockAt(finished + HOUR / 2),
      graceMs: HOUR,
    });
    expect(result).toEqual({ removedFolders: [], removedObjects: 0, removedLeftovers: 0 });
    expect(await folderKeys(`data/assay/experiment_id=${changed}/run_id=run-1/`)).not.toEqual([]);
  });

  it('removes what is superseded but never a folder of a run still going, nor one a pointer uses', async () => {
    simulator.truth.setCell(changed, 'assay', 0, 1, 777.25);
    const held = holdStep('CommitExperiment');
    const run = exportWith({ simulator, ...lake, runId: 'run-3', interceptStep: held.intercept });
    await held.reached;
    const inProgress = await folderKeys(`data/assay/experiment_id=${changed}/run_id=run-3/`);
    expect(inProgress).not.toEqual([]);
    const digest = await lakeDigest(lake.root);
    const runOne = await foldersOf('run-1');
    const runTwo = await foldersOf('run-2');
    expect(runOne.length).toBeGreaterThanOrEqual(5);

    const result = await removeSupersededRuns({
      ...lake,
      clock: clockAt(Date.now() + 100 * HOUR),
      graceMs: 0,
    });
    expect([...result.removedFolders].sort()).toEqual(runOne);
    expect(await foldersOf('run-2')).toEqual(runTwo);
    expect(await folderKeys(`data/assay/experiment_id=${changed}/run_id=run-3/`)).toEqual(inProgress);
    await expectPointedFoldersIntact();
    expect(await lakeDigest(lake.root)).toEqual(digest);

    held.release();
    expect((await run).status).toBe('committed');
  });

  it('removes superseded folders after the grace period and keeps the run history', async () => {
    const before = await lakeDigest(lake.root);
    const parts = await lake.store.list('data/');
    const expected = await foldersOf('run-2');
    expect(
      await removeSupersededRuns({ ...lake, clock: clockAt(Date.now() + HOUR / 2), graceMs: HOUR }),
    ).toEqual({ removedFolders: [], removedObjects: 0, removedLeftovers: 0 });
    // Deletes go in batches (S3 DeleteObjects takes up to 1,000 keys), never one request per file.
    const batches: string[][] = [];
    const store = Object.create(lake.store) as ObjectStore;
    store.delete = async (key) => {
      throw new Error(`retention deleted ${key} on its own`);
    };
    store.deleteAll = async (keys) => {
      batches.push([...keys]);
      await lake.store.deleteAll(keys);
    };
    const result = await removeSupersededRuns({
      ...lake,
      store,
      clock: clockAt(Date.now() + 2 * HOUR),
      graceMs: HOUR,
    });
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(result.removedObjects);
    expect([...result.removedFolders].sort()).toEqual(expected);
    expect(result.removedObjects).toBe(parts.filter((p) => expected.some((f) => p.key.startsWith(f))).length);
    for (const folder of expected) expect(await folderKeys(folder)).toEqual([]);

    const others = simulator.truth.exportable.filter((e) => e.id !== changed);
    for (const other of others) {
      expect(await folderKeys(`data/assay/experiment_id=${other.id}/run_id=run-1/`)).not.toEqual([]);
    }
    await expectPointedFoldersIntact();
    for (const runId of ['run-1', 'run-2', 'run-3']) {
      expect(await lake.store.head(manifestKey(runId))).toBeDefined();
    }
    expect(await lakeDigest(lake.root)).toEqual(before);
    expect(
      await removeSupersededRuns({ ...lake, clock: clockAt(Date.now() + 2 * HOUR), graceMs: HOUR }),
    ).toEqual({
      removedFolders: [],
      removedObjects: 0,
      removedLeftovers: 0,
    });
  });
});
