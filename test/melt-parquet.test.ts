import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type JS } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CellValue,
  type ColumnarRows,
  type ColumnType,
  TABLE_NAMES,
  TABLES,
  type TableName,
} from '../functions/core/contract.js';
import { ContractError } from '../functions/core/errors.js';
import {
  experimentRow,
  isDifferentialExpression,
  meltAssay,
  meltResults,
  meltSamples,
  parseTimestamp,
  plotRow,
  TableRows,
} from '../functions/core/melt.js';
import { encodeParquet, parquetRowCount, tableSchemaFingerprint } from '../functions/core/parquet.js';
import { LosslessNumber, type PlutoExperiment, type PlutoPlot } from '../functions/core/pluto/model.js';
import { columnsPage, rowsPage } from './support/pages.js';

let dir: string;
let instance: DuckDBInstance;
let duck: DuckDBConnection;
let fileCounter = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'melt-parquet-'));
  instance = await DuckDBInstance.create(':memory:');
  duck = await instance.connect();
  await duck.run("SET TimeZone = 'UTC'");
});

afterAll(async () => {
  duck.closeSync();
  instance.closeSync();
  await rm(dir, { recursive: true, force: true });
});

async function sql(query: string): Promise<Record<string, JS>[]> {
  return (await duck.runAndReadAll(query)).getRowObjectsJS();
}

/** Writes the rows as a Parquet file and reads them back with DuckDB, in file order. */
async function roundTrip(
  table: TableName,
  rows: TableRows,
): Promise<{ file: string; back: Record<string, JS>[] }> {
  const bytes = encodeParquet(table, rows.columns(), rows.rowCount);
  expect(await parquetRowCount(bytes)).toBe(rows.rowCount);
  fileCounter += 1;
  const file = join(dir, `${table}-${fileCounter}.parquet`);
  await writeFile(file, bytes);
  return { file, back: await sql(`SELECT * FROM read_parquet('${file}')`) };
}

function comparable(value: JS | CellValue | undefined, type: ColumnType): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'bigint') return BigInt(value as number | bigint);
  if (type === 'timestamp') return value instanceof Date ? value.getTime() : value;
  return value;
}

/** Every cell read back equals the cell written, column by column, row by row. */
function expectSameCells(table: TableName, written: ColumnarRows, back: Record<string, JS>[]): void {
  const columns = TABLES[table].columns;
  expect(Object.keys(back[0] ?? Object.fromEntries(columns.map((c) => [c.name, null])))).toEqual(
    columns.map((c) => c.name),
  );
  back.forEach((row, r) => {
    for (const column of columns) {
      expect(comparable(row[column.name], column.type), `${column.name} row ${r}`).toEqual(
        comparable(written[column.name]?.[r], column.type),
      );
    }
  });
}

const BIG = '12345678901234567890';

