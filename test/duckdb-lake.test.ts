import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LakeQuery, openLakeQuery, toJsonRows } from '../functions/adapters/duckdb-lake.js';
import { type ColumnType, TABLE_NAMES, TABLES, type TableName } from '../functions/core/contract.js';
import { StoreError } from '../functions/core/errors.js';
import { experimentRow, meltAssay, meltResults, meltSamples, TableRows } from '../functions/core/melt.js';
import { encodeParquet } from '../functions/core/parquet.js';
import type { Catalog, PartitionPointer } from '../functions/core/ports.js';
import { rowsPage } from './support/pages.js';

class MemoryCatalog implements Catalog {
  private readonly pointers = new Map<string, PartitionPointer>();

  async getPartition(table: TableName, partitionValue: string): Promise<PartitionPointer | undefined> {
    return this.pointers.get(`${table}/${partitionValue}`);
  }

  async putPartitions(pointers: readonly PartitionPointer[]): Promise<void> {
    for (const pointer of pointers) this.pointers.set(`${pointer.table}/${pointer.partitionValue}`, pointer);
  }

  async deletePartitions(table: TableName, partitionValues: readonly string[]): Promise<void> {
    for (const value of partitionValues) this.pointers.delete(`${table}/${value}`);
  }

  async listPartitions(table: TableName): Promise<PartitionPointer[]> {
    return [...this.pointers.values()].filter((pointer) => pointer.table === table);
  }
}

const VIEW_TYPE: Record<ColumnType, string> = {
  string: 'VARCHAR',
  double: 'DOUBLE',
  bigint: 'BIGINT',
  int: 'INTEGER',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

const location = (table: TableName, key: string, runId: string) =>
  TABLES[table].partitionKey === 'run_id'
    ? `data/${table}/run_id=${runId}/`
    : `data/${table}/experiment_id=${key}/run_id=${runId}/`;

let root: string;
let catalog: MemoryCatalog;
let lake: LakeQuery;

async function writePart(table: TableName, key: string, runId: string, name: string, rows: TableRows) {
  const folder = join(root, location(table, key, runId));
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, `part-${name}.parquet`), encodeParquet(table, rows.columns(), rows.rowCount));
}

function samples(rows: unknown[][], offset = 0): TableRows {
  const out = new TableRows('samples');
  meltSamples(rowsPage(['sample_id', 'tissue', 'Dose mg'], rows, offset), out);
  return out;
}

function experiment(id: string, runId: string): TableRows {
  const out = new TableRows('experiments');
  out.appendRow(
    experimentRow(
      { pluto_id: id, name: `Experiment ${id}`, created_at: '2023-03-14T15:09:26.535Z' },
      { projectId: null, sampleRows: 2, assayRows: 2, runId, exportedAt: new Date('2024-05-01T00:00:00Z') },
    ),
  );
  return out;
}

function exportLog(experimentIds: string[]): TableRows {
  const out = new TableRows('export_log');
  for (const experimentId of experimentIds) {
    out.appendRow({
      experiment_id: experimentId,
      dataset: 'samples',
      plot_id: null,
      status: 'exported',
      api_count: 9007199254740993n,
      rows_written: 4,
      parts: 1,
      bytes: 100,
      error_code: null,
      error_detail: null,
      error_details: null,
      started_at: Date.parse('2024-05-01T00:00:00Z'),
      finished_at: Date.parse('2024-05-01T00:01:00Z'),
    });
  }
  return out;
}

