/**
 * The lake read with one's own tools: DuckDB's read_parquet over the documented `current/` path
 * gives exactly the committed rows, however many runs left their files under `data/`.
 */
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurrentTreeCatalog } from '../functions/adapters/current-tree.js';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { exportWith } from './support/fault-harness.js';
import { plainDuckdb, queryLake } from './support/lake-query.js';

/** The folder lake as openLake builds it, with the `current/` tree catalog's own methods in reach. */
function openFolderLake(root: string) {
  const store = new FolderStore(root);
  return { store, catalog: new CurrentTreeCatalog(new StoreCatalog(store), root) };
}

let simulator: RunningSimulator;
let root: string;

async function exportRun(runId: string, full: boolean): Promise<string> {
  const { store, catalog } = openFolderLake(root);
  return (await exportWith({ simulator, store, catalog, runId, full })).status;
}

const committed = (sql: string) => queryLake(root, sql);

beforeAll(async () => {
  simulator = await startSimulator({ seed: 5, experiments: 3, genes: [300, 500], samples: [3, 4] });
  root = await mkdtemp(join(tmpdir(), 'pluto-current-'));
  expect(await exportRun('run-1', false)).toBe('committed');
  // A full run writes every partition again: data/ now holds two copies of everything.
  expect(await exportRun('run-2', true)).toBe('committed');
});
afterAll(async () => {
  await simulator.close();
  await rm(root, { recursive: true, force: true });
});

describe('the current/ tree', () => {
  it('gives read_parquet exactly the committed rows of every experiment table after two runs', async () => {
    for (const table of ['assay', 'samples', 'experiments']) {
      const expected = await committed(
        `select experiment_id, count(*) as n from ${table} group by 1 order by 1`,
      );
      expect(expected.length).toBeGreaterThan(0);
      const read = await plainDuckdb(
        `select experiment_id, count(*) from read_parquet('${root}/current/${table}/*/*.parquet', hive_partitioning = true) group by 1 order by 1`,
      );
      expect(read.map(([id, n]) => ({ experiment_id: id, n: Number(n) }))).toEqual(
        expected.map((row) => ({ experiment_id: row.experiment_id, n: Number(row.n) })),
      );
      const [[everyRun]] = (await plainDuckdb(
        `select count(*) from read_parquet('${root}/data/${table}/*/*/*.parquet')`,
      )) as [[bigint]];
      const total = expected.reduce((sum, row) => sum + Number(row.n), 0);
      expect(Number(everyRun)).toBe(2 * total);
    }
  });

  it("answers the README's DuckDB query over current/ with the committed rows", async () => {
    const readme = await readFile('README.md', 'utf8');
    const documented = /^select .*read_parquet\('lake\/current\/.*;$/m.exec(readme)?.[0];
    expect(documented).toBeDefined();
    const rows = await plainDuckdb(
      (documented ?? '').replace("'lake/", `'${root}/`).replace(/;$/, ' order by 1'),
    );
    const expected = await committed('select experiment_id, count(*) as n from assay group by 1 order by 1');
    expect(rows.map(([id, n]) => [id, Number(n)])).toEqual(
      expected.map((r) => [r.experiment_id, Number(r.n)]),
    );
  });

  it('links each partition to the run folder the catalog points at, relative to the lake', async () => {
    const pointers = await openFolderLake(root).catalog.listPartitions('assay');
    expect(pointers.length).toBeGreaterThan(0);
    for (const pointer of pointers) {
      expect(pointer.runId).toBe('run-2');
      const link = await readlink(join(root, 'current', 'assay', `experiment_id=${pointer.partitionValue}`));
      expect(link).toBe(`../../data/assay/experiment_id=${pointer.partitionValue}/run_id=run-2`);
    }
  });

  it('is rebuilt from the catalog by sync when it was lost', async () => {
    await rm(join(root, 'current'), { recursive: true });
    await openFolderLake(root).catalog.sync();
    const [[count]] = (await plainDuckdb(
      `select count(*) from read_parquet('${root}/current/assay/*/*.parquet')`,
    )) as [[bigint]];
    const [row] = await committed('select count(*) as n from assay');
    expect(Number(count)).toBe(Number(row?.n));
  });
});