describe('meltSamples', () => {
  const headers = [
    'sample_id',
    'Zellkultur – ü',
    'Gene',
    'gene',
    'dose.mg',
    'Has Spaces',
    'big',
    'flag',
    'note 🧬',
  ];
  const rows = [
    ['S1', 'HeLa', 'TP53', 'tp53', 2.5, 'NA', new LosslessNumber(BIG), true, 'ok 🧪'],
    ['S-2 ü', null, 'BRCA1', '', '0.10', 'Inf', -3, false, null],
  ];

  it('melts every cell with its exact text and number, and DuckDB reads it back value by value', async () => {
    const out = new TableRows('samples');
    meltSamples(rowsPage(headers, rows, 100), out);
    expect(out.rowCount).toBe(16);
    const { back } = await roundTrip('samples', out);
    expectSameCells('samples', out.columns(), back);
    const tidy = back.map((row) => [
      Number(row.row_number),
      row.sample_id,
      row.attribute,
      row.value,
      row.value_number,
    ]);
    expect(tidy).toEqual([
      [100, 'S1', 'Zellkultur – ü', 'HeLa', null],
      [100, 'S1', 'Gene', 'TP53', null],
      [100, 'S1', 'gene', 'tp53', null],
      [100, 'S1', 'dose.mg', '2.5', 2.5],
      [100, 'S1', 'Has Spaces', 'NA', null],
      [100, 'S1', 'big', BIG, Number(BIG)],
      [100, 'S1', 'flag', 'true', null],
      [100, 'S1', 'note 🧬', 'ok 🧪', null],
      [101, 'S-2 ü', 'Zellkultur – ü', null, null],
      [101, 'S-2 ü', 'Gene', 'BRCA1', null],
      [101, 'S-2 ü', 'gene', '', null],
      [101, 'S-2 ü', 'dose.mg', '0.10', 0.1],
      [101, 'S-2 ü', 'Has Spaces', 'Inf', null],
      [101, 'S-2 ü', 'big', '-3', -3],
      [101, 'S-2 ü', 'flag', 'false', null],
      [101, 'S-2 ü', 'note 🧬', null, null],
    ]);
    const distinct = await sql(
      `SELECT count(DISTINCT attribute) AS n FROM read_parquet('${join(dir, `samples-${fileCounter}.parquet`)}')`,
    );
    expect(distinct).toEqual([{ n: 8n }]);
  });

  it('appends pages in order into one accumulator', () => {
    const out = new TableRows('samples');
    meltSamples(rowsPage(headers, rows.slice(0, 1), 0), out);
    meltSamples(rowsPage(headers, rows.slice(1), 1), out);
    expect(out.rowCount).toBe(16);
    expect(out.columns().row_number).toEqual([...Array(8).fill(0), ...Array(8).fill(1)]);
  });

  it('refuses an object or array cell, naming the dataset, row and header', () => {
    const out = new TableRows('samples');
    const page = rowsPage(
      ['sample_id', 'meta'],
      [
        ['S1', 'x'],
        ['S2', { nested: 1 }],
      ],
      40,
    );
    expect(() => meltSamples(page, out)).toThrow(ContractError);
    expect(() => meltSamples(page, out)).toThrow('samples row 41, header "meta": an object cannot be stored');
    const ids = rowsPage(['sample_id', 'a'], [[['S1'], 1]]);
    expect(() => meltSamples(ids, new TableRows('samples'))).toThrow(
      'samples row 0, header "sample_id": an array cannot be stored',
    );
  });
});

