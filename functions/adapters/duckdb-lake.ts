/**
 * DuckDB over a local lake: the local twin of Athena. One view per contract table, over exactly the
 * parts of the partitions the catalog currently points at, with the partition key as a VARCHAR
 * column. Column types follow the contract as Glue declares them; `timestamp` columns are TIMESTAMP
 * holding UTC wall-clock time, as Athena shows them.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  DuckDBArrayValue,
  type DuckDBConnection,
  DuckDBDecimalValue,
  DuckDBInstance,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBUnionValue,
  type DuckDBValue,
  StatementType,
} from '@duckdb/node-api';
import { type ColumnType, TABLE_NAMES, TABLES, type TableName } from '../core/contract.js';
import { ConfigError, ReadOnlyQueryError, StoreError } from '../core/errors.js';
import type { Catalog, ObjectStore, PartitionPointer } from '../core/ports.js';
import { printable } from '../core/safe-text.js';
import type { S3Location } from './s3-store.js';

export interface LakeQuery {
  /**
   * Runs one read-only statement (SELECT, WITH ... SELECT, DESCRIBE, SHOW, EXPLAIN) and returns its
   * rows as DuckDB values; anything else is a `ReadOnlyQueryError`.
   */
  query(sql: string): Promise<Record<string, DuckDBValue>[]>;
  close(): void;
}

export interface LakeQueryOptions {
  /** Local lake folder. */
  readonly root: string;
  readonly catalog: Catalog;
}

export interface S3LakeQueryOptions {
  readonly s3: S3Location;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  /** The standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL_S3`, ...). */
  readonly env?: NodeJS.ProcessEnv;
}

type PartLister = (pointer: PartitionPointer) => Promise<string[]>;

const SQL_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  double: 'DOUBLE',
  bigint: 'BIGINT',
  int: 'INTEGER',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

async function runReadOnly(
  connection: DuckDBConnection,
  sql: string,
): Promise<Record<string, DuckDBValue>[]> {
  const statements = await connection.extractStatements(sql);
  if (statements.count !== 1) {
    throw new ReadOnlyQueryError(`query is read-only: give one statement, not ${statements.count}`);
  }
  const prepared = await statements.prepare(0);
  if (!READ_ONLY_STATEMENTS.has(prepared.statementType)) {
    throw new ReadOnlyQueryError(
      `query is read-only: it runs one SELECT (or WITH ... SELECT, DESCRIBE, SHOW), not ${StatementType[prepared.statementType]}`,
    );
  }
  return (await prepared.runAndReadAll()).getRowObjects();
}

/** DESCRIBE, SHOW, SUMMARIZE, PRAGMA and FROM-first queries are SELECTs to DuckDB too. */
const READ_ONLY_STATEMENTS: ReadonlySet<StatementType> = new Set([
  StatementType.SELECT,
  StatementType.EXPLAIN,
]);

/** Helper table mapping each part file to its partition value; kept out of the `main` schema. */
const PARTS_TABLE = 'lake_meta.parts';

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

async function partFiles(root: string, pointer: PartitionPointer): Promise<string[]> {
  const folder = path.resolve(root, pointer.location);
  // A pointer is data the lake holds, not a path to trust: `../..` would make queries read anywhere.
  const tableFolder = path.join(root, 'data', pointer.table) + path.sep;
  if (!`${folder}${path.sep}`.startsWith(tableFolder)) {
    throw new StoreError(
      `the catalog pointer of ${pointer.table} partition ${printable(pointer.partitionValue)} points outside ${tableFolder}; it was refused`,
    );
  }
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (cause) {
    throw new StoreError(
      `${pointer.table} partition ${pointer.partitionValue} points at ${folder}, which cannot be read`,
      { cause },
    );
  }
  return names
    .filter((name) => name.endsWith('.parquet') && !name.startsWith('.'))
    .sort()
    .map((name) => path.join(folder, name));
}

function columnExpression(name: string, type: ColumnType, source: string | null): string {
  if (source === null) return `CAST(NULL AS ${SQL_TYPE[type]}) AS ${ident(name)}`;
  const column = `${source}.${ident(name)}`;
  // epoch_us is time-zone independent, so the view does not depend on the session's TimeZone.
  const value =
    type === 'timestamp' ? `make_timestamp(epoch_us(${column}))` : `CAST(${column} AS ${SQL_TYPE[type]})`;
  return `${value} AS ${ident(name)}`;
}

