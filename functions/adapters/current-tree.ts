/**
 * The local lake's current state in a form any Parquet reader understands without the catalog:
 * `current/<table>/<key>=<value>` is a symbolic link to the run folder the partition points at,
 * replaced by a rename (atomic), so `read_parquet('lake/current/assay/*\/*.parquet')` reads exactly
 * the committed rows: a reader sees the previous commit of a partition or the new one.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { TABLE_NAMES, TABLES, type TableName } from '../core/contract.js';
import { CatalogError } from '../core/errors.js';
import type { Catalog, PartitionPointer } from '../core/ports.js';

export const CURRENT_FOLDER = 'current';

export class CurrentTreeCatalog implements Catalog {
  private readonly root: string;

  constructor(
    private readonly inner: Catalog,
    root: string,
  ) {
    this.root = resolve(root);
  }

  getPartition(table: TableName, partitionValue: string): Promise<PartitionPointer | undefined> {
    return this.inner.getPartition(table, partitionValue);
  }

  listPartitions(table: TableName): Promise<PartitionPointer[]> {
    return this.inner.listPartitions(table);
  }

  /** The catalog first: it decides what is committed; the tree follows it. */
  async putPartitions(pointers: readonly PartitionPointer[]): Promise<void> {
    await this.inner.putPartitions(pointers);
    for (const pointer of pointers) await this.link(pointer);
  }

  async deletePartitions(table: TableName, partitionValues: readonly string[]): Promise<void> {
    await this.inner.deletePartitions(table, partitionValues);
    for (const value of partitionValues) {
      await unlink(this.linkPath(table, value)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw this.failure(`remove ${this.linkPath(table, value)}`, error);
      });
    }
  }

  /** Brings the tree in line with the catalog, e.g. after a run was killed between the two. */
  async sync(): Promise<void> {
    for (const table of TABLE_NAMES) {
      for (const pointer of await this.inner.listPartitions(table)) {
        const path = this.linkPath(table, pointer.partitionValue);
        const current = await readlink(path).catch(() => undefined);
        if (current !== this.target(path, pointer)) await this.link(pointer);
      }
    }
  }

  private async link(pointer: PartitionPointer): Promise<void> {
    const path = this.linkPath(pointer.table, pointer.partitionValue);
    // Beside the tables, not inside one: a reader's glob never meets a half-made link.
    const temp = join(this.root, CURRENT_FOLDER, `.tmp-${randomUUID()}`);
    try {
      await mkdir(dirname(path), { recursive: true });
      await symlink(this.target(path, pointer), temp);
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw this.failure(`publish ${path}`, error);
    }
  }

  private linkPath(table: TableName, partitionValue: string): string {
    return join(this.root, CURRENT_FOLDER, table, `${TABLES[table].partitionKey}=${partitionValue}`);
  }

  /** Relative to where the link ends up, so the lake folder can be moved or copied whole. */
  private target(linkPath: string, pointer: PartitionPointer): string {
    return relative(dirname(linkPath), resolve(this.root, pointer.location));
  }

  private failure(what: string, cause: unknown): CatalogError {
    return new CatalogError(`Could not ${what}: ${(cause as Error).message}`, { cause });
  }
}