describe('meltAssay', () => {
  const headers = ['gene_symbol', 'Gene', 'gene', 'Sample.1 (rep A)', 'Zellkultur – ü'];
  const cells: unknown[][] = [
    ['TP53', 1.5, 'NA', 'NaN', null],
    ['BRCA1', 'Inf', '-Inf', new LosslessNumber('9007199254740993'), '2.50'],
    ['🧬 MYC', '3', 'free text', true, 1e-300],
    ['ZZZ', 0, -0.25, '1e3', new LosslessNumber('1.0000000000000000000001')],
  ];
  const expected = [
    ['TP53', 'Gene', 1.5, null],
    ['TP53', 'gene', null, 'NA'],
    ['TP53', 'Sample.1 (rep A)', null, 'NaN'],
    ['TP53', 'Zellkultur – ü', null, null],
    ['BRCA1', 'Gene', null, 'Inf'],
    ['BRCA1', 'gene', null, '-Inf'],
    ['BRCA1', 'Sample.1 (rep A)', 9007199254740992, '9007199254740993'],
    ['BRCA1', 'Zellkultur – ü', 2.5, '2.50'],
    ['🧬 MYC', 'Gene', 3, null],
    ['🧬 MYC', 'gene', null, 'free text'],
    ['🧬 MYC', 'Sample.1 (rep A)', null, 'true'],
    ['🧬 MYC', 'Zellkultur – ü', 1e-300, null],
    ['ZZZ', 'Gene', 0, null],
    ['ZZZ', 'gene', -0.25, null],
    ['ZZZ', 'Sample.1 (rep A)', 1000, '1e3'],
    ['ZZZ', 'Zellkultur – ü', 1, '1.0000000000000000000001'],
  ];

  it('keeps numbers in value and any text value cannot give back in value_text (row pages)', async () => {
    const out = new TableRows('assay');
    meltAssay(rowsPage(headers, cells, 7), out);
    const { back } = await roundTrip('assay', out);
    expectSameCells('assay', out.columns(), back);
    expect(back.map((row) => [row.feature_id, row.sample_id, row.value, row.value_text])).toEqual(expected);
    expect(new Set(back.map((row) => row.feature_kind))).toEqual(new Set(['gene_symbol']));
    expect(back.map((row) => Number(row.row_number))).toEqual([
      7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10,
    ]);
  });

  it('gives the same rows for a column-major page', () => {
    const byRows = new TableRows('assay');
    meltAssay(rowsPage(headers, cells, 7), byRows);
    const byColumns = new TableRows('assay');
    meltAssay(
      columnsPage(
        headers,
        headers.map((_, i) => cells.map((row) => row[i])),
        7,
      ),
      byColumns,
    );
    expect(byColumns.columns()).toEqual(byRows.columns());
  });

  it('round-trips a large page: counts and checksums equal in DuckDB', async () => {
    const samples = Array.from({ length: 36 }, (_, s) => `sample_${s}`);
    const rows = Array.from({ length: 2000 }, (_, f) => [
      `GENE${f}`,
      ...samples.map((_, s) => ((f * 37 + s) % 97 === 0 ? 'NA' : (f * 36 + s) / 8)),
    ]);
    const out = new TableRows('assay');
    meltAssay(rowsPage(['gene_symbol', ...samples], rows), out);
    const values = out.columns().value as (number | null)[];
    const sum = values.reduce<number>((acc, v) => acc + (v ?? 0), 0);
    const nas = (out.columns().value_text as (string | null)[]).filter((t) => t === 'NA').length;
    const { file } = await roundTrip('assay', out);
    const [stats] = await sql(
      `SELECT count(*) AS n, sum(value) AS s, count(*) FILTER (value_text = 'NA') AS na,
              count(DISTINCT feature_id) AS features, count(DISTINCT sample_id) AS samples
       FROM read_parquet('${file}')`,
    );
    expect(stats).toEqual({ n: 72000n, s: sum, na: BigInt(nas), features: 2000n, samples: 36n });
    expect(nas).toBeGreaterThan(0);
  });
});