async function point(table: TableName, partitionValue: string, runId: string) {
  await catalog.putPartitions([
    { table, partitionValue, runId, location: location(table, partitionValue, runId) },
  ]);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duckdb-lake-'));
  catalog = new MemoryCatalog();

  // PLX1: superseded run R0, current run R1 (samples in two parts).
  await writePart('samples', 'PLX1', 'R0', 'samples-00000', samples([['OLD', 'stale', 0]]));
  await writePart('experiments', 'PLX1', 'R0', 'experiment-00000', experiment('PLX1', 'R0'));
  await writePart('samples', 'PLX1', 'R1', 'samples-00000', samples([['S1', 'liver', 1.5]]));
  await writePart('samples', 'PLX1', 'R1', 'samples-00001', samples([['S2', 'Zellkultur – ü', 'NA']], 1));
  await writePart('experiments', 'PLX1', 'R1', 'experiment-00000', experiment('PLX1', 'R1'));
  const assay = new TableRows('assay');
  meltAssay(rowsPage(['gene_symbol', 'S1', 'S2'], [['TP53', 1, 'NA']]), assay);
  await writePart('assay', 'PLX1', 'R1', 'assay-00000', assay);
  const results = new TableRows('results');
  const de = new TableRows('differential_expression');
  meltResults(
    rowsPage(['Gene_Symbol', 'Log2_Fold_Change', 'P_Value'], [['TP53', -1.5, 0.01]]),
    {
      plotId: 'plot-1',
      analysisId: 'analysis-1',
      analysisType: 'differential_expression',
      pipelineVersion: '1',
    },
    results,
    de,
  );
  await writePart('results', 'PLX1', 'R1', 'plot-plot-1-00000', results);
  await writePart('differential_expression', 'PLX1', 'R1', 'plot-plot-1-00000', de);

  // PLX2: current run R2.
  await writePart('samples', 'PLX2', 'R2', 'samples-00000', samples([['S1', 'brain', 2]]));
  await writePart('experiments', 'PLX2', 'R2', 'experiment-00000', experiment('PLX2', 'R2'));

  // PLX3: written but never committed, so not in the catalog.
  await writePart('samples', 'PLX3', 'R2', 'samples-00000', samples([['S9', 'uncommitted', 9]]));

  await writePart('export_log', 'R1', 'R1', 'export_log-00000', exportLog(['PLX1']));
  await writePart('export_log', 'R2', 'R2', 'export_log-00000', exportLog(['PLX2', 'PLX3']));

  // Files that are not committed parts: an in-flight temporary and a stray note.
  await writeFile(join(root, location('samples', 'PLX1', 'R1'), '.part-samples-00002.parquet'), 'partial');
  await writeFile(join(root, location('samples', 'PLX1', 'R1'), 'notes.txt'), 'not a part');

  for (const table of ['samples', 'experiments', 'assay', 'results', 'differential_expression'] as const) {
    await point(table, 'PLX1', 'R1');
  }
  await point('samples', 'PLX2', 'R2');
  await point('experiments', 'PLX2', 'R2');
  await point('export_log', 'R1', 'R1');
  await point('export_log', 'R2', 'R2');
  lake = await openLakeQuery({ root, catalog });
});

afterAll(async () => {
  lake.close();
  await rm(root, { recursive: true, force: true });
});

async function expectContractViews(query: LakeQuery): Promise<void> {
  for (const table of TABLE_NAMES) {
    const described = await query.query(`DESCRIBE ${table}`);
    expect(described.map((c) => [c.column_name, c.column_type])).toEqual([
      ...TABLES[table].columns.map((c) => [c.name, VIEW_TYPE[c.type]]),
      [TABLES[table].partitionKey, 'VARCHAR'],
    ]);
  }
}

