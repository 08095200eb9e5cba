/**
 * The local catalog: one pointer object per table partition under `_catalog/`, each replaced
 * atomically, so a reader sees the previous commit or the new one, never a mix.
 */
import { z } from 'zod';
import { TABLE_NAMES, type TableName } from '../core/contract.js';
import type { Catalog, ObjectStore, PartitionPointer } from '../core/ports.js';

const CATALOG_PREFIX = '_catalog/';

const pointerSchema = z.object({
  table: z.enum(TABLE_NAMES),
  partitionValue: z.string(),
  runId: z.string(),
  location: z.string(),
});

const pointerKey = (table: TableName, partitionValue: string) =>
  `${CATALOG_PREFIX}${table}/${partitionValue}.json`;

export class StoreCatalog implements Catalog {
  constructor(private readonly store: ObjectStore) {}

  async getPartition(table: TableName, partitionValue: string): Promise<PartitionPointer | undefined> {
    const body = await this.store.get(pointerKey(table, partitionValue));
    return body === undefined ? undefined : parsePointer(body);
  }

  async putPartitions(pointers: readonly PartitionPointer[]): Promise<void> {
    for (const pointer of pointers) {
      await this.store.put(
        pointerKey(pointer.table, pointer.partitionValue),
        new TextEncoder().encode(JSON.stringify(pointer)),
      );
    }
  }

  async deletePartitions(table: TableName, partitionValues: readonly string[]): Promise<void> {
    for (const value of partitionValues) await this.store.delete(pointerKey(table, value));
  }

  async listPartitions(table: TableName): Promise<PartitionPointer[]> {
    const objects = await this.store.list(`${CATALOG_PREFIX}${table}/`);
    const pointers: PartitionPointer[] = [];
    for (const object of objects) {
      const body = await this.store.get(object.key);
      if (body !== undefined) pointers.push(parsePointer(body));
    }
    return pointers;
  }
}

function parsePointer(body: Uint8Array): PartitionPointer {
  return pointerSchema.parse(JSON.parse(new TextDecoder().decode(body)));
}
