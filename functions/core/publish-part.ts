/**
 * The one way a Parquet part enters the lake. Parts are immutable and written put-if-absent, so a
 * retried step finds what an earlier attempt stored: that part is kept when it holds the same
 * number of rows and is a conflict otherwise, never overwritten. The returned checksum and size
 * are always those of the bytes the store holds.
 */
import { ObjectConflictError } from './errors.js';
import type { TableRows } from './melt.js';
import { encodeParquet, parquetRowCount, tableSchemaFingerprint } from './parquet.js';
import type { ObjectStore } from './ports.js';
import { type PartInfo, sha256 } from './records.js';

export interface PublishedPart {
  readonly part: PartInfo;
  /** False when an earlier attempt had already stored this part. */
  readonly created: boolean;
}

export async function publishPart(store: ObjectStore, key: string, rows: TableRows): Promise<PublishedPart> {
  const { body, part } = encodePart(key, rows);
  if ((await store.putIfAbsent(key, body)).created) return { part, created: true };
  const existing = await store.get(key);
  if (existing === undefined || (await parquetRowCount(existing)) !== rows.rowCount) {
    throw new ObjectConflictError(`Part ${key} already exists with different rows; it was not replaced`);
  }
  return { part: { ...part, bytes: existing.byteLength, sha256: sha256(existing) }, created: false };
}

/** The one part that is rewritten rather than kept: a resumed run's export_log covers its earlier attempts. */
export async function replacePart(store: ObjectStore, key: string, rows: TableRows): Promise<PartInfo> {
  const { body, part } = encodePart(key, rows);
  await store.put(key, body);
  return part;
}

function encodePart(key: string, rows: TableRows): { body: Uint8Array; part: PartInfo } {
  const { table } = rows;
  const body = encodeParquet(table, rows.columns(), rows.rowCount);
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
