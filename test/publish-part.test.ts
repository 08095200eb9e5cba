import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { TABLES } from '../functions/core/contract.js';
import { ObjectConflictError } from '../functions/core/errors.js';
import { TableRows } from '../functions/core/melt.js';
import { parquetRowCount } from '../functions/core/parquet.js';
import { publishPart } from '../functions/core/publish-part.js';
import { sha256 } from '../functions/core/records.js';

const KEY = 'data/export_log/run_id=run-1/part-export_log-00000.parquet';

/** export_log rows with every other column null, so the test follows the contract's columns. */
function logRows(experimentIds: readonly string[], detail: string | null = null): TableRows {
  const rows = new TableRows('export_log');
  const empty = Object.fromEntries(TABLES.export_log.columns.map((column) => [column.name, null]));
  for (const experimentId of experimentIds) {
    rows.appendRow({ ...empty, experiment_id: experimentId, error_detail: detail });
  }
  return rows;
}

describe('publishPart', () => {
  let root: string;
  let store: FolderStore;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'publish-part-'));
    store = new FolderStore(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('stores a new part and describes the stored bytes', async () => {
    const { part, created } = await publishPart(store, KEY, logRows(['PLX1', 'PLX2']));
    const stored = await store.get(KEY);
    expect(created).toBe(true);
    expect(stored).toBeDefined();
    expect(await parquetRowCount(stored ?? new Uint8Array())).toBe(2);
    expect(part).toMatchObject({ table: 'export_log', key: KEY, rows: 2, bytes: stored?.byteLength });
    expect(part.sha256).toBe(sha256(stored ?? new Uint8Array()));
  });

  it('keeps a part an earlier attempt stored with the same rows, and reports its bytes, not the new ones', async () => {
    await publishPart(store, KEY, logRows(['PLX1'], 'first attempt'));
    const first = await store.get(KEY);
    const { part, created } = await publishPart(store, KEY, logRows(['PLX1'], 'a longer second attempt'));
    expect(created).toBe(false);
    expect(await store.get(KEY)).toEqual(first);
    expect(part.bytes).toBe(first?.byteLength);
    expect(part.sha256).toBe(sha256(first ?? new Uint8Array()));
  });

  it('refuses to reuse a part with a different row count and leaves it in place', async () => {
    await publishPart(store, KEY, logRows(['PLX1']));
    const first = await store.get(KEY);
    const attempt = publishPart(store, KEY, logRows(['PLX1', 'PLX2', 'PLX3']));
    await expect(attempt).rejects.toBeInstanceOf(ObjectConflictError);
    await expect(attempt).rejects.toThrow(
      `Part ${KEY} already exists with different rows; it was not replaced`,
    );
    expect(await store.get(KEY)).toEqual(first);
  });
});
