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
  AsyncByteQueue,
  Bool,
  Data,
  type DataType,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  makeData,
  makeVector,
  RecordBatch,
  RecordBatchStreamWriter,
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
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

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

/**
 * The cells of one contract column, appended one at a time into typed arrays that grow by
 * doubling and are kept for the next batch once `reset`: a slot melts every page into the same
 * arrays instead of allocating arrays of boxed values per batch. Each cell is checked against the
 * column's type as it is appended.
 */
export abstract class ColumnBuilder {
  length = 0;
  protected nulls = 0;
  protected capacity = 0;
  private validity = new Uint8Array(0);

  constructor(readonly ctx: ColumnContext) {}

  push(value: CellValue): void {
    if (this.length === this.capacity) this.grow(Math.max(1024, this.capacity * 2));
    const i = this.length;
    if (value === null) {
      this.nulls++;
      this.setNull(i);
    } else {
      this.set(i, value);
      this.validity[i >> 3] = (this.validity[i >> 3] as number) | (1 << (i & 7));
    }
    this.length = i + 1;
  }

  /** The Arrow data of the cells so far; it views this builder's arrays, so it is used before `reset`. */
  abstract data(): Data;

  /** The cells as values (numbers for INT64 cells a double holds exactly). */
  cells(): CellValue[] {
    const out: CellValue[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) {
      out[i] = ((this.validity[i >> 3] as number) >> (i & 7)) & 1 ? this.get(i) : null;
    }
    return out;
  }

  reset(): void {
    this.validity.fill(0, 0, (this.length + 7) >> 3);
    this.length = 0;
    this.nulls = 0;
  }

  protected abstract set(i: number, value: Exclude<CellValue, null>): void;
  protected abstract get(i: number): CellValue;
  protected setNull(_i: number): void {}

  protected grow(capacity: number): void {
    this.validity = grown(this.validity, (capacity + 7) >> 3);
    this.capacity = capacity;
  }

  /** Arrow wants no bitmap at all when nothing is null. */
  protected nullBitmap(): Uint8Array | undefined {
    return this.nulls === 0 ? undefined : this.validity.subarray(0, (this.length + 7) >> 3);
  }

  protected bad(expected: string, value: unknown): ContractError {
    return badCell(this.ctx, this.length, expected, value);
  }
}

function grown<T extends Uint8Array | Int32Array | Float64Array | BigInt64Array>(
  array: T,
  length: number,
): T {
  const next = new (array.constructor as new (length: number) => T)(length);
  next.set(array as never);
  return next;
}

class DictionaryColumn extends ColumnBuilder {
  private indices = new Int32Array(0);
  private readonly lookup = new Map<string, number>();
  private uniques: string[] = [];

  constructor(
    ctx: ColumnContext,
    private readonly type: Dictionary<Utf8, Int32>,
  ) {
    super(ctx);
  }

  protected set(i: number, value: Exclude<CellValue, null>): void {
    if (typeof value !== 'string') throw this.bad('a string', value);
    let index = this.lookup.get(value);
    if (index === undefined) {
      index = this.uniques.length;
      this.lookup.set(value, index);
      this.uniques.push(value);
    }
    this.indices[i] = index;
  }

  protected override setNull(i: number): void {
    this.indices[i] = 0;
  }

  protected get(i: number): CellValue {
    return this.uniques[this.indices[i] as number] ?? null;
  }

  protected override grow(capacity: number): void {
    super.grow(capacity);
    this.indices = grown(this.indices, capacity);
  }

  override reset(): void {
    super.reset();
    this.lookup.clear();
    this.uniques = [];
  }

  data(): Data {
    return makeData({
      type: this.type,
      length: this.length,
      nullCount: this.nulls,
      nullBitmap: this.nullBitmap(),
      data: this.indices.subarray(0, this.length),
      // Every string cell of every part is a dictionary entry: masking the entries masks them all.
      dictionary: utf8Vector(this.uniques.map(maskSecrets)),
    });
  }
}

/**
 * A column whose cells are one typed array of values (a null's slot is left as it is: Arrow and
 * Parquet read no value under a null).
 */
abstract class ValuesColumn<T extends Float64 | Int32 | Int64 | TimestampMillisecond> extends ColumnBuilder {
  constructor(
    ctx: ColumnContext,
    private readonly type: T,
    protected values: T['TArray'],
  ) {
    super(ctx);
  }

  protected override grow(capacity: number): void {
    super.grow(capacity);
    this.values = grown(this.values, capacity);
  }

  data(): Data {
    return new Data(this.type, 0, this.length, this.nulls, [
      undefined,
      this.values.subarray(0, this.length),
      this.nullBitmap(),
    ]);
  }
}

class Float64Column extends ValuesColumn<Float64> {
  constructor(ctx: ColumnContext, type: Float64) {
    super(ctx, type, new Float64Array(0));
  }

  protected set(i: number, value: Exclude<CellValue, null>): void {
    if (typeof value !== 'number') throw this.bad('a number', value);
    this.values[i] = value;
  }

