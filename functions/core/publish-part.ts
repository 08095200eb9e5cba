/**
 * The one way a Parquet part enters the lake. Parts are immutable and written put-if-absent, so a
 * retried step finds what an earlier attempt stored: that part is kept when it holds the same
 * number of rows and is a conflict otherwise, never overwritten. The returned checksum and size
 * are always those of the bytes the store holds.
 */
import { createHash } from 'node:crypto';
import type { TableName } from './contract.js';
import { ObjectConflictError } from './errors.js';
import type { TableRows } from './melt.js';
import { encodeRows, ParquetStreamEncoder, parquetRowCount, tableSchemaFingerprint } from './parquet.js';
import type { ObjectStore, PutResult } from './ports.js';
import { type PartInfo, sha256 } from './records.js';

export interface PublishedPart {
  readonly part: PartInfo;
  /** False when an earlier attempt had already stored this part. */
  readonly created: boolean;
}

export async function publishPart(store: ObjectStore, key: string, rows: TableRows): Promise<PublishedPart> {
  const { body, part } = encodePart(key, rows);
  if ((await store.putIfAbsent(key, body)).created) return { part, created: true };
  return { part: await reusedPart(store, part), created: false };
}

/**
 * `publishPart` for a part whose rows arrive batch by batch (a slot's pages): the Parquet bytes go
 * to the store as row groups fill, so neither the rows nor the file are ever held whole, and the
 * part appears at `key` only when `finish` completes it.
 */
export class PartStream {
  private readonly encoder: ParquetStreamEncoder;
  private readonly stored: Promise<PutResult>;
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private rows = 0;

  constructor(
    private readonly store: ObjectStore,
    readonly key: string,
    readonly table: TableName,
    rowGroupRows: number,
  ) {
    this.encoder = new ParquetStreamEncoder(table, rowGroupRows);
    this.stored = store.putStreamIfAbsent(key, this.measured(this.encoder.bytes));
    // A store that fails stops the encoder, so a write waiting for room fails instead of waiting.
    this.stored.catch((error: unknown) => this.encoder.fail(error));
  }

  /**
   * Resolves once the rows are handed to the encoder; rejects with the store's error once it fails.
   * The encoder copies them at once, so `rows` can be cleared and refilled when this resolves.
   */
  async write(rows: TableRows): Promise<void> {
    if (rows.rowCount === 0) return;
    await this.encoder.write(rows);
    this.rows += rows.rowCount;
  }

  async finish(): Promise<PublishedPart> {
    await this.encoder.end();
    const { created } = await this.stored;
    const part: PartInfo = {
      table: this.table,
      key: this.key,
      rows: this.rows,
      bytes: this.bytes,
      sha256: this.hash.digest('hex'),
      schemaFingerprint: tableSchemaFingerprint(this.table),
    };
    return created ? { part, created } : { part: await reusedPart(this.store, part), created };
  }

  /** Stops the part after `error`: nothing is published, and the store's upload is cleaned up. */
  async abandon(error: unknown): Promise<void> {
    this.encoder.fail(error);
    await this.stored.catch(() => undefined);
  }

  private async *measured(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of bytes) {
      this.hash.update(chunk);
      this.bytes += chunk.byteLength;
      yield chunk;
    }
  }
}

/** The one part that is rewritten rather than kept: a resumed run's export_log covers its earlier attempts. */
export async function replacePart(store: ObjectStore, key: string, rows: TableRows): Promise<PartInfo> {
  const { body, part } = encodePart(key, rows);
  await store.put(key, body);
  return part;
}

/** The part an earlier attempt stored at `part.key`, described by its own bytes, if it holds as many rows. */
async function reusedPart(store: ObjectStore, part: PartInfo): Promise<PartInfo> {
  const existing = await store.get(part.key);
  if (existing === undefined || (await parquetRowCount(existing)) !== part.rows) {
    throw new ObjectConflictError(`Part ${part.key} already exists with different rows; it was not replaced`);
  }
  return { ...part, bytes: existing.byteLength, sha256: sha256(existing) };
}

function encodePart(key: string, rows: TableRows): { body: Uint8Array; part: PartInfo } {
  const { table } = rows;
  const body = encodeRows(rows);
  const part: PartInfo = {
    table,
    key,
    rows: rows.rowCount,
    bytes: body.byteLength,
    sha256: sha256(body),
    schemaFingerprint: tableSchemaFingerprint(table),
  };
  return { body, part };
}
