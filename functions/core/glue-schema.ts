/**
 * The Glue (Hive) shape of the lake contract, shared by the CDK stack (CfnTable) and the Glue
 * catalog adapter (partitions). Property names follow CloudFormation (camelCase); the adapter
 * maps them to the SDK's PascalCase. Everything is derived from `contract.ts`.
 */
import { type ColumnType, TABLES, type TableName } from './contract.js';

export interface GlueColumn {
  name: string;
  type: string;
  comment: string;
}

export interface GlueSerdeInfo {
  serializationLibrary: string;
  parameters: Record<string, string>;
}

export interface GlueStorageDescriptor {
  columns: GlueColumn[];
  location: string;
  inputFormat: string;
  outputFormat: string;
  serdeInfo: GlueSerdeInfo;
  compressed: boolean;
  storedAsSubDirectories: boolean;
}

export interface GlueTableInput {
  name: string;
  description: string;
  tableType: 'EXTERNAL_TABLE';
  parameters: Record<string, string>;
  partitionKeys: GlueColumn[];
  storageDescriptor: GlueStorageDescriptor;
}

export const GLUE_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'string',
  double: 'double',
  bigint: 'bigint',
  int: 'int',
  boolean: 'boolean',
  timestamp: 'timestamp',
};

export const PARQUET_INPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat';
export const PARQUET_OUTPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat';
export const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';

/** Glue rejects column comments longer than this. */
const MAX_COMMENT_LENGTH = 255;

const clip = (text: string) =>
  text.length > MAX_COMMENT_LENGTH ? `${text.slice(0, MAX_COMMENT_LENGTH - 1)}…` : text;

/** The data columns of a table, in contract order (the partition key is not among them). */
export function glueColumns(table: TableName): GlueColumn[] {
  return TABLES[table].columns.map((column) => ({
    name: column.name,
    type: GLUE_TYPES[column.type],
    comment: clip(column.description),
  }));
}

const PARTITION_KEY_COMMENTS = {
  run_id: 'Run that wrote the rows',
  experiment_id: 'Pluto experiment id (pluto_id)',
  project_id: 'Pluto project id (pluto_id)',
} as const;

export function gluePartitionKeys(table: TableName): GlueColumn[] {
  const key = TABLES[table].partitionKey;
  return [
    {
      name: key,
      type: 'string',
      comment: PARTITION_KEY_COMMENTS[key],
    },
  ];
}

/** `location` is an `s3://` URL: the table's root for a table, the run folder for a partition. */
export function glueStorageDescriptor(table: TableName, location: string): GlueStorageDescriptor {
  return {
    columns: glueColumns(table),
    location,
    inputFormat: PARQUET_INPUT_FORMAT,
    outputFormat: PARQUET_OUTPUT_FORMAT,
    serdeInfo: { serializationLibrary: PARQUET_SERDE, parameters: { 'serialization.format': '1' } },
    compressed: false,
    storedAsSubDirectories: false,
  };
}

/** Key prefix of a table's folder relative to the lake root (`data/<table>/`, design.md, Lake contract). */
export const tableFolder = (table: TableName) => `data/${table}/`;

/** `s3://bucket/<prefix><key>`; `prefix` is '' or ends with `/`. */
export const s3Url = (bucket: string, prefix: string, key: string) => `s3://${bucket}/${prefix}${key}`;

/** The whole table definition, for `new glue.CfnTable(..., { tableInput })`. */
export function glueTableInput(table: TableName, bucket: string, prefix: string): GlueTableInput {
  return {
    name: table,
    description: TABLES[table].description,
    tableType: 'EXTERNAL_TABLE',
    parameters: { classification: 'parquet', EXTERNAL: 'TRUE', 'parquet.compression': 'SNAPPY' },
    partitionKeys: gluePartitionKeys(table),
    storageDescriptor: glueStorageDescriptor(table, s3Url(bucket, prefix, tableFolder(table))),
  };
}
