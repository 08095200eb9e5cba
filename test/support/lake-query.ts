/** The tests' one way to read a folder lake back: DuckDB over the partitions its catalog points at. */
import { DuckDBInstance } from '@duckdb/node-api';
import { type LakeQuery, openLakeQuery, toJsonRows } from '../../functions/adapters/duckdb-lake.js';
import type { Catalog } from '../../functions/core/ports.js';
import { openLake } from '../../functions/local/lake-location.js';

export async function withLakeQuery<T>(
  root: string,
  use: (lake: LakeQuery) => Promise<T>,
  catalog?: Catalog,
): Promise<T> {
  const lake = await openLakeQuery({ root, catalog: catalog ?? (await openLake(root)).catalog });
  try {
    return await use(lake);
  } finally {
    lake.close();
  }
}

/** Rows as DuckDB returns them, BIGINT as number. */
export function queryLake(root: string, sql: string): Promise<Record<string, unknown>[]> {
  return withLakeQuery(root, async (lake) =>
    (await lake.query(sql)).map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
    ),
  );
}

/** Rows as `query --json` prints them. */
export function queryLakeJson(root: string, sql: string): Promise<Record<string, unknown>[]> {
  return withLakeQuery(root, async (lake) => toJsonRows(await lake.query(sql)));
}

/** Plain DuckDB, as a user would open it (no views, no catalog): the rows of the last statement. */
export async function plainDuckdb(...statements: string[]): Promise<unknown[][]> {
  const connection = await (await DuckDBInstance.create()).connect();
  try {
    let rows: unknown[][] = [];
    for (const sql of statements) rows = (await connection.runAndReadAll(sql)).getRows();
    return rows;
  } finally {
    connection.closeSync();
  }
}
