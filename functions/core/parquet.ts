/**
 * The Parquet writer (design.md, Lake contract): contract columns to an Arrow table, written by parquet-wasm with
 * v1 data pages, SNAPPY, dictionary encoding and statistics.
 *
 * Timestamps are Arrow Timestamp(MILLISECOND, "UTC"), i.e. Parquet INT64 TIMESTAMP(MILLIS,
 * isAdjustedToUTC=true): Athena and Glue read millisecond timestamps (not micros) as `timestamp`,
 * DuckDB reads the column as TIMESTAMP WITH TIME ZONE.
 */
import { createHash } from 'node:crypto';
import {
  Bool,
  type Data,
  type DataType,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  tableToIPC,
  Utf8,
} from 'apache-arrow';
import {
  Compression,
  EnabledStatistics,
  ParquetFile,
  transformParquetStream,
  type RecordBatch as WasmRecordBatch,
  Table as WasmTable,
  WriterPropertiesBuilder,
  WriterVersion,
  writeParquet,
} from 'parquet-wasm';
import { type CellValue, type ColumnarRows, type ColumnType, TABLES, type TableName } from './contract.js';
import { ContractError } from './errors.js';
import { maskSecrets } from './secrets.js';

const CREATED_BY = 'pluto-export';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TWO_POW_32 = 4294967296;

function arrowType(type: ColumnType): DataType {
  switch (type) {
    case 'string':
      return new Dictionary(new Utf8(), new Int32());
    case 'double':
      return new Float64();
    case 'bigint':
      return new Int64();
    case 'int':
      return new Int32();
    case 'boolean':
      return new Bool();
    case 'timestamp':
      return new TimestampMillisecond('UTC');
  }
}

/** The Arrow schema of a contract table (partition keys are paths, not columns). */
function arrowSchema(table: TableName): Schema {
  return new Schema(TABLES[table].columns.map((c) => new Field(c.name, arrowType(c.type), true)));
}

/** Digest of the table's columns, contract types and Arrow types: equal digests mean one schema. */
export function tableSchemaFingerprint(table: TableName): string {
  const columns = TABLES[table].columns.map((c) => [c.name, c.type, String(arrowType(c.type))]);
  return createHash('sha256').update(JSON.stringify({ table, columns })).digest('hex');
}

interface ColumnContext {
  readonly table: TableName;
  readonly column: string;
}

function badCell(ctx: ColumnContext, row: number, expected: string, value: unknown): ContractError {
  const shown = typeof value === 'bigint' ? `${value}n` : JSON.stringify(value);
  return new ContractError(
    `${ctx.table}.${ctx.column} row ${row}: expected ${expected}, got ${typeof value} ${shown}`,
  );
}

class Validity {
  readonly bits: Uint8Array;
  nulls = 0;
  constructor(length: number) {
    this.bits = new Uint8Array((length + 7) >> 3);
  }
  set(i: number): void {
    this.bits[i >> 3] = (this.bits[i >> 3] as number) | (1 << (i & 7));
  }
  /** Arrow wants no bitmap at all when nothing is null. */
  bitmap(): Uint8Array | undefined {
    return this.nulls === 0 ? undefined : this.bits;
  }
}

const textEncoder = new TextEncoder();

function utf8Vector(strings: readonly string[]) {
  let capacity = 0;
  for (const s of strings) capacity += s.length * 3;
  const bytes = new Uint8Array(capacity);
  const offsets = new Int32Array(strings.length + 1);
  let end = 0;
  for (let i = 0; i < strings.length; i++) {
    end += textEncoder.encodeInto(strings[i] as string, bytes.subarray(end)).written;
    offsets[i + 1] = end;
  }
  return makeVector(
    makeData({
      type: new Utf8(),
      length: strings.length,
      valueOffsets: offsets,
      data: bytes.subarray(0, end),
    }),
  );
}

function dictionaryData(type: Dictionary<Utf8, Int32>, values: readonly CellValue[], ctx: ColumnContext) {
  const n = values.length;
  const indices = new Int32Array(n);
  const validity = new Validity(n);
  const lookup = new Map<string, number>();
  const uniques: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) {
      validity.nulls++;
      continue;
    }
    if (typeof v !== 'string') throw badCell(ctx, i, 'a string', v);
    let index = lookup.get(v);
    if (index === undefined) {
      index = uniques.length;
      lookup.set(v, index);
      uniques.push(v);
    }
    indices[i] = index;
    validity.set(i);
  }
  return makeData({
    type,
    length: n,
    nullCount: validity.nulls,
    nullBitmap: validity.bitmap(),
    data: indices,
    // Every string cell of every part is a dictionary entry: masking the entries masks them all.
    dictionary: utf8Vector(uniques.map(maskSecrets)),
  });
}