describe('openLakeQuery', () => {
  it('has one view per contract table with the contract columns and the partition key', async () => {
    await expectContractViews(lake);
    const views = await lake.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name",
    );
    expect(views.map((v) => v.table_name)).toEqual([...TABLE_NAMES].sort());
  });

  it('reads only the current partitions, with the experiment_id of their pointer', async () => {
    const rows = toJsonRows(
      await lake.query(
        'SELECT experiment_id, row_number, sample_id, attribute, value, value_number FROM samples ORDER BY ALL',
      ),
    );
    expect(rows).toEqual([
      {
        experiment_id: 'PLX1',
        row_number: 0,
        sample_id: 'S1',
        attribute: 'Dose mg',
        value: '1.5',
        value_number: 1.5,
      },
      {
        experiment_id: 'PLX1',
        row_number: 0,
        sample_id: 'S1',
        attribute: 'tissue',
        value: 'liver',
        value_number: null,
      },
      {
        experiment_id: 'PLX1',
        row_number: 1,
        sample_id: 'S2',
        attribute: 'Dose mg',
        value: 'NA',
        value_number: null,
      },
      {
        experiment_id: 'PLX1',
        row_number: 1,
        sample_id: 'S2',
        attribute: 'tissue',
        value: 'Zellkultur – ü',
        value_number: null,
      },
      {
        experiment_id: 'PLX2',
        row_number: 0,
        sample_id: 'S1',
        attribute: 'Dose mg',
        value: '2',
        value_number: 2,
      },
      {
        experiment_id: 'PLX2',
        row_number: 0,
        sample_id: 'S1',
        attribute: 'tissue',
        value: 'brain',
        value_number: null,
      },
    ]);
  });

  it('keeps the experiments run_id column apart from the partition key', async () => {
    const rows = toJsonRows(
      await lake.query(
        'SELECT experiment_id, run_id, name, created_at, exported_at FROM experiments ORDER BY 1',
      ),
    );
    expect(rows).toEqual([
      {
        experiment_id: 'PLX1',
        run_id: 'R1',
        name: 'Experiment PLX1',
        created_at: '2023-03-14T15:09:26.535Z',
        exported_at: '2024-05-01T00:00:00.000Z',
      },
      {
        experiment_id: 'PLX2',
        run_id: 'R2',
        name: 'Experiment PLX2',
        created_at: '2023-03-14T15:09:26.535Z',
        exported_at: '2024-05-01T00:00:00.000Z',
      },
    ]);
  });

  it('partitions export_log by run_id and keeps its experiment_id column', async () => {
    const rows = toJsonRows(
      await lake.query('SELECT run_id, experiment_id, api_count, started_at FROM export_log ORDER BY ALL'),
    );
    expect(rows).toEqual([
      {
        run_id: 'R1',
        experiment_id: 'PLX1',
        api_count: '9007199254740993',
        started_at: '2024-05-01T00:00:00.000Z',
      },
      {
        run_id: 'R2',
        experiment_id: 'PLX2',
        api_count: '9007199254740993',
        started_at: '2024-05-01T00:00:00.000Z',
      },
      {
        run_id: 'R2',
        experiment_id: 'PLX3',
        api_count: '9007199254740993',
        started_at: '2024-05-01T00:00:00.000Z',
      },
    ]);
  });

  it('joins across tables like Athena would', async () => {
    const rows = toJsonRows(
      await lake.query(`
        SELECT e.experiment_id, count(DISTINCT a.feature_id) AS features, max(a.value) AS max_value,
               max(d.log2_fold_change) AS lfc, count(DISTINCT r.column_name) AS result_columns
        FROM experiments e
        LEFT JOIN assay a USING (experiment_id)
        LEFT JOIN differential_expression d USING (experiment_id)
        LEFT JOIN results r USING (experiment_id)
        GROUP BY ALL ORDER BY 1`),
    );
    expect(rows).toEqual([
      { experiment_id: 'PLX1', features: 1, max_value: 1, lfc: -1.5, result_columns: 2 },
      { experiment_id: 'PLX2', features: 0, max_value: null, lfc: null, result_columns: 0 },
    ]);
  });

  it('follows the catalog: repointing PLX1 samples to R0 shows the superseded rows', async () => {
    await point('samples', 'PLX1', 'R0');
    const repointed = await openLakeQuery({ root, catalog });
    try {
      const rows = toJsonRows(
        await repointed.query(
          "SELECT sample_id, value FROM samples WHERE experiment_id = 'PLX1' ORDER BY ALL",
        ),
      );
      expect(rows).toEqual([
        { sample_id: 'OLD', value: '0' },
        { sample_id: 'OLD', value: 'stale' },
      ]);
    } finally {
      repointed.close();
      await point('samples', 'PLX1', 'R1');
    }
  });

  it('fails with StoreError when a pointer names a folder that is gone', async () => {
    const broken = new MemoryCatalog();
    await broken.putPartitions([
      { table: 'assay', partitionValue: 'PLX9', runId: 'R9', location: location('assay', 'PLX9', 'R9') },
    ]);
    const opening = openLakeQuery({ root, catalog: broken });
    await expect(opening).rejects.toThrow(StoreError);
    await expect(opening).rejects.toThrow('assay partition PLX9 points at');
  });

  it('works on an empty lake: every view exists, typed, with zero rows', async () => {
    const emptyRoot = await mkdtemp(join(tmpdir(), 'duckdb-lake-empty-'));
    const empty = await openLakeQuery({ root: emptyRoot, catalog: new MemoryCatalog() });
    try {
      await expectContractViews(empty);
      for (const table of TABLE_NAMES) {
        expect(toJsonRows(await empty.query(`SELECT count(*) AS n FROM ${table}`))).toEqual([{ n: 0 }]);
      }
    } finally {
      empty.close();
      await rm(emptyRoot, { recursive: true, force: true });
    }
  });
});

describe('toJsonRows', () => {
  it('makes DuckDB values JSON-safe without losing digits', async () => {
    const rows = toJsonRows(
      await lake.query(`
        SELECT 9007199254740991::BIGINT AS safe, 9007199254740993::BIGINT AS big, (-9007199254740993)::BIGINT AS neg,
               170141183460469231731687303715884105727::HUGEINT AS huge, 12.50::DECIMAL(10, 2) AS dec,
               TIMESTAMP '2024-01-05 12:34:56.789123' AS ts, TIMESTAMPTZ '2024-01-05 12:34:56.789+02' AS tstz,
               TIMESTAMP '1969-12-31 23:59:59.999999' AS before_epoch, 'infinity'::TIMESTAMP AS inf_ts,
               DATE '2024-02-29' AS d, 'NaN'::DOUBLE AS nan, [1, 9007199254740993]::BIGINT[] AS list,
               {'a': 1, 'b': 'x'} AS struct, NULL AS nothing, true AS flag, 'ü 🧬' AS text`),
    );
    expect(rows).toEqual([
      {
        safe: 9007199254740991,
        big: '9007199254740993',
        neg: '-9007199254740993',
        huge: '170141183460469231731687303715884105727',
        dec: 12.5,
        ts: '2024-01-05T12:34:56.789123Z',
        tstz: '2024-01-05T10:34:56.789Z',
        before_epoch: '1969-12-31T23:59:59.999999Z',
        inf_ts: 'infinity',
        d: '2024-02-29',
        nan: 'NaN',
        list: [1, '9007199254740993'],
        struct: { a: 1, b: 'x' },
        nothing: null,
        flag: true,
        text: 'ü 🧬',
      },
    ]);
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
  });
});
