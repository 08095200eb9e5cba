/**
 * Three ways from JSON page text to tidy Parquet, producing the same tables from the same pages:
 * ours (the exporter's own code path), parquetjs-lite (the baseline) and DuckDB (the reference).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { TableName } from '../functions/core/contract.js';
import {
  isDifferentialExpression,
  meltAssay,
  meltResults,
  type ResultsContext,
  TableRows,
} from '../functions/core/melt.js';
import { ParquetStreamEncoder } from '../functions/core/parquet.js';
import { toDataPage } from '../functions/core/pluto/data-page.js';
import { parseJsonLossless } from '../functions/core/pluto/json.js';
import {
  meltAssayRows,
  meltDeRows,
  meltResultRows,
  type ParsedPage,
  parquetjsBytes,
  type TidyRow,
} from './baseline.js';
import type { Shape } from './data.js';
import { EXPORT_SETTINGS } from './deps.js';

export type EncoderName = 'ours' | 'parquetjs-lite' | 'duckdb';

/** One Parquet file an encoder produced: in memory (`data`) or on disk (`path`). */
export interface EncodedTable {
  readonly table: TableName;
  readonly data?: Uint8Array;
  readonly path?: string;
}

export interface Encoder {
  readonly name: EncoderName;
  /** `work` is an empty folder the encoder may write into. */
  encode(shape: Shape, work: string): Promise<EncodedTable[]>;
  close(): void;
}

function plotOf(shape: Shape): ResultsContext {
  if (shape.plot === undefined) throw new Error(`${shape.name} has no plot`);
  return shape.plot;
}

/** The exporter's own path: each page melted and handed to the streaming encoder, row groups as in a slot. */
export const oursEncoder: Encoder = {
  name: 'ours',
  async encode(shape) {
    const primaryTable = shape.name === 'assay' ? 'assay' : 'results';
    const withDe = isDifferentialExpression(shape.headers);
    const tables: TableName[] = withDe ? [primaryTable, 'differential_expression'] : [primaryTable];
    const encoders = tables.map((table) => new ParquetStreamEncoder(table, EXPORT_SETTINGS.rowGroupRows));
    const outputs = encoders.map((encoder) => collect(encoder.bytes));
    const primary = new TableRows(primaryTable);
    const de = withDe ? new TableRows('differential_expression') : undefined;
    for (const page of shape.pages) {
      const where = `bench/${shape.name}?offset=${page.offset}`;
      const parsed = toDataPage(parseJsonLossless(page.text), page.offset, page.limit, where);
      if (shape.name === 'assay') meltAssay(parsed, primary);
      else meltResults(parsed, plotOf(shape), primary, de);
      await encoders[0]?.write(primary);
      primary.clear();
      if (de !== undefined) {
        await encoders[1]?.write(de);
        de.clear();
      }
    }
    for (const encoder of encoders) await encoder.end();
    const files = await Promise.all(outputs);
    return tables.map((table, i) => ({ table, data: files[i] }));
  },
  close() {},
};

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

export const parquetjsEncoder: Encoder = {
  name: 'parquetjs-lite',
  async encode(shape) {
    const primary: TidyRow[] = [];
    const de: TidyRow[] = [];
    for (const page of shape.pages) {
      const parsed = JSON.parse(page.text) as ParsedPage;
      if (shape.name === 'assay') {
        meltAssayRows(parsed, page.offset, primary);
      } else {
        meltResultRows(parsed, page.offset, plotOf(shape), primary);
        meltDeRows(parsed, plotOf(shape), de);
      }
    }
    if (shape.name === 'assay') return [{ table: 'assay', data: await parquetjsBytes('assay', primary) }];
    return [
      { table: 'results', data: await parquetjsBytes('results', primary) },
      { table: 'differential_expression', data: await parquetjsBytes('differential_expression', de) },
    ];
  },
  close() {},
};

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const literal = (text: string | null) => (text === null ? 'NULL' : `'${text.replaceAll("'", "''")}'`);