function float64Data(type: Float64, values: readonly CellValue[], ctx: ColumnContext) {
  const n = values.length;
  const data = new Float64Array(n);
  const validity = new Validity(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) {
      validity.nulls++;
      continue;
    }
    if (typeof v !== 'number') throw badCell(ctx, i, 'a number', v);
    data[i] = v;
    validity.set(i);
  }
  return makeData({ type, length: n, nullCount: validity.nulls, nullBitmap: validity.bitmap(), data });
}

/** INT64 cells (bigint and timestamp columns): numbers are written as two 32-bit halves, avoiding a BigInt per cell. */
function int64Values(values: readonly CellValue[], ctx: ColumnContext, expected: string) {
  const n = values.length;
  const data = new BigInt64Array(n);
  const halves = new Uint32Array(data.buffer);
  const validity = new Validity(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) {
      validity.nulls++;
      continue;
    }
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw badCell(ctx, i, expected, v);
      if (v >= 0) {
        halves[2 * i] = v % TWO_POW_32;
        halves[2 * i + 1] = Math.floor(v / TWO_POW_32);
      } else {
        data[i] = BigInt(v);
      }
    } else if (typeof v === 'bigint') {
      if (v < INT64_MIN || v > INT64_MAX) throw badCell(ctx, i, expected, v);
      data[i] = v;
    } else {
      throw badCell(ctx, i, expected, v);
    }
    validity.set(i);
  }
  return { data, validity };
}

function int32Data(type: Int32, values: readonly CellValue[], ctx: ColumnContext) {
  const n = values.length;
  const data = new Int32Array(n);
  const validity = new Validity(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) {
      validity.nulls++;
      continue;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw badCell(ctx, i, 'a 32-bit integer', v);
    }
    data[i] = v;
    validity.set(i);
  }
  return makeData({ type, length: n, nullCount: validity.nulls, nullBitmap: validity.bitmap(), data });
}

function boolData(type: Bool, values: readonly CellValue[], ctx: ColumnContext) {
  const n = values.length;
  const data = new Uint8Array((n + 7) >> 3);
  const validity = new Validity(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) {
      validity.nulls++;
      continue;
    }
    if (typeof v !== 'boolean') throw badCell(ctx, i, 'a boolean', v);
    if (v) data[i >> 3] = (data[i >> 3] as number) | (1 << (i & 7));
    validity.set(i);
  }
  return makeData({ type, length: n, nullCount: validity.nulls, nullBitmap: validity.bitmap(), data });
}

function columnData(field: Field, type: ColumnType, values: readonly CellValue[], ctx: ColumnContext): Data {
  switch (type) {
    case 'string':
      return dictionaryData(field.type as Dictionary<Utf8, Int32>, values, ctx);
    case 'double':
      return float64Data(field.type as Float64, values, ctx);
    case 'int':
      return int32Data(field.type as Int32, values, ctx);
    case 'boolean':
      return boolData(field.type as Bool, values, ctx);
    case 'bigint': {
      const { data, validity } = int64Values(values, ctx, 'a 64-bit integer');
      return makeData({
        type: field.type as Int64,
        length: values.length,
        nullCount: validity.nulls,
        nullBitmap: validity.bitmap(),
        data,
      });
    }
    case 'timestamp': {
      const { data, validity } = int64Values(values, ctx, 'epoch milliseconds');
      return makeData({
        type: field.type as TimestampMillisecond,
        length: values.length,
        nullCount: validity.nulls,
        nullBitmap: validity.bitmap(),
        data,
      });
    }
  }
}

function writerProperties(rowGroupRows?: number) {
  const builder = new WriterPropertiesBuilder()
    .setWriterVersion(WriterVersion.V1)
    .setCompression(Compression.SNAPPY)
    .setDictionaryEnabled(true)
    .setStatisticsEnabled(EnabledStatistics.Page)
    .setCreatedBy(CREATED_BY);
  return (rowGroupRows === undefined ? builder : builder.setMaxRowGroupSize(rowGroupRows)).build();
}

/** Builds the Arrow table of a contract table; cells are checked against the column types. */
function arrowTable(table: TableName, rows: ColumnarRows, rowCount: number): Table {
  const definition = TABLES[table];
  const schema = arrowSchema(table);
  const known = new Set(definition.columns.map((c) => c.name));
  for (const name of Object.keys(rows)) {
    if (!known.has(name)) throw new ContractError(`${table}: ${name} is not a column of the contract`);
  }
  const children = definition.columns.map((column, i) => {
    const values = rows[column.name];
    if (values === undefined) throw new ContractError(`${table}: column ${column.name} is missing`);
    if (values.length !== rowCount) {
      throw new ContractError(`${table}.${column.name}: ${values.length} cells for ${rowCount} rows`);
    }
    return columnData(schema.fields[i] as Field, column.type, values, { table, column: column.name });
  });
  const struct = makeData({ type: new Struct(schema.fields), length: rowCount, nullCount: 0, children });
  return new Table(schema, [new RecordBatch(schema, struct)]);
}

