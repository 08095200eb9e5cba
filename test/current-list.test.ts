/**
 * The current file list of an S3 lake: after two runs `data/` holds two copies of every table, and
 * the README's DuckDB statements over `current/<table>.txt` read exactly the committed rows. The
 * lake lives on s3rver; DuckDB (which has no S3 client offline) reads the listed objects as
 * downloaded through the S3 API, under the same keys.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { S3Store } from '../functions/adapters/s3-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { TABLE_NAMES } from '../functions/core/contract.js';
import { publishCurrentLists } from '../functions/core/current-list.js';
import { currentListKey, partitionLocation, partKey } from '../functions/core/layout.js';
import type { PartitionPointer, StoredObject } from '../functions/core/ports.js';
import type { PartInfo } from '../functions/core/records.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { exportWith, SMALL_ORGANISATION } from './support/fault-harness.js';
import { plainDuckdb } from './support/lake-query.js';
import { MemoryStore } from './support/memory-store.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';

const BUCKET = 'acme-lake';
const PREFIX = 'exports/pluto/';
const LAKE_URL = `s3://${BUCKET}/${PREFIX}`;

let simulator: RunningSimulator;
let s3rver: RunningS3rver;
let store: S3Store;
let mirror: string;

async function listed(table: (typeof TABLE_NAMES)[number]): Promise<string[]> {
  const body = await store.get(currentListKey(table));
  return new TextDecoder()
    .decode(body)
    .split('\n')
    .filter((line) => line !== '');
}

/** What the catalog says is committed, per experiment: the rows a Glue-aware reader gets. */
async function committedRows(table: string): Promise<Map<string, number>> {
  const catalog = new StoreCatalog(store);
  const rows = new Map<string, number>();
  for (const pointer of await catalog.listPartitions(table as (typeof TABLE_NAMES)[number])) {
    const files = (await store.list(pointer.location)).map((o) => `'${join(mirror, o.key)}'`);
    const [[count] = []] = await plainDuckdb(
      `select count(*)::INTEGER from read_parquet([${files.join(', ')}])`,
    );
    rows.set(pointer.partitionValue, Number(count));
  }
  return rows;
}

beforeAll(async () => {
  [simulator, s3rver] = await Promise.all([
    startSimulator({ seed: 23, ...SMALL_ORGANISATION }),
    startS3rver([BUCKET]),
  ]);
  store = new S3Store({ bucket: BUCKET, prefix: PREFIX }, s3rver.client());
  const catalog = new StoreCatalog(store);
  expect((await exportWith({ simulator, store, catalog, runId: 'run-1' })).status).toBe('committed');
  expect((await exportWith({ simulator, store, catalog, runId: 'run-2', full: true })).status).toBe(
    'committed',
  );
  // Every object of the lake, downloaded through the S3 API under its key below the lake root.
  mirror = await mkdtemp(join(tmpdir(), 'pluto-current-list-'));
  const local = new FolderStore(mirror);
  for (const { key } of await store.list(''))
    await local.put(key, (await store.get(key)) ?? new Uint8Array());
});

afterAll(async () => {
  await Promise.all([
    simulator?.close(),
    s3rver?.stop(),
    mirror && rm(mirror, { recursive: true, force: true }),
  ]);
});