describe('meltResults and differential_expression', () => {
  const ctx = {
    plotId: 'plot-1',
    analysisId: 'analysis-1',
    analysisType: 'differential_expression',
    pipelineVersion: '2.1.0',
  };

  it('melts DE results into results and one typed row per feature', async () => {
    const headers = ['Gene_Symbol', 'Average_Expression', 'Log2_Fold_Change', 'P_Value', 'Adj_P_Value'];
    const rows = [
      ['TP53', 7.25, -1.5, 0.001, 0.01],
      ['BRCA1', 'NA', 2, '1e-8', 'NA'],
      ['Gene', 3, new LosslessNumber('12345678901234567890'), null, 0.5],
    ];
    expect(isDifferentialExpression(headers)).toBe(true);
    const results = new TableRows('results');
    const de = new TableRows('differential_expression');
    meltResults(rowsPage(headers, rows), ctx, results, de);
    const { back } = await roundTrip('results', results);
    expectSameCells('results', results.columns(), back);
    expect(
      back
        .filter((row) => row.feature_id === 'BRCA1')
        .map((row) => [row.column_name, row.value, row.value_text]),
    ).toEqual([
      ['Average_Expression', null, 'NA'],
      ['Log2_Fold_Change', 2, null],
      ['P_Value', 1e-8, null],
      ['Adj_P_Value', null, 'NA'],
    ]);
    expect(new Set(back.map((row) => `${row.plot_id}|${row.analysis_type}`))).toEqual(
      new Set(['plot-1|differential_expression']),
    );
    const deBack = (await roundTrip('differential_expression', de)).back;
    expectSameCells('differential_expression', de.columns(), deBack);
    expect(deBack).toEqual([
      {
        plot_id: 'plot-1',
        analysis_id: 'analysis-1',
        analysis_type: 'differential_expression',
        feature_id: 'TP53',
        gene_symbol: 'TP53',
        average_expression: 7.25,
        log2_fold_change: -1.5,
        p_value: 0.001,
        adj_p_value: 0.01,
        pipeline_version: '2.1.0',
      },
      {
        plot_id: 'plot-1',
        analysis_id: 'analysis-1',
        analysis_type: 'differential_expression',
        feature_id: 'BRCA1',
        gene_symbol: 'BRCA1',
        average_expression: null,
        log2_fold_change: 2,
        p_value: 1e-8,
        adj_p_value: null,
        pipeline_version: '2.1.0',
      },
      {
        plot_id: 'plot-1',
        analysis_id: 'analysis-1',
        analysis_type: 'differential_expression',
        feature_id: 'Gene',
        gene_symbol: 'Gene',
        average_expression: 3,
        log2_fold_change: 12345678901234567000,
        p_value: null,
        adj_p_value: 0.5,
        pipeline_version: '2.1.0',
      },
    ]);
  });

  it.each([
    {
      headers: ['peak_id', 'gene', 'baseMean', 'log2FoldChange', 'pvalue', 'padj'],
      row: ['chr1:100-200', 'MYC', 10, 1.25, 0.02, 0.04],
      want: ['chr1:100-200', 'MYC', 10, 1.25, 0.02, 0.04],
    },
    {
      headers: ['feature', 'symbol', 'AveExpr', 'logFC', 'P.Value', 'adj.P.Val'],
      row: ['F1', 'EGFR', 5, -0.5, 0.3, 0.6],
      want: ['F1', 'EGFR', 5, -0.5, 0.3, 0.6],
    },
    {
      headers: ['id', 'avg_expr', 'log2fc', 'p_val', 'FDR'],
      row: ['X9', 1, 2, 0.5, 0.9],
      want: ['X9', null, 1, 2, 0.5, 0.9],
    },
    {
      headers: ['Gene_Name', 'log2_fc', 'qvalue'],
      row: ['KRAS', 3.5, '0.07'],
      want: ['KRAS', 'KRAS', null, 3.5, null, 0.07],
    },
  ])('maps DE columns by normalized name: $headers', ({ headers, row, want }) => {
    const results = new TableRows('results');
    const de = new TableRows('differential_expression');
    meltResults(
      columnsPage(
        headers,
        row.map((cell) => [cell]),
      ),
      ctx,
      results,
      de,
    );
    const cols = de.columns();
    const got = [
      'feature_id',
      'gene_symbol',
      'average_expression',
      'log2_fold_change',
      'p_value',
      'adj_p_value',
    ].map((name) => cols[name]?.[0]);
    expect(got).toEqual(want);
    expect(results.rowCount).toBe(headers.length - 1);
  });

  it('does not produce DE rows for other analyses (PCA), only results', () => {
    const headers = ['Sample_ID', 'PC1', 'PC2', 'group_id', 'group_name'];
    expect(isDifferentialExpression(headers)).toBe(false);
    const results = new TableRows('results');
    const de = new TableRows('differential_expression');
    meltResults(
      rowsPage(headers, [['S1', 0.5, -0.25, 1, 'ctrl']]),
      { ...ctx, analysisType: 'pca' },
      results,
      de,
    );
    expect(de.rowCount).toBe(0);
    expect(results.columns().column_name).toEqual(['PC1', 'PC2', 'group_id', 'group_name']);
    expect(results.columns().value).toEqual([0.5, -0.25, 1, null]);
    expect(results.columns().value_text).toEqual([null, null, null, 'ctrl']);
  });

  it('refuses two headers mapping to one DE field, naming both', () => {
    const headers = ['Gene', 'log2FoldChange', 'Log2_Fold_Change'];
    const run = () =>
      meltResults(
        rowsPage(headers, [['A', 1, 1]]),
        ctx,
        new TableRows('results'),
        new TableRows('differential_expression'),
      );
    expect(run).toThrow(ContractError);
    expect(run).toThrow(
      '"log2FoldChange" and "Log2_Fold_Change" both map to differential_expression.log2_fold_change',
    );
  });

  it('refuses an object cell in results, naming the plot dataset', () => {
    const run = () =>
      meltResults(rowsPage(['Gene', 'logFC'], [['A', { x: 1 }]], 5), ctx, new TableRows('results'));
    expect(run).toThrow('plot:plot-1 row 5, header "logFC": an object cannot be stored');
  });
});