function viewSql(table: TableName, files: readonly string[]): string {
  const definition = TABLES[table];
  const key = ident(definition.partitionKey);
  if (files.length === 0) {
    const columns = definition.columns.map((c) => columnExpression(c.name, c.type, null));
    return `CREATE VIEW ${ident(table)} AS SELECT ${columns.join(', ')}, CAST(NULL AS VARCHAR) AS ${key} LIMIT 0`;
  }
  const columns = definition.columns.map((c) => columnExpression(c.name, c.type, 'p'));
  const list = files.map(literal).join(', ');
  return (
    `CREATE VIEW ${ident(table)} AS SELECT ${columns.join(', ')}, m.partition_value AS ${key} ` +
    `FROM read_parquet([${list}], filename = '__part_file', hive_partitioning = false) AS p ` +
    `JOIN ${PARTS_TABLE} AS m ON m.table_name = ${literal(table)} AND m.file = p.__part_file`
  );
}

async function createViews(
  connection: DuckDBConnection,
  listParts: PartLister,
  catalog: Catalog,
): Promise<void> {
  await connection.run(
    `CREATE SCHEMA lake_meta; CREATE TABLE ${PARTS_TABLE} (table_name VARCHAR, file VARCHAR, partition_value VARCHAR)`,
  );
  const appender = await connection.createAppender('parts', 'lake_meta');
  const views: string[] = [];
  for (const table of TABLE_NAMES) {
    const pointers = await catalog.listPartitions(table);
    const perPartition = await Promise.all(pointers.map(listParts));
    const files: string[] = [];
    perPartition.forEach((partitionFiles, i) => {
      const value = (pointers[i] as PartitionPointer).partitionValue;
      for (const file of partitionFiles) {
        appender.appendVarchar(table);
        appender.appendVarchar(file);
        appender.appendVarchar(value);
        appender.endRow();
        files.push(file);
      }
    });
    views.push(viewSql(table, files));
  }
  appender.closeSync();
  for (const sql of views) await connection.run(sql);
}

/**
 * Opens an in-memory DuckDB whose views read the lake's current partitions. Once the views exist,
 * the session can read files only under `<root>/data/`, loads no extension, and cannot change
 * these settings again.
 */
export async function openLakeQuery(options: LakeQueryOptions): Promise<LakeQuery> {
  const root = path.resolve(options.root);
  return openSession(
    (connection) => createViews(connection, (pointer) => partFiles(root, pointer), options.catalog),
    path.join(root, 'data') + path.sep,
  );
}

/**
 * The same views over an S3 lake: parts are listed through the store and read by DuckDB's httpfs
 * extension, with credentials from the standard AWS environment variables (or DuckDB's own credential
 * chain when none are set). DuckDB downloads httpfs on first use; where it is not installed and
 * cannot be fetched, the query is refused with one line saying so.
 */
export async function openS3LakeQuery(options: S3LakeQueryOptions): Promise<LakeQuery> {
  const { s3, store } = options;
  const listParts: PartLister = async (pointer) =>
    (await store.list(pointer.location))
      .map((object) => object.key)
      .filter((key) => key.endsWith('.parquet') && !path.posix.basename(key).startsWith('.'))
      .sort()
      .map((key) => `s3://${s3.bucket}/${s3.prefix}${key}`);
  return openSession(async (connection) => {
    await loadHttpfs(connection, `s3://${s3.bucket}/${s3.prefix}`);
    await connection.run(s3SecretSql(options.env ?? process.env));
    await createViews(connection, listParts, options.catalog);
  }, `s3://${s3.bucket}/${s3.prefix}data/`);
}

async function loadHttpfs(connection: DuckDBConnection, location: string): Promise<void> {
  try {
    await connection.run('INSTALL httpfs; LOAD httpfs');
  } catch (cause) {
    throw new ConfigError(
      `${location}: DuckDB cannot read S3 here: its httpfs extension is not installed and could not be downloaded; copy the lake to a folder (aws s3 sync ${location} ./lake) and query that`,
      { cause },
    );
  }
}

