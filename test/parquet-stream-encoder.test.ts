import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { TableRows } from '../functions/core/melt.js';
import { ParquetStreamEncoder } from '../functions/core/parquet.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

const BATCHES = 12;
const BATCH_ROWS = 2_000;
const ROW_GROUP_ROWS = 4_000;

function assayBatch(first: number, rows: TableRows): TableRows {
  for (let r = first; r < first + BATCH_ROWS; r++) {
    rows.appendRow({
      row_number: BigInt(r),
      feature_id: `G${r}`,
      feature_kind: 'gene_symbol',
      sample_id: 'S1',
      value: r + 0.5,
      value_text: null,
    });
  }
  return rows;
}

describe('ParquetStreamEncoder', () => {
  it('keeps no row group it has handed out, while the file is still being written', async () => {
    const encoder = new ParquetStreamEncoder('assay', ROW_GROUP_ROWS);
    const handedOut: WeakRef<Uint8Array>[] = [];
    const chunks: Uint8Array[] = [];
    const reading = (async () => {
      for await (const chunk of encoder.bytes) {
        handedOut.push(new WeakRef(chunk));
        chunks.push(chunk.slice());
      }
    })();
    const rows = new TableRows('assay');
    for (let b = 0; b < BATCHES; b++) {
      await encoder.write(assayBatch(b * BATCH_ROWS, rows));
      rows.clear();
      await nextTurn();
    }
    await nextTurn();
    collectGarbage();
    await nextTurn();
    const alive = handedOut.filter((ref) => ref.deref() !== undefined).length;
    expect(handedOut.length).toBeGreaterThanOrEqual((BATCHES * BATCH_ROWS) / ROW_GROUP_ROWS - 1);
    // The chunk being read last may still be held by the reader; none before it.
    expect(alive).toBeLessThanOrEqual(1);

    await encoder.end();
    await reading;
    const file = Buffer.concat(chunks);
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const path = join(tmpdir(), `parquet-stream-encoder-${process.pid}.parquet`);
      await writeFile(path, file);
      const reader = await connection.runAndReadAll(
        `SELECT count(*)::INTEGER AS n, sum(row_number)::BIGINT AS s FROM read_parquet('${path}')`,
      );
      await rm(path);
      const total = BATCHES * BATCH_ROWS;
      expect(reader.getRowObjectsJS()[0]).toEqual({ n: total, s: BigInt((total * (total - 1)) / 2) });
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});