describe('experimentRow and plotRow', () => {
  const experiment: PlutoExperiment = {
    pluto_id: 'PLX140206',
    name: 'Zellkultur – ü 🧬',
    organism: { shortname: 'human' },
    type: { shortname: 'rnaseq' },
    share_level: 'lab',
    status: 'complete',
    assay_data_units: { units: { shortname: 'counts' } },
    plot_count: 3,
    experiment_owner: { first_name: ' Ada ', last_name: 'Lovelace' },
    created_by: { first_name: null, last_name: null },
    created_at: '2023-03-14T15:09:26.535897+02:00',
    user_permissions: ['view'],
    extra_field: { nested: [1, 2] },
  };

  it('builds the experiments row and round-trips it, timestamps and raw JSON included', async () => {
    const rows = new TableRows('experiments');
    rows.appendRow(
      experimentRow(experiment, {
        projectId: 'P1',
        sampleRows: 12,
        assayRows: 2 ** 40,
        runId: 'run-1',
        exportedAt: new Date('2024-05-01T00:00:00.123Z'),
      }),
    );
    const { back } = await roundTrip('experiments', rows);
    expectSameCells('experiments', rows.columns(), back);
    expect(back[0]).toMatchObject({
      project_id: 'P1',
      name: 'Zellkultur – ü 🧬',
      organism: 'human',
      experiment_type: 'rnaseq',
      assay_data_units: 'counts',
      plot_count: 3,
      owner_name: 'Ada Lovelace',
      created_by_name: null,
      created_at: new Date('2023-03-14T13:09:26.535Z'),
      sample_rows: 12n,
      assay_rows: 1099511627776n,
      run_id: 'run-1',
      exported_at: new Date('2024-05-01T00:00:00.123Z'),
    });
    expect(JSON.parse(back[0]?.raw_json as string)).toEqual(experiment);
  });

  it('parses ISO timestamps to UTC epoch milliseconds and refuses anything else', () => {
    expect(parseTimestamp('2023-03-14T15:09:26.535897Z', 'x')).toBe(Date.UTC(2023, 2, 14, 15, 9, 26, 535));
    expect(parseTimestamp('2023-03-14T15:09:26', 'x')).toBe(Date.UTC(2023, 2, 14, 15, 9, 26));
    expect(parseTimestamp('2023-03-14 15:09:26-0530', 'x')).toBe(Date.UTC(2023, 2, 14, 20, 39, 26));
    expect(parseTimestamp('2024-02-29', 'x')).toBe(Date.UTC(2024, 1, 29));
    expect(parseTimestamp(undefined, 'x')).toBeNull();
    expect(parseTimestamp('  ', 'x')).toBeNull();
    for (const bad of ['yesterday', '2023-02-29T00:00:00Z', '2023-13-01', '2023-01-01T25:00:00Z']) {
      expect(() => parseTimestamp(bad, 'experiment created_at')).toThrow(ContractError);
    }
    expect(() => experimentRow({ ...experiment, created_at: 'last tuesday' }, extras())).toThrow(
      'experiment PLX140206 created_at: "last tuesday" is not an ISO 8601 timestamp',
    );
    const absent = experimentRow({ pluto_id: 'PLX1' }, extras());
    expect(absent).toMatchObject({ created_at: null, owner_name: null, name: null, plot_count: null });
  });

  it('builds plots rows', async () => {
    const plot: PlutoPlot = {
      uuid: 'p-1',
      analysis_type: 'differential_expression',
      analysis: { uuid: 'a-1', name: 'DE vs ctrl', pipeline_status: 'complete', pipeline_version: 3 },
      display: { display_type: 'volcano_plot_v2', plot_title: 'Volcano – ü', is_archived: false },
      share_level: 'lab',
      status: 'published',
    };
    const rows = new TableRows('plots');
    rows.appendRow(plotRow(plot, 20000));
    rows.appendRow(plotRow({ uuid: 'p-2', analysis: { id: 17 } } as PlutoPlot, null));
    const { back } = await roundTrip('plots', rows);
    expectSameCells('plots', rows.columns(), back);
    expect(
      back.map((row) => [
        row.plot_id,
        row.analysis_id,
        row.pipeline_version,
        row.is_archived,
        row.result_rows,
      ]),
    ).toEqual([
      ['p-1', 'a-1', '3', false, 20000n],
      ['p-2', '17', null, null, null],
    ]);
    expect(JSON.parse(back[0]?.raw_json as string)).toEqual(plot);
  });

  function extras() {
    return { projectId: null, sampleRows: 0, assayRows: 0, runId: 'r', exportedAt: new Date(0) };
  }
});

