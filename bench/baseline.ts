/**
 * The original design's way of writing the lake, kept as the benchmark's baseline: `JSON.parse`,
 * one JS object per tidy row, parquetjs-lite with the contract's columns (v1 pages, SNAPPY).
 */
import { Writable } from 'node:stream';
import parquet, { type ParquetField, type ParquetPrimitive } from 'parquetjs-lite';
import { type ColumnType, TABLES, type TableName } from '../functions/core/contract.js';

export type TidyRow = Record<string, string | number | boolean | null>;

const PRIMITIVE: Readonly<Record<ColumnType, ParquetPrimitive>> = {
  string: 'UTF8',
  double: 'DOUBLE',
  bigint: 'INT64',
  int: 'INT32',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP_MILLIS',
};

const schemas = new Map<TableName, InstanceType<typeof parquet.ParquetSchema>>();

/** The contract table as a parquetjs-lite schema: every column optional, SNAPPY. */
export function parquetjsSchema(table: TableName) {
  let schema = schemas.get(table);
  if (schema === undefined) {
    const fields: Record<string, ParquetField> = {};
    for (const column of TABLES[table].columns) {
      fields[column.name] = { type: PRIMITIVE[column.type], optional: true, compression: 'SNAPPY' };
    }
    schema = new parquet.ParquetSchema(fields);
    schemas.set(table, schema);
  }
  return schema;
}

const WRITER_OPTIONS = { useDataPageV2: false } as const;

async function appendAll(writer: InstanceType<typeof parquet.ParquetWriter>, rows: readonly TidyRow[]) {
  for (const row of rows) await writer.appendRow(row);
  await writer.close();
}

/** Encodes rows into Parquet bytes in memory. */
export async function parquetjsBytes(table: TableName, rows: readonly TidyRow[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  await appendAll(await parquet.ParquetWriter.openStream(parquetjsSchema(table), sink, WRITER_OPTIONS), rows);
  return Buffer.concat(chunks);
}

/** Encodes rows into a Parquet file. */
export async function parquetjsFile(table: TableName, rows: readonly TidyRow[], path: string): Promise<void> {
  await appendAll(await parquet.ParquetWriter.openFile(parquetjsSchema(table), path, WRITER_OPTIONS), rows);
}

/** `value` is the finite number, `value_text` the text whenever the cell is not a finite JSON number. */
export function splitCell(cell: unknown): { value: number | null; value_text: string | null } {
  if (typeof cell === 'number') {
    return Number.isFinite(cell)
      ? { value: cell, value_text: null }
      : { value: null, value_text: String(cell) };
  }
  if (cell === null || cell === undefined) return { value: null, value_text: null };
  const text = typeof cell === 'string' ? cell : JSON.stringify(cell);
  const n = text.trim() === '' ? Number.NaN : Number(text);
  return Number.isFinite(n) && String(n) === text
    ? { value: n, value_text: null }
    : { value: Number.isFinite(n) ? n : null, value_text: text };
}

function numberOrNull(cell: unknown): number | null {
  return splitCell(cell).value;
}

function textOrNull(cell: unknown): string | null {
  if (cell === null || cell === undefined) return null;
  return typeof cell === 'string' ? cell : JSON.stringify(cell);
}

/** A data page as `JSON.parse` gives it. */
export interface ParsedPage {
  readonly count: number;
  readonly headers: string[];
  readonly items: unknown[];
}

/** The cell of (row, header index), for both layouts of a data page. */
export function cellOf(page: ParsedPage, row: number, column: number): unknown {
  if (Array.isArray(page.items[0])) return (page.items[column] as unknown[])[row];
  return (page.items[row] as Record<string, unknown>)[page.headers[column] as string];
}

export function pageRowCount(page: ParsedPage): number {
  if (page.items.length === 0) return 0;
  return Array.isArray(page.items[0]) ? (page.items[0] as unknown[]).length : page.items.length;
}

export function meltAssayRows(page: ParsedPage, offset: number, out: TidyRow[]): void {
  const kind = page.headers[0] ?? null;
  for (let r = 0; r < pageRowCount(page); r++) {
    const featureId = textOrNull(cellOf(page, r, 0));
    for (let h = 1; h < page.headers.length; h++) {
      out.push({
        row_number: offset + r,
        feature_id: featureId,
        feature_kind: kind,
        sample_id: page.headers[h] as string,
        ...splitCell(cellOf(page, r, h)),
      });
    }
  }
}

export function meltSampleRows(page: ParsedPage, offset: number, out: TidyRow[]): void {
  for (let r = 0; r < pageRowCount(page); r++) {
    const sampleId = textOrNull(cellOf(page, r, 0));
    for (let h = 1; h < page.headers.length; h++) {
      const cell = cellOf(page, r, h);
      out.push({
        row_number: offset + r,
        sample_id: sampleId,
        attribute: page.headers[h] as string,
        value: textOrNull(cell),
        value_number: numberOrNull(cell),
      });
    }
  }
}

export interface PlotContext {
  readonly plotId: string;
  readonly analysisType: string | null;
  readonly pipelineVersion: string | null;
}

export function meltResultRows(page: ParsedPage, offset: number, plot: PlotContext, out: TidyRow[]): void {
  for (let r = 0; r < pageRowCount(page); r++) {
    const featureId = textOrNull(cellOf(page, r, 0));
    for (let h = 1; h < page.headers.length; h++) {
      out.push({
        plot_id: plot.plotId,
        analysis_type: plot.analysisType,
        row_number: offset + r,
        feature_id: featureId,
        column_name: page.headers[h] as string,
        ...splitCell(cellOf(page, r, h)),
      });
    }
  }
}

/** One typed row per result row, by the DE column names Pluto sends. */
export function meltDeRows(page: ParsedPage, plot: PlotContext, out: TidyRow[]): void {
  const at = (name: string) => page.headers.indexOf(name);
  const [gene, average, log2fc, p, padj] = [
    'Gene_Symbol',
    'Average_Expression',
    'Log2_Fold_Change',
    'P_Value',
    'Adj_P_Value',
  ].map(at) as [number, number, number, number, number];
  const number = (r: number, column: number) => (column < 0 ? null : numberOrNull(cellOf(page, r, column)));
  for (let r = 0; r < pageRowCount(page); r++) {
    out.push({
      plot_id: plot.plotId,
      analysis_type: plot.analysisType,
      feature_id: textOrNull(cellOf(page, r, 0)),
      gene_symbol: gene < 0 ? null : textOrNull(cellOf(page, r, gene)),
      average_expression: number(r, average),
      log2_fold_change: number(r, log2fc),
      p_value: number(r, p),
      adj_p_value: number(r, padj),
      pipeline_version: plot.pipelineVersion,
    });
  }
}