  protected get(i: number): CellValue {
    return this.values[i] as number;
  }
}

class Int32Column extends ValuesColumn<Int32> {
  constructor(ctx: ColumnContext, type: Int32) {
    super(ctx, type, new Int32Array(0));
  }

  protected set(i: number, value: Exclude<CellValue, null>): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < -2147483648 || value > 2147483647) {
      throw this.bad('a 32-bit integer', value);
    }
    this.values[i] = value;
  }

  protected get(i: number): CellValue {
    return this.values[i] as number;
  }
}

/** INT64 cells (bigint and timestamp columns): numbers are written as two 32-bit halves, avoiding a BigInt per cell. */
class Int64Column extends ValuesColumn<Int64 | TimestampMillisecond> {
  private halves: Uint32Array = new Uint32Array(0);

  constructor(
    ctx: ColumnContext,
    type: Int64 | TimestampMillisecond,
    private readonly expected: string,
  ) {
    super(ctx, type, new BigInt64Array(0));
  }

  protected set(i: number, value: Exclude<CellValue, null>): void {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw this.bad(this.expected, value);
      if (value >= 0) {
        this.halves[2 * i] = value % TWO_POW_32;
        this.halves[2 * i + 1] = Math.floor(value / TWO_POW_32);
      } else {
        this.values[i] = BigInt(value);
      }
    } else if (typeof value === 'bigint') {
      if (value < INT64_MIN || value > INT64_MAX) throw this.bad(this.expected, value);
      this.values[i] = value;
    } else {
      throw this.bad(this.expected, value);
    }
  }

  protected get(i: number): CellValue {
    const value = this.values[i] as bigint;
    return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
  }

  protected override grow(capacity: number): void {
    super.grow(capacity);
    this.halves = new Uint32Array(this.values.buffer);
  }
}

class BoolColumn extends ColumnBuilder {
  private bits = new Uint8Array(0);

  constructor(
    ctx: ColumnContext,
    private readonly type: Bool,
  ) {
    super(ctx);
  }

  protected set(i: number, value: Exclude<CellValue, null>): void {
    if (typeof value !== 'boolean') throw this.bad('a boolean', value);
    if (value) this.bits[i >> 3] = (this.bits[i >> 3] as number) | (1 << (i & 7));
  }

  protected get(i: number): CellValue {
    return (((this.bits[i >> 3] as number) >> (i & 7)) & 1) === 1;
  }

  protected override grow(capacity: number): void {
    super.grow(capacity);
    this.bits = grown(this.bits, (capacity + 7) >> 3);
  }

  override reset(): void {
    this.bits.fill(0, 0, (this.length + 7) >> 3);
    super.reset();
  }

  data(): Data {
    const bits = this.bits.subarray(0, (this.length + 7) >> 3);
    return new Data(this.type, 0, this.length, this.nulls, [undefined, bits, this.nullBitmap()]);
  }
}

/** The builder of a contract column, for the Arrow field of its type. */
function columnBuilder(field: Field, type: ColumnType, ctx: ColumnContext): ColumnBuilder {
  switch (type) {
    case 'string':
      return new DictionaryColumn(ctx, field.type as Dictionary<Utf8, Int32>);
    case 'double':
      return new Float64Column(ctx, field.type as Float64);
    case 'int':
      return new Int32Column(ctx, field.type as Int32);
    case 'boolean':
      return new BoolColumn(ctx, field.type as Bool);
    case 'bigint':
      return new Int64Column(ctx, field.type as Int64, 'a 64-bit integer');
    case 'timestamp':
      return new Int64Column(ctx, field.type as TimestampMillisecond, 'epoch milliseconds');
  }
}

/** One builder per column of a contract table, in the contract's order. */
export function columnBuilders(table: TableName): ColumnBuilder[] {
  const schema = arrowSchema(table);
  return TABLES[table].columns.map((column, i) =>
    columnBuilder(schema.fields[i] as Field, column.type, { table, column: column.name }),
  );
}