describe('encodeParquet', () => {
  it('encodes every table with zero rows, with the contract columns and types', async () => {
    const duckType: Record<ColumnType, string> = {
      string: 'VARCHAR',
      double: 'DOUBLE',
      bigint: 'BIGINT',
      int: 'INTEGER',
      boolean: 'BOOLEAN',
      timestamp: 'TIMESTAMP WITH TIME ZONE',
    };
    for (const table of TABLE_NAMES) {
      const { file, back } = await roundTrip(table, new TableRows(table));
      expect(back).toEqual([]);
      const described = await sql(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
      expect(described.map((c) => [c.column_name, c.column_type])).toEqual(
        TABLES[table].columns.map((c) => [c.name, duckType[c.type]]),
      );
    }
  });

  it('keeps 64-bit integers beyond 2^53 exact and nulls in every type', async () => {
    const rows = new TableRows('export_log');
    const base = {
      experiment_id: 'PLX1',
      dataset: 'assay',
      plot_id: null,
      status: 'exported',
      parts: 2,
      error_code: null,
      error_detail: null,
      error_details: null,
    };
    rows.appendRow({
      ...base,
      api_count: 9007199254740993n,
      rows_written: -(2n ** 63n),
      bytes: 2n ** 63n - 1n,
      started_at: Date.UTC(2024, 0, 1, 12, 0, 0, 1),
      finished_at: null,
    });
    rows.appendRow({
      ...base,
      api_count: 2 ** 53 - 1,
      rows_written: -5,
      bytes: null,
      started_at: -1,
      finished_at: 0,
    });
    const { file, back } = await roundTrip('export_log', rows);
    expectSameCells('export_log', rows.columns(), back);
    const exact = await sql(
      `SELECT api_count::VARCHAR AS a, rows_written::VARCHAR AS r, bytes::VARCHAR AS b FROM read_parquet('${file}')`,
    );
    expect(exact).toEqual([
      { a: '9007199254740993', r: '-9223372036854775808', b: '9223372036854775807' },
      { a: '9007199254740991', r: '-5', b: null },
    ]);
  });

  it('writes dictionary-encoded UTF8 strings, SNAPPY, statistics and v1 data pages', async () => {
    const out = new TableRows('assay');
    meltAssay(
      rowsPage(
        ['gene_symbol', 'b', 'a'],
        [
          ['TP53', 1, 'NA'],
          ['BRCA1', 2.5, 3],
        ],
      ),
      out,
    );
    const { file } = await roundTrip('assay', out);
    const columns = await sql(
      `SELECT path_in_schema AS name, type, encodings, compression, stats_min_value AS min, stats_max_value AS max,
              stats_null_count AS nulls, dictionary_page_offset AS dict, data_page_offset AS data
       FROM parquet_metadata('${file}') ORDER BY column_id`,
    );
    expect(columns.map((c) => c.name)).toEqual(TABLES.assay.columns.map((c) => c.name));
    const bytes = await readFile(file);
    for (const column of columns) {
      expect(column.compression).toBe('SNAPPY');
      expect(column.dict).not.toBeNull();
      expect(String(column.encodings)).toContain('RLE_DICTIONARY');
      // Thrift compact PageHeader: field 1 (type, i32) = zigzag(PageType); DATA_PAGE = 0, DATA_PAGE_V2 = 3.
      expect([...bytes.subarray(Number(column.data), Number(column.data) + 2)]).toEqual([0x15, 0x00]);
      expect([...bytes.subarray(Number(column.dict), Number(column.dict) + 2)]).toEqual([0x15, 0x04]);
    }
    const byName = Object.fromEntries(columns.map((c) => [c.name, c]));
    expect(byName.feature_id).toMatchObject({ type: 'BYTE_ARRAY', min: 'BRCA1', max: 'TP53', nulls: 0n });
    expect(byName.value).toMatchObject({ type: 'DOUBLE', min: '1.0', max: '3.0', nulls: 1n });
    expect(byName.value_text).toMatchObject({ min: 'NA', max: 'NA', nulls: 3n });
    expect(byName.row_number).toMatchObject({ type: 'INT64', min: '0', max: '1' });
    const schema = await sql(
      `SELECT name, converted_type FROM parquet_schema('${file}') WHERE type = 'BYTE_ARRAY'`,
    );
    expect(schema).toEqual(
      ['feature_id', 'feature_kind', 'sample_id', 'value_text'].map((name) => ({
        name,
        converted_type: 'UTF8',
      })),
    );
    const [meta] = await sql(
      `SELECT created_by, format_version, num_rows FROM parquet_file_metadata('${file}')`,
    );
    expect(meta).toEqual({ created_by: 'pluto-export', format_version: 1n, num_rows: 4n });
  });

  it('refuses cells that do not fit their column, and columns outside the contract', async () => {
    const one = (overrides: Record<string, CellValue[]>) => ({
      row_number: [0],
      sample_id: ['S1'],
      attribute: ['a'],
      value: ['x'],
      value_number: [null],
      ...overrides,
    });
    expect(() => encodeParquet('samples', one({ value_number: ['1.5'] }), 1)).toThrow(
      'samples.value_number row 0: expected a number, got string "1.5"',
    );
    expect(() => encodeParquet('samples', one({ row_number: [1.5] }), 1)).toThrow(ContractError);
    expect(() => encodeParquet('samples', one({ row_number: [2n ** 64n] }), 1)).toThrow(ContractError);
    expect(() => encodeParquet('samples', one({ value: [7] }), 1)).toThrow(ContractError);
    expect(() => encodeParquet('samples', one({ extra: [1] }), 1)).toThrow(
      'extra is not a column of the contract',
    );
    expect(() => encodeParquet('samples', one({ attribute: [] }), 1)).toThrow(
      'samples.attribute: 0 cells for 1 rows',
    );
    const notParquet = parquetRowCount(new TextEncoder().encode('not parquet at all'));
    await expect(notParquet).rejects.toThrow(ContractError);
    await expect(notParquet).rejects.toThrow('not a Parquet file: its footer cannot be read');
  });

  it('fingerprints each table schema stably', () => {
    const prints = TABLE_NAMES.map(tableSchemaFingerprint);
    expect(prints.every((p) => /^[0-9a-f]{64}$/.test(p))).toBe(true);
    expect(new Set(prints).size).toBe(TABLE_NAMES.length);
    expect(TABLE_NAMES.map(tableSchemaFingerprint)).toEqual(prints);
  });
});