describe('current/<table>.txt on an S3 lake', () => {
  it('lists the s3:// URL of every committed part: run-2 for the experiment tables, both runs for export_log, run-1 for projects', async () => {
    for (const table of TABLE_NAMES) {
      const urls = await listed(table);
      const committed = [...(await committedRows(table)).keys()];
      const catalog = new StoreCatalog(store);
      const expected: string[] = [];
      for (const pointer of await catalog.listPartitions(table)) {
        for (const part of await store.list(pointer.location)) expected.push(`${LAKE_URL}${part.key}`);
      }
      expect(urls.sort(), table).toEqual(expected.sort());
      expect(committed.length, table).toBeGreaterThan(0);
      const runs = new Set(urls.map((url) => /run_id=([^/]+)\//.exec(url)?.[1]));
      // Projects move only when Pluto's detail of one changes, which a full re-export does not do.
      const expectedRuns =
        table === 'export_log' ? ['run-1', 'run-2'] : table === 'projects' ? ['run-1'] : ['run-2'];
      expect([...runs].sort(), table).toEqual(expectedRuns);
    }
  });

  it("answers the README's DuckDB statements with exactly the committed rows; a glob over data/ doubles them", async () => {
    const readme = await readFile('README.md', 'utf8');
    const documented = /^-- DuckDB on an S3 lake.*\n(SET VARIABLE .*;)\n(SELECT .*;)$/m.exec(readme);
    expect(documented).not.toBeNull();
    const local = (sql: string) => sql.replaceAll('s3://my-lake/', `${mirror}/`);
    // The list holds s3:// URLs; DuckDB reads their downloaded copies.
    const list = (await listed('assay')).map((url) => url.replace(LAKE_URL, `${mirror}/`));
    await new FolderStore(mirror).put(
      currentListKey('assay'),
      new TextEncoder().encode(`${list.join('\n')}\n`),
    );
    const rows = await plainDuckdb(local(documented?.[1] ?? ''), local(documented?.[2] ?? ''));
    const byExperiment = new Map(rows.map(([experiment, count]) => [String(experiment), Number(count)]));
    const committed = await committedRows('assay');
    expect(byExperiment).toEqual(committed);
    const total = [...committed.values()].reduce((sum, n) => sum + n, 0);
    expect(total).toBeGreaterThan(1000);
    const [[everything] = []] = await plainDuckdb(
      `select count(*)::INTEGER from read_parquet('${mirror}/data/assay/*/*/*.parquet')`,
    );
    expect(Number(everything)).toBe(2 * total);
  });

  it('is rewritten only when a partition moved: an unchanged run leaves every list as it was', async () => {
    const before = await Promise.all(TABLE_NAMES.map((table) => store.head(currentListKey(table))));
    const catalog = new StoreCatalog(store);
    const output = await exportWith({ simulator, store, catalog, runId: 'run-3' });
    expect(output.experiments).toMatchObject({ exported: 0, partial: 0, failed: 0 });
    expect(output.experiments.unchanged).toBeGreaterThan(0);
    const after = await Promise.all(TABLE_NAMES.map((table) => store.head(currentListKey(table))));
    TABLE_NAMES.forEach((table, i) => {
      if (table === 'export_log') expect(after[i]?.size, table).toBeGreaterThan(before[i]?.size ?? 0);
      else expect(after[i]?.lastModified, table).toEqual(before[i]?.lastModified);
    });
  });
});

describe('rebuilding the lists', () => {
  /** A store with S3's `url`, which counts the listings of data folders. */
  class CountingStore extends MemoryStore {
    readonly listed: string[] = [];
    url(key: string): string {
      return `s3://lake/${key}`;
    }
    override list(prefix: string): Promise<StoredObject[]> {
      if (prefix.startsWith('data/')) this.listed.push(prefix);
      return super.list(prefix);
    }
  }
  const part = (key: string): PartInfo => ({
    table: 'assay',
    key,
    rows: 1,
    bytes: 1,
    sha256: '',
    schemaFingerprint: '',
  });
  const pointer = (experimentId: string, runId: string): PartitionPointer => ({
    table: 'assay',
    partitionValue: experimentId,
    runId,
    location: partitionLocation('assay', experimentId, runId),
  });

  it('takes committed parts from the run, keeps unmoved partitions, and lists the store only for the rest', async () => {
    const lake = new CountingStore();
    const catalog = new StoreCatalog(lake);
    const keys = ['PLX1', 'PLX2'].map((id) => partKey('assay', id, 'run-1', 'assay', 0));
    for (const key of keys) await lake.put(key, new Uint8Array([1]));
    await catalog.putPartitions([pointer('PLX1', 'run-1'), pointer('PLX2', 'run-1')]);
    const folders = new Set(['PLX1', 'PLX2'].map((id) => partitionLocation('assay', id, 'run-1')));
    await publishCurrentLists({ store: lake, catalog }, { folders, parts: keys.map(part) });
    const list = async () => new TextDecoder().decode(await lake.get(currentListKey('assay')));
    expect(await list()).toBe(keys.map((key) => `s3://lake/${key}\n`).join(''));
    expect(lake.listed).toEqual([]);

    // A later run that committed nothing: the lines stay, nothing is listed.
    await publishCurrentLists({ store: lake, catalog }, { folders: new Set(), parts: [] });
    expect(lake.listed).toEqual([]);

    // A pointer that moved without this run's records saying so (a run that died before its record).
    const moved = partKey('assay', 'PLX2', 'run-2', 'assay', 0);
    await lake.put(moved, new Uint8Array([1]));
    await catalog.putPartitions([pointer('PLX2', 'run-2')]);
    await publishCurrentLists({ store: lake, catalog }, { folders: new Set(), parts: [] });
    expect(lake.listed).toEqual([partitionLocation('assay', 'PLX2', 'run-2')]);
    expect(await list()).toBe(`s3://lake/${keys[0]}\ns3://lake/${moved}\n`);
  });
});