/** Rows of a contract table held in column builders, ready to become one Arrow record batch. */
export interface BuiltRows {
  readonly table: TableName;
  readonly rowCount: number;
  /** The builders in the contract's column order. */
  builders(): readonly ColumnBuilder[];
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

/** The Arrow table of rows held in builders: one record batch. */
function arrowTable(rows: BuiltRows): Table {
  const schema = arrowSchema(rows.table);
  const children = rows.builders().map((builder) => {
    if (builder.length !== rows.rowCount) {
      throw new ContractError(
        `${rows.table}.${builder.ctx.column}: ${builder.length} cells for ${rows.rowCount} rows`,
      );
    }
    return builder.data();
  });
  const struct = makeData({ type: new Struct(schema.fields), length: rows.rowCount, nullCount: 0, children });
  return new Table(schema, [new RecordBatch(schema, struct)]);
}

/** Rows given as arrays of cells, checked against the contract's columns and types. */
export function rowsFromColumns(table: TableName, columns: ColumnarRows, rowCount: number): BuiltRows {
  const definition = TABLES[table];
  const known = new Set(definition.columns.map((c) => c.name));
  for (const name of Object.keys(columns)) {
    if (!known.has(name)) throw new ContractError(`${table}: ${name} is not a column of the contract`);
  }
  const builders = columnBuilders(table);
  definition.columns.forEach((column, i) => {
    const values = columns[column.name];
    if (values === undefined) throw new ContractError(`${table}: column ${column.name} is missing`);
    if (values.length !== rowCount) {
      throw new ContractError(`${table}.${column.name}: ${values.length} cells for ${rowCount} rows`);
    }
    const builder = builders[i] as ColumnBuilder;
    for (const value of values) builder.push(value);
  });
  return { table, rowCount, builders: () => builders };
}

/** Encodes one Parquet file (one part) holding the rows of a contract table. */
export function encodeParquet(table: TableName, columns: ColumnarRows, rowCount: number): Uint8Array {
  return encodeRows(rowsFromColumns(table, columns, rowCount));
}

/** `encodeParquet` for rows already in builders. */
export function encodeRows(rows: BuiltRows): Uint8Array {
  const ipc = tableToIPC(arrowTable(rows), 'stream');
  return writeParquet(WasmTable.fromIPCStream(ipc), writerProperties());
}

/**
 * The Arrow IPC stream of one batch, gathered into a buffer kept for the next batch: parquet-wasm
 * copies the stream into its own memory at once, so one buffer serves every batch of an encoder
 * instead of each batch leaving a stream-sized ArrayBuffer for the garbage collector.
 */
class IpcBuffer extends AsyncByteQueue {
  private buffer = new Uint8Array(0);

  /** The IPC stream of `table`, valid until the next call. */
  streamOf(table: Table): Uint8Array {
    const writer = new RecordBatchStreamWriter({ autoDestroy: false });
    writer.reset(this);
    writer.write(table);
    writer.finish();
    let size = 0;
    for (const chunk of this._values) size += chunk.byteLength;
    if (size > this.buffer.byteLength) this.buffer = new Uint8Array(size + (size >> 2));
    let at = 0;
    for (const chunk of this._values) {
      this.buffer.set(chunk, at);
      at += chunk.byteLength;
    }
    this._values.length = 0;
    return this.buffer.subarray(0, size);
  }
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
  private readonly waiting = new Set<(error: unknown) => void>();
  private readonly encoded: Promise<ReadableStream<Uint8Array>>;
  private reading = false;
  private batches = 0;
  private readonly ipc = new IpcBuffer();
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
    this.encoded = transformParquetStream(input, writerProperties(rowGroupRows));
    this.bytes = this.output();
  }

  /**
   * Resolves once the encoder has room for the next batch; rejects once the encoder has failed.
   * The rows are copied before it returns or waits, so their builders can be reset at once.
   */
  async write(rows: BuiltRows): Promise<void> {
    this.throwIfFailed();
    if (this.ended) throw new Error(`${this.table}: write after end`);
    this.enqueue(rows);
    while ((this.controller.desiredSize ?? 0) <= 0) {
      await this.unlessFailed(new Promise<void>((resolve) => (this.pulled = resolve)));
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
    for (const reject of this.waiting) reject(error);
    this.waiting.clear();
    // The encoder is left to finish on an ended input, its output read and dropped: an input
    // error, or output nobody reads, would leave its task in WebAssembly pending for good.
    if (!this.ended) this.close();
    if (!this.reading) {
      this.reading = true;
      void this.encoded.then((stream) => discardRest(stream.getReader()));
    }
  }

  private enqueue(rows: BuiltRows): void {
    if (rows.table !== this.table) throw new ContractError(`${rows.table} rows written to ${this.table}`);
    const table = WasmTable.fromIPCStream(this.ipc.streamOf(arrowTable(rows)));
    const batch = table.recordBatch(0);
    table.free();
    if (batch === undefined) throw new ContractError(`${this.table}: the Arrow table has no record batch`);
    this.controller.enqueue(batch);
    this.batches++;
  }

  /** The schema comes from the first batch: a file without rows (or an input ended early) gets an empty one. */
  private close(): void {
    if (this.batches === 0) {
      const builders = columnBuilders(this.table);
      this.enqueue({ table: this.table, rowCount: 0, builders: () => builders });
    }
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
        const next = await this.unlessFailed(reader.read());
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

  /**
   * `promise`, or the encoder's failure if that comes first. Racing one long-lived failure promise
   * instead would leave a reaction on it per call, each holding what its race settled with: every
   * row group read out of the encoder would stay reachable until the part ends.
   */
  private unlessFailed<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.failure !== undefined) {
        reject(this.failure.error);
        return;
      }
      this.waiting.add(reject);
      promise.then(resolve, reject).finally(() => this.waiting.delete(reject));
    });
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
