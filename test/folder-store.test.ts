import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (body: Uint8Array | undefined) =>
  body === undefined ? undefined : new TextDecoder().decode(body);

describe('FolderStore', () => {
  let root: string;
  let store: FolderStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'pluto-store-'));
    store = new FolderStore(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('writes an immutable object once and keeps the first content', async () => {
    expect(await store.putIfAbsent('data/a/part-1.parquet', bytes('first'))).toEqual({ created: true });
    expect(await store.putIfAbsent('data/a/part-1.parquet', bytes('second'))).toEqual({ created: false });
    expect(text(await store.get('data/a/part-1.parquet'))).toBe('first');
    expect(await store.head('data/a/part-1.parquet')).toEqual({
      key: 'data/a/part-1.parquet',
      size: 5,
      lastModified: expect.any(Date),
    });
  });

  it('lets exactly one of many concurrent writers of the same key win, leaving no temp files', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.putIfAbsent('runs/r/x.json', bytes(`writer-${i}`))),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await readdir(join(root, 'runs', 'r'))).toEqual(['x.json']);
    expect(text(await store.get('runs/r/x.json'))).toMatch(/^writer-\d+$/);
  });

  it('replaces with put and lists by prefix in key order, across folders and partial names', async () => {
    await store.put('p/b/2.json', bytes('1'));
    await store.put('p/b/2.json', bytes('22'));
    await store.put('p/a/1.json', bytes('1'));
    await store.put('p/ab/3.json', bytes('333'));
    await store.put('q/4.json', bytes('4'));
    expect(await store.list('p/')).toEqual([
      { key: 'p/a/1.json', size: 1, lastModified: expect.any(Date) },
      { key: 'p/ab/3.json', size: 3, lastModified: expect.any(Date) },
      { key: 'p/b/2.json', size: 2, lastModified: expect.any(Date) },
    ]);
    expect((await store.list('p/a')).map((o) => o.key)).toEqual(['p/a/1.json', 'p/ab/3.json']);
    expect(await store.list('missing/')).toEqual([]);
  });

  it('returns undefined for missing objects and deletes idempotently', async () => {
    expect(await store.get('nope')).toBeUndefined();
    expect(await store.head('nope')).toBeUndefined();
    await store.put('x', bytes('1'));
    await store.delete('x');
    await store.delete('x');
    expect(await store.get('x')).toBeUndefined();
  });

  it('refuses keys that would escape the lake folder', async () => {
    await expect(store.put('../escape', bytes('x'))).rejects.toThrow(/Invalid object key/);
    await expect(store.get('/etc/passwd')).rejects.toThrow(/Invalid object key/);
  });
});

describe('StoreCatalog', () => {
  it('repoints partitions atomically and lists the current pointers', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pluto-catalog-'));
    const catalog = new StoreCatalog(new FolderStore(root));
    const pointer = (runId: string) => ({
      table: 'assay' as const,
      partitionValue: 'PLX1',
      runId,
      location: `data/assay/experiment_id=PLX1/run_id=${runId}/`,
    });
    await catalog.putPartitions([pointer('r1')]);
    await catalog.putPartitions([pointer('r2')]);
    expect(await catalog.getPartition('assay', 'PLX1')).toEqual(pointer('r2'));
    expect(await catalog.listPartitions('assay')).toEqual([pointer('r2')]);
    await catalog.deletePartitions('assay', ['PLX1']);
    expect(await catalog.listPartitions('assay')).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });
});