/** The DuckDB secret that lets httpfs read the lake with the standard AWS environment's credentials. */
export function s3SecretSql(env: NodeJS.ProcessEnv): string {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const fields: string[] = ['TYPE s3'];
  if (env.AWS_ACCESS_KEY_ID !== undefined && env.AWS_SECRET_ACCESS_KEY !== undefined) {
    fields.push(`KEY_ID ${literal(env.AWS_ACCESS_KEY_ID)}`, `SECRET ${literal(env.AWS_SECRET_ACCESS_KEY)}`);
    if (env.AWS_SESSION_TOKEN !== undefined) fields.push(`SESSION_TOKEN ${literal(env.AWS_SESSION_TOKEN)}`);
  } else {
    fields.push('PROVIDER credential_chain');
  }
  if (region !== undefined) fields.push(`REGION ${literal(region)}`);
  if (endpoint !== undefined) {
    const url = new URL(endpoint);
    fields.push(`ENDPOINT ${literal(url.host)}`, `USE_SSL ${url.protocol === 'https:'}`, "URL_STYLE 'path'");
  }
  return `CREATE SECRET lake_s3 (${fields.join(', ')})`;
}

/** `readableRoot`: the only place the session may read once its views exist (the lake's `data/`). */
async function openSession(
  setUp: (connection: DuckDBConnection) => Promise<void>,
  readableRoot: string,
): Promise<LakeQuery> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    // The metadata cache reads each part's footer once per session rather than once per query.
    await connection.run("SET TimeZone = 'UTC'; SET parquet_metadata_cache = true");
    await setUp(connection);
    await connection.run(
      `SET allowed_directories = [${literal(readableRoot)}]; ` +
        'SET enable_external_access = false; SET autoinstall_known_extensions = false; ' +
        'SET autoload_known_extensions = false; SET lock_configuration = true',
    );
  } catch (error) {
    connection.closeSync();
    instance.closeSync();
    throw error;
  }
  return {
    async query(sql) {
      try {
        return await runReadOnly(connection, sql);
      } catch (error) {
        // Reading a file (read_text, COPY ... TO, a URL) outside data/ is refused by the settings.
        if (error instanceof Error && error.message.startsWith('Permission Error')) {
          throw new ReadOnlyQueryError(
            `query is read-only and reads only the lake's tables: ${error.message.split('\n')[0]}`,
          );
        }
        throw error;
      }
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const MICROS_PER_MILLI = 1000n;

function isoFromMicros(micros: bigint): string {
  let millis = micros / MICROS_PER_MILLI;
  let extra = micros % MICROS_PER_MILLI;
  if (extra < 0n) {
    millis -= 1n;
    extra += MICROS_PER_MILLI;
  }
  const iso = new Date(Number(millis)).toISOString();
  return extra === 0n ? iso : `${iso.slice(0, -1)}${extra.toString().padStart(3, '0')}Z`;
}

function timestampJson(value: { isFinite: boolean; toString(): string }, micros: () => bigint): string {
  return value.isFinite ? isoFromMicros(micros()) : value.toString();
}

function jsonValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value >= -Number.MAX_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER
        ? Number(value)
        : String(value);
    case 'object':
      break;
    default:
      return String(value);
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue) {
    return timestampJson(value, () => value.micros);
  }
  if (value instanceof DuckDBTimestampMillisecondsValue) {
    return timestampJson(value, () => value.millis * MICROS_PER_MILLI);
  }
  if (value instanceof DuckDBTimestampSecondsValue) {
    return timestampJson(value, () => value.seconds * 1_000_000n);
  }
  if (value instanceof DuckDBTimestampNanosecondsValue) {
    return timestampJson(value, () => value.nanos / MICROS_PER_MILLI);
  }
  if (value instanceof DuckDBDecimalValue) return value.toDouble();
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue)
    return value.items.map(jsonValue);
  if (value instanceof DuckDBStructValue) {
    return Object.fromEntries(Object.entries(value.entries).map(([k, v]) => [k, jsonValue(v)]));
  }
  if (value instanceof DuckDBMapValue) {
    return value.entries.map((entry) => ({ key: jsonValue(entry.key), value: jsonValue(entry.value) }));
  }
  if (value instanceof DuckDBUnionValue) return { tag: value.tag, value: jsonValue(value.value) };
  return String(value);
}

/**
 * JSON-safe rows for `query --json`: integers beyond ±(2^53-1) as strings, timestamps as ISO 8601
 * (UTC, `Z`), decimals as numbers, NaN/Infinity and other values as DuckDB's text.
 */
export function toJsonRows(rows: readonly Record<string, unknown>[]): Record<string, JsonValue>[] {
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, jsonValue(v)])));
}