/** Encodes one Parquet file (one part) holding the rows of a contract table. */
export function encodeParquet(table: TableName, rows: ColumnarRows, rowCount: number): Uint8Array {
  const ipc = tableToIPC(arrowTable(table, rows, rowCount), 'stream');
  return writeParquet(WasmTable.fromIPCStream(ipc), writerProperties());
}

/**
 * One Parquet file encoded while its rows arrive: each `write` hands over a batch (a page's melted
 * rows), and the file's bytes come out of `bytes` a row group at a time, every `rowGroupRows`
 * rows. What is held is the batch being encoded, at most one waiting, and the encoded row group
 * being filled, whatever the file's size. Same properties as `encodeParquet`.
 */
export class ParquetStreamEncoder {
  readonly bytes: AsyncIterable<Uint8Array>;
  private controller!: ReadableStreamDefaultController<WasmRecordBatch>;
  private pulled: (() => void) | undefined;
  private failure: { readonly error: unknown } | undefined;
  private readonly failed: Promise<never>;
  private rejectFailed!: (error: unknown) => void;
  private readonly encoded: Promise<ReadableStream<Uint8Array>>;
  private reading = false;
  private batches = 0;
  private ended = false;

  constructor(
    private readonly table: TableName,
    rowGroupRows: number,
  ) {
    const input = new ReadableStream<WasmRecordBatch>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => {
          this.pulled?.();
          this.pulled = undefined;
        },
      },
      { highWaterMark: 1 },
    );
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => undefined);
    this.encoded = transformParquetStream(input, writerProperties(rowGroupRows));
    this.bytes = this.output();
  }

  /** Resolves once the encoder has room for the next batch; rejects once the encoder has failed. */
  async write(rows: ColumnarRows, rowCount: number): Promise<void> {
    this.throwIfFailed();
    if (this.ended) throw new Error(`${this.table}: write after end`);
    this.enqueue(rows, rowCount);
    while ((this.controller.desiredSize ?? 0) <= 0) {
      await Promise.race([new Promise<void>((resolve) => (this.pulled = resolve)), this.failed]);
    }
  }

  /** No more rows: the footer follows the last row group. */
  async end(): Promise<void> {
    this.throwIfFailed();
    this.close();
  }

  /** Stops the encoding: `bytes` and every waiting `write` throw `error`. */
  fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = { error };
    this.rejectFailed(error);
    // The encoder is left to finish on an ended input, its output read and dropped: an input
    // error, or output nobody reads, would leave its task in WebAssembly pending for good.
    if (!this.ended) this.close();
    if (!this.reading) {
      this.reading = true;
      void this.encoded.then((stream) => discardRest(stream.getReader()));
    }
  }

  private enqueue(rows: ColumnarRows, rowCount: number): void {
    const table = WasmTable.fromIPCStream(tableToIPC(arrowTable(this.table, rows, rowCount), 'stream'));
    const batch = table.recordBatch(0);
    table.free();
    if (batch === undefined) throw new ContractError(`${this.table}: the Arrow table has no record batch`);
    this.controller.enqueue(batch);
    this.batches++;
  }

  /** The schema comes from the first batch: a file without rows (or an input ended early) gets an empty one. */
  private close(): void {
    if (this.batches === 0) this.enqueue(emptyColumns(this.table), 0);
    this.ended = true;
    this.controller.close();
  }

  private async *output(): AsyncGenerator<Uint8Array> {
    this.throwIfFailed();
    this.reading = true;
    const reader = (await this.encoded).getReader();
    let finished = false;
    try {
      for (;;) {
        const next = await Promise.race([reader.read(), this.failed]);
        if (next.done) {
          finished = true;
          return;
        }
        yield next.value;
      }
    } catch (error) {
      this.fail(error);
      throw error;
    } finally {
      if (!finished) void discardRest(reader);
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}

async function discardRest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    while (!(await reader.read()).done) {
      // Dropped: the part this encoder was writing has been abandoned.
    }
  } catch {
    // The encoder failed on its own; there is nothing left to read.
  }
}

function emptyColumns(table: TableName): ColumnarRows {
  return Object.fromEntries(TABLES[table].columns.map((column) => [column.name, []]));
}

/**
 * Rows in a Parquet file, read by parquet-wasm from its footer (FileMetaData.num_rows) without
 * decoding any page.
 */
export async function parquetRowCount(bytes: Uint8Array): Promise<number> {
  let file: ParquetFile;
  try {
    file = await ParquetFile.fromFile(new Blob([bytes]));
  } catch (cause) {
    throw new ContractError('not a Parquet file: its footer cannot be read', { cause });
  }
  const metadata = file.metadata();
  const fileMetadata = metadata.fileMetadata();
  try {
    return fileMetadata.numRows();
  } finally {
    fileMetadata.free();
    metadata.free();
    file.free();
  }
}
