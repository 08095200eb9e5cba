/**
 * Runs killed before they finished leave run folders without a manifest, temporary files and empty
 * folders behind; retention reclaims them once nothing of them changed for the grace period, on a
 * local folder and on S3 alike, and never touches a run that holds the lease.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { S3Store } from '../functions/adapters/s3-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { itemsKey, LEASE_KEY, partitionLocation, receiptKey } from '../functions/core/layout.js';
import type { ObjectStore } from '../functions/core/ports.js';
import { encodeJson } from '../functions/core/records.js';
import { removeSupersededRuns } from '../functions/core/retention.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';

const HOUR = 3_600_000;
const bytes = (text: string) => new TextEncoder().encode(text);

/** A run killed mid-export (`dead`) and one still running under the lease (`alive`), one experiment each. */
async function plantRuns(store: ObjectStore): Promise<void> {
  for (const runId of ['dead', 'alive']) {
    await store.putIfAbsent(itemsKey(runId), encodeJson([{ experimentId: 'PLX1', projectId: null }]));
    await store.putIfAbsent(receiptKey(runId, 'PLX1', 'assay', 0), encodeJson({ parts: [] }));
    for (const table of ['assay', 'samples'] as const) {
      await store.putIfAbsent(
        `${partitionLocation(table, 'PLX1', runId)}part-${table}-00000.parquet`,
        bytes('x'),
      );
    }
  }
  const now = new Date();
  await store.put(
    LEASE_KEY,
    encodeJson({
      runId: 'alive',
      acquiredAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + HOUR).toISOString(),
    }),
  );
}

const dataKeys = async (store: ObjectStore) => (await store.list('data/')).map((o) => o.key);

describe.each([
  ['a local folder', 'folder'],
  ['S3', 's3'],
] as const)('retention on %s', (_name, kind) => {
  let s3rver: RunningS3rver | undefined;
  let root: string;
  let store: ObjectStore;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pluto-leftovers-'));
    if (kind === 's3') {
      s3rver = await startS3rver(['lake']);
      store = new S3Store({ bucket: 'lake', prefix: 'org/' }, s3rver.client());
    } else {
      store = new FolderStore(root);
    }
    await plantRuns(store);
  });
  afterAll(async () => {
    await s3rver?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('keeps an unfinished run within the grace period, and a run holding the lease at any age', async () => {
    const catalog = new StoreCatalog(store);
    const within = await removeSupersededRuns({
      store,
      catalog,
      clock: { now: () => new Date(Date.now() + HOUR / 2) },
      graceMs: HOUR,
    });
    expect(within.removedFolders).toEqual([]);
    expect(await dataKeys(store)).toHaveLength(4);

    const after = await removeSupersededRuns({
      store,
      catalog,
      clock: { now: () => new Date(Date.now() + 2 * HOUR) },
      graceMs: HOUR,
    });
    expect([...after.removedFolders].sort()).toEqual([
      partitionLocation('assay', 'PLX1', 'dead'),
      partitionLocation('samples', 'PLX1', 'dead'),
    ]);
    expect(after.removedObjects).toBe(2);
    expect(await dataKeys(store)).toEqual([
      `${partitionLocation('assay', 'PLX1', 'alive')}part-assay-00000.parquet`,
      `${partitionLocation('samples', 'PLX1', 'alive')}part-samples-00000.parquet`,
    ]);
    expect(await store.head(itemsKey('dead'))).toBeDefined();
    // Resumed, the killed run exports again what retention removed instead of trusting its receipts.
    expect(await store.head(receiptKey('dead', 'PLX1', 'assay', 0))).toBeUndefined();
    expect(await store.head(receiptKey('alive', 'PLX1', 'assay', 0))).toBeDefined();
  });
});

describe('retention of a local folder', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pluto-leftovers-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('removes temporary files and empty folders older than the grace period, and nothing else', async () => {
    const store = new FolderStore(root);
    const committed = partitionLocation('assay', 'PLX1', 'r1');
    await store.putIfAbsent(`${committed}part-assay-00000.parquet`, bytes('part'));
    // What a writer killed between writing and publishing leaves: a temporary file, here inside a
    // committed partition, and folders it created for nothing.
    await writeFile(join(root, committed, '.tmp-0b7c'), 'half a part');
    await mkdir(join(root, 'data', 'samples', 'experiment_id=PLX2', 'run_id=r9'), { recursive: true });
    const catalog = new StoreCatalog(store);
    await catalog.putPartitions([
      { table: 'assay', partitionValue: 'PLX1', runId: 'r1', location: committed },
    ]);

    const within = await removeSupersededRuns({
      store,
      catalog,
      clock: { now: () => new Date(Date.now() + HOUR / 2) },
      graceMs: HOUR,
    });
    expect(within.removedLeftovers).toBe(0);
    expect((await readdir(join(root, committed))).sort()).toEqual(['.tmp-0b7c', 'part-assay-00000.parquet']);

    const after = await removeSupersededRuns({
      store,
      catalog,
      clock: { now: () => new Date(Date.now() + 2 * HOUR) },
      graceMs: HOUR,
    });
    // The temporary file, and data/samples/ with its two empty folders below.
    expect(after.removedLeftovers).toBe(4);
    expect(await readdir(join(root, committed))).toEqual(['part-assay-00000.parquet']);
    expect(await readdir(join(root, 'data'))).toEqual(['assay']);
    expect((await store.list('data/')).map((o) => o.key)).toEqual([`${committed}part-assay-00000.parquet`]);
  });
});
