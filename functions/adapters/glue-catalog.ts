/**
 * The catalog on AWS: one Glue partition per (table, experiment) whose Location is the committed
 * run's folder. Repointing is an UpdatePartition, which Glue applies atomically per partition, so
 * Athena reads either the previous run's parts or the new ones.
 */
import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  BatchUpdatePartitionCommand,
  GetPartitionCommand,
  GetPartitionsCommand,
  GlueClient,
  type Partition,
  type PartitionInput,
} from '@aws-sdk/client-glue';
import { TABLES, type TableName } from '../core/contract.js';
import { AccessDeniedError, CatalogError, ConfigError } from '../core/errors.js';
import { type GlueStorageDescriptor, glueStorageDescriptor, s3Url } from '../core/glue-schema.js';
import type { Catalog, PartitionPointer } from '../core/ports.js';
import type { S3Location } from './s3-store.js';

export interface GlueCatalogOptions {
  /** Glue database holding one table per contract table, named as in the contract. */
  readonly database: string;
  /** The lake the partitions point into. */
  readonly lake: S3Location;
  readonly client?: GlueClient;
  /** Account id of the Data Catalog; default the caller's. */
  readonly catalogId?: string;
}

/** Consecutive pointers of one table, at most `size` at a time, in their given order. */
function consecutiveBatches(
  pointers: readonly PartitionPointer[],
  size: number,
): { table: TableName; batch: PartitionPointer[] }[] {
  const batches: { table: TableName; batch: PartitionPointer[] }[] = [];
  for (const pointer of pointers) {
    const last = batches.at(-1);
    if (last !== undefined && last.table === pointer.table && last.batch.length < size) {
      last.batch.push(pointer);
    } else {
      batches.push({ table: pointer.table, batch: [pointer] });
    }
  }
  return batches;
}

/** Glue's limits per batch request. */
const CREATE_BATCH = 100;
const UPDATE_BATCH = 100;
const DELETE_BATCH = 25;

export class GlueCatalog implements Catalog {
  private readonly client: GlueClient;
  private readonly database: string;
  private readonly lake: S3Location;
  private readonly root: string;
  private readonly catalogId: { CatalogId?: string };

  constructor(options: GlueCatalogOptions) {
    this.client = options.client ?? new GlueClient({});
    this.database = options.database;
    this.lake = options.lake;
    this.root = s3Url(options.lake.bucket, options.lake.prefix, '');
    this.catalogId = options.catalogId === undefined ? {} : { CatalogId: options.catalogId };
  }

  async getPartition(table: TableName, partitionValue: string): Promise<PartitionPointer | undefined> {
    try {
      const response = await this.client.send(
        new GetPartitionCommand({
          ...this.catalogId,
          DatabaseName: this.database,
          TableName: table,
          PartitionValues: [partitionValue],
        }),
      );
      return response.Partition === undefined ? undefined : this.pointerOf(table, response.Partition);
    } catch (error) {
      // Glue answers EntityNotFound for a missing partition and for a missing table alike.
      if (nameOf(error) === 'EntityNotFoundException' && !namesMissingTable(error)) return undefined;
      throw this.wrap(error, `read partition ${partitionValue} of`, table);
    }
  }

  /** In the caller's order (the experiments pointer moves last), batching runs of one table. */
  async putPartitions(pointers: readonly PartitionPointer[]): Promise<void> {
    for (const { table, batch } of consecutiveBatches(pointers, CREATE_BATCH)) {
      const existing = await this.createPartitions(
        table,
        batch.map((p) => this.partitionInput(p)),
      );
      for (let j = 0; j < existing.length; j += UPDATE_BATCH) {
        await this.updatePartitions(table, existing.slice(j, j + UPDATE_BATCH));
      }
    }
  }

  async deletePartitions(table: TableName, partitionValues: readonly string[]): Promise<void> {
    for (let i = 0; i < partitionValues.length; i += DELETE_BATCH) {
      const batch = partitionValues.slice(i, i + DELETE_BATCH);
      let errors: BatchFailure[];
      try {
        const response = await this.client.send(
          new BatchDeletePartitionCommand({
            ...this.catalogId,
            DatabaseName: this.database,
            TableName: table,
            PartitionsToDelete: batch.map((value) => ({ Values: [value] })),
          }),
        );
        errors = (response.Errors ?? []).map((e) => failure(e.PartitionValues, e.ErrorDetail));
      } catch (error) {
        throw this.wrap(error, 'delete partitions of', table);
      }
      // A partition that is already gone is what the caller wanted.
      const failed = errors.find((e) => e.code !== 'EntityNotFoundException');
      if (failed !== undefined) throw this.batchError('delete', table, failed);
    }
  }

  async listPartitions(table: TableName): Promise<PartitionPointer[]> {
    const pointers: PartitionPointer[] = [];
    let token: string | undefined;
    do {
      let partitions: Partition[];
      try {
        const response = await this.client.send(
          new GetPartitionsCommand({
            ...this.catalogId,
            DatabaseName: this.database,
            TableName: table,
            ExcludeColumnSchema: true,
            NextToken: token,
          }),
        );
        partitions = response.Partitions ?? [];
        token = response.NextToken === '' ? undefined : response.NextToken;
      } catch (error) {
        throw this.wrap(error, 'list partitions of', table);
      }
      for (const partition of partitions) pointers.push(this.pointerOf(table, partition));
    } while (token !== undefined);
    return pointers.sort((a, b) =>
      a.partitionValue < b.partitionValue ? -1 : a.partitionValue > b.partitionValue ? 1 : 0,
    );
  }