/**
 * DuckDB: the page bodies go to files as received, `read_json` reads them, UNPIVOT melts them and
 * COPY writes Parquet. DuckDB runs on every core; the other two encoders use one.
 */
export async function createDuckdbEncoder(): Promise<Encoder & { threads: number }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(
    'CREATE MACRO finite(x) AS CASE WHEN isfinite(TRY_CAST(x AS DOUBLE)) THEN TRY_CAST(x AS DOUBLE) END',
  );
  const threads = Number(
    (await connection.runAndReadAll("SELECT current_setting('threads') AS t")).getRowObjectsJS()[0]?.t,
  );
  return {
    name: 'duckdb',
    threads,
    async encode(shape, work) {
      const files: string[] = [];
      for (const page of shape.pages) {
        const file = join(work, `page-${page.offset}.json`);
        await writeFile(file, page.text);
        files.push(file);
      }
      return shape.name === 'assay'
        ? duckAssay(connection, shape, files, work)
        : duckResults(connection, shape, files, work);
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

function pagesSql(files: readonly string[]): string {
  const list = files.map(literal).join(', ');
  return `SELECT CAST(regexp_extract(filename, 'page-(\\d+)\\.json$', 1) AS BIGINT) AS page_offset, items
    FROM read_json([${list}], filename = true, maximum_object_size = 1073741824)`;
}

const COPY_OPTIONS = '(FORMAT parquet, COMPRESSION snappy)';

async function duckAssay(
  connection: DuckDBConnection,
  shape: Shape,
  files: readonly string[],
  work: string,
): Promise<EncodedTable[]> {
  const key = shape.headers[0] as string;
  const path = join(work, 'assay.parquet');
  await connection.run(`COPY (
    WITH pages AS (${pagesSql(files)}),
    wide AS (
      SELECT unnest(range(page_offset, page_offset + len(items))) AS row_number, unnest(items) AS item FROM pages
    ),
    cells AS (SELECT row_number, unnest(item) FROM wide),
    tidy AS (
      FROM cells UNPIVOT INCLUDE NULLS (cell FOR sample_id IN (COLUMNS(* EXCLUDE (row_number, ${ident(key)}))))
    )
    SELECT row_number, ${ident(key)} AS feature_id, ${literal(key)} AS feature_kind, sample_id,
      finite(cell) AS value, CASE WHEN finite(cell) IS NULL THEN cell ->> '$' END AS value_text
    FROM tidy
  ) TO ${literal(path)} ${COPY_OPTIONS}`);
  return [{ table: 'assay', path }];
}

async function duckResults(
  connection: DuckDBConnection,
  shape: Shape,
  files: readonly string[],
  work: string,
): Promise<EncodedTable[]> {
  const plot = plotOf(shape);
  const [key, ...measures] = shape.headers as [string, ...string[]];
  const unnested = shape.headers.map((h, i) => `unnest(items[${i + 1}]) AS ${ident(h)}`).join(', ');
  await connection.run(`CREATE OR REPLACE TEMP TABLE de_wide AS
    WITH pages AS (${pagesSql(files)})
    SELECT unnest(range(page_offset, page_offset + len(items[1]))) AS row_number, ${unnested} FROM pages`);
  const resultsPath = join(work, 'results.parquet');
  const dePath = join(work, 'differential_expression.parquet');
  const context = `${literal(plot.plotId)} AS plot_id, ${literal(plot.analysisType)} AS analysis_type`;
  await connection.run(`COPY (
    WITH tidy AS (
      FROM de_wide UNPIVOT INCLUDE NULLS (cell FOR column_name IN (COLUMNS(* EXCLUDE (row_number, ${ident(key)}))))
    )
    SELECT ${context}, row_number, ${ident(key)} ->> '$' AS feature_id, column_name,
      finite(cell) AS value, CASE WHEN finite(cell) IS NULL THEN cell ->> '$' END AS value_text
    FROM tidy
  ) TO ${literal(resultsPath)} ${COPY_OPTIONS}`);
  const measure = (name: string) => (measures.includes(name) ? `finite(${ident(name)})` : 'NULL');
  await connection.run(`COPY (
    SELECT ${context}, ${ident(key)} ->> '$' AS feature_id, ${ident(key)} ->> '$' AS gene_symbol,
      ${measure('Average_Expression')} AS average_expression, ${measure('Log2_Fold_Change')} AS log2_fold_change,
      ${measure('P_Value')} AS p_value, ${measure('Adj_P_Value')} AS adj_p_value,
      ${literal(plot.pipelineVersion)} AS pipeline_version
    FROM de_wide
  ) TO ${literal(dePath)} ${COPY_OPTIONS}`);
  return [
    { table: 'results', path: resultsPath },
    { table: 'differential_expression', path: dePath },
  ];
}

/** What a table holds, summarised by DuckDB reading the file back: equal digests mean equal data. */
export interface TableDigest {
  readonly table: TableName;
  readonly rows: number;
  readonly bytes: number;
  readonly numbers: number;
  readonly texts: number;
  readonly sum: number;
  readonly distinctNames: number;
}

const DIGEST_SQL: Partial<Record<TableName, (file: string) => string>> = {
  assay: (f) =>
    `SELECT count(*) AS rows, count(value) AS numbers, count(value_text) AS texts, sum(value) AS sum,
      count(DISTINCT sample_id) AS names FROM read_parquet(${literal(f)})`,
  results: (f) =>
    `SELECT count(*) AS rows, count(value) AS numbers, count(value_text) AS texts, sum(value) AS sum,
      count(DISTINCT column_name) AS names FROM read_parquet(${literal(f)})`,
  differential_expression: (f) =>
    `SELECT count(*) AS rows, count(log2_fold_change) + count(adj_p_value) AS numbers,
      count(gene_symbol) AS texts, sum(log2_fold_change) AS sum, count(DISTINCT plot_id) AS names
      FROM read_parquet(${literal(f)})`,
};

/** Reads every output back with DuckDB (outside any timing). */
export async function digestOutputs(
  connection: DuckDBConnection,
  outputs: readonly EncodedTable[],
  work: string,
): Promise<TableDigest[]> {
  const digests: TableDigest[] = [];
  for (const output of outputs) {
    let path = output.path;
    if (path === undefined) {
      path = join(work, `verify-${output.table}.parquet`);
      await writeFile(path, output.data ?? new Uint8Array());
    }
    const bytes = output.data ?? new Uint8Array(await readFile(path));
    const sql = DIGEST_SQL[output.table];
    if (sql === undefined) throw new Error(`no digest for ${output.table}`);
    const row = (await connection.runAndReadAll(sql(path))).getRowObjectsJS()[0] ?? {};
    const rows = Number(row.rows);
    // DuckDB reads the footer too: parquet-wasm's reader refuses parquetjs-lite's column indexes.
    const footer = (
      await connection.runAndReadAll(`SELECT num_rows FROM parquet_file_metadata('${path}')`)
    ).getRowObjectsJS()[0];
    if (Number(footer?.num_rows) !== rows) throw new Error(`${path}: footer and data disagree on rows`);
    digests.push({
      table: output.table,
      rows,
      bytes: bytes.byteLength,
      numbers: Number(row.numbers),
      texts: Number(row.texts),
      sum: Number(row.sum),
      distinctNames: Number(row.names),
    });
  }
  return digests;
}

/** Empty when the digests agree; else what differs. */
export function compareDigests(a: readonly TableDigest[], b: readonly TableDigest[]): string[] {
  const problems: string[] = [];
  if (a.length !== b.length) return [`${a.length} tables against ${b.length}`];
  a.forEach((x, i) => {
    const y = b[i] as TableDigest;
    for (const field of ['table', 'rows', 'numbers', 'texts', 'distinctNames'] as const) {
      if (x[field] !== y[field]) problems.push(`${x.table}.${field}: ${x[field]} vs ${y[field]}`);
    }
    if (Math.abs(x.sum - y.sum) > 1e-9 * Math.max(1, Math.abs(x.sum))) {
      problems.push(`${x.table}.sum: ${x.sum} vs ${y.sum}`);
    }
  });
  return problems;
}