  /** Creates what is new; returns the inputs whose partition already existed. */
  private async createPartitions(table: TableName, inputs: PartitionInput[]): Promise<PartitionInput[]> {
    let errors: BatchFailure[];
    try {
      const response = await this.client.send(
        new BatchCreatePartitionCommand({
          ...this.catalogId,
          DatabaseName: this.database,
          TableName: table,
          PartitionInputList: inputs,
        }),
      );
      errors = (response.Errors ?? []).map((e) => failure(e.PartitionValues, e.ErrorDetail));
    } catch (error) {
      throw this.wrap(error, 'create partitions of', table);
    }
    const existing = new Set<string>();
    for (const error of errors) {
      if (error.code !== 'AlreadyExistsException') throw this.batchError('create', table, error);
      existing.add(JSON.stringify(error.values));
    }
    return inputs.filter((input) => existing.has(JSON.stringify(input.Values ?? [])));
  }

  private async updatePartitions(table: TableName, inputs: PartitionInput[]): Promise<void> {
    let errors: BatchFailure[];
    try {
      const response = await this.client.send(
        new BatchUpdatePartitionCommand({
          ...this.catalogId,
          DatabaseName: this.database,
          TableName: table,
          Entries: inputs.map((input) => ({ PartitionValueList: input.Values, PartitionInput: input })),
        }),
      );
      errors = (response.Errors ?? []).map((e) => failure(e.PartitionValueList, e.ErrorDetail));
    } catch (error) {
      throw this.wrap(error, 'update partitions of', table);
    }
    const [first] = errors;
    if (first !== undefined) throw this.batchError('update', table, first);
  }

  private partitionInput(pointer: PartitionPointer): PartitionInput {
    return {
      Values: [pointer.partitionValue],
      StorageDescriptor: toSdk(
        glueStorageDescriptor(pointer.table, s3Url(this.lake.bucket, this.lake.prefix, pointer.location)),
      ),
    };
  }

  private pointerOf(table: TableName, partition: Partition): PartitionPointer {
    const where = `${this.database}.${table} partition ${partition.Values?.join('/') ?? '?'}`;
    const url = partition.StorageDescriptor?.Location ?? '';
    if (!url.startsWith(this.root)) {
      throw new ConfigError(`${where} points at "${url}", outside the lake ${this.root}`);
    }
    const location = url.slice(this.root.length);
    const runId = [...location.matchAll(/(?:^|\/)run_id=([^/]+)/g)].at(-1)?.[1];
    const partitionValue = partition.Values?.[0];
    if (runId === undefined || partitionValue === undefined) {
      throw new ConfigError(`${where} points at "${url}", which is not a run folder of pluto-export`);
    }
    return { table, partitionValue, runId, location: location.endsWith('/') ? location : `${location}/` };
  }

  private batchError(action: string, table: TableName, error: BatchFailure): Error {
    const message = `Glue could not ${action} partition ${error.values.join('/')} of ${this.database}.${table}: ${error.code}: ${error.message}`;
    return this.failure(message, error.code, table);
  }

  private wrap(error: unknown, action: string, table: TableName): Error {
    const name = nameOf(error);
    const text = `Glue could not ${action} ${this.database}.${table}: ${name}: ${
      error instanceof Error ? error.message : String(error)
    }`;
    return this.failure(text, name, table, error);
  }

  private failure(message: string, code: string, table: TableName, cause?: unknown): Error {
    const options = cause === undefined ? {} : { cause };
    if (code === 'AccessDeniedException')
      return new AccessDeniedError(this.hint(message, code, table), options);
    if (CONFIG_CODES.has(code)) return new ConfigError(this.hint(message, code, table), options);
    return new CatalogError(message, options);
  }

  private hint(message: string, code: string, table: TableName): string {
    switch (code) {
      case 'EntityNotFoundException':
        return `${message} (the Glue database "${this.database}" needs a table ${table} partitioned by ${TABLES[table].partitionKey}: deploy the stack or fix GLUE_DATABASE)`;
      case 'AccessDeniedException':
        return `${message} (grant glue:GetPartition, glue:GetPartitions, glue:BatchCreatePartition, glue:BatchUpdatePartition and glue:BatchDeletePartition on database "${this.database}")`;
      default:
        return message;
    }
  }
}

/** Retrying cannot fix these: the catalog is missing or the input is refused. */
const CONFIG_CODES = new Set(['EntityNotFoundException', 'InvalidInputException']);

interface BatchFailure {
  readonly values: readonly string[];
  readonly code: string;
  readonly message: string;
}

function failure(
  values: readonly string[] | undefined,
  detail: { ErrorCode?: string; ErrorMessage?: string } | undefined,
): BatchFailure {
  return {
    values: values ?? [],
    code: detail?.ErrorCode ?? 'UnknownError',
    message: detail?.ErrorMessage ?? '',
  };
}

function namesMissingTable(error: unknown): boolean {
  return /\b(table|database)\b.*\bnot found\b/i.test(error instanceof Error ? error.message : '');
}

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

function toSdk(descriptor: GlueStorageDescriptor): NonNullable<PartitionInput['StorageDescriptor']> {
  return {
    Columns: descriptor.columns.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
    Location: descriptor.location,
    InputFormat: descriptor.inputFormat,
    OutputFormat: descriptor.outputFormat,
    SerdeInfo: {
      SerializationLibrary: descriptor.serdeInfo.serializationLibrary,
      Parameters: descriptor.serdeInfo.parameters,
    },
    Compressed: descriptor.compressed,
    StoredAsSubDirectories: descriptor.storedAsSubDirectories,
  };
}
