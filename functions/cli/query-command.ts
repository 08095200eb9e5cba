import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openLake, toJsonRows } from '../adapters/duckdb-lake.js';
import { FolderStore } from '../adapters/folder-store.js';
import { StoreCatalog } from '../adapters/store-catalog.js';
import { ConfigError } from '../core/errors.js';
import { formatTable } from './progress.js';

export async function runQueryCommand(options: {
  lake?: string;
  json?: boolean;
  sql: string;
}): Promise<number> {
  const root = resolve(options.lake ?? './lake');
  if (!existsSync(root))
    throw new ConfigError(`--lake ${root} does not exist: run pluto-export export first`);
  if (options.sql.trim() === '')
    throw new ConfigError('query needs a SQL string, e.g. "select count(*) from assay"');
  const lake = await openLake({ root, catalog: new StoreCatalog(new FolderStore(root)) });
  try {
    let result: Awaited<ReturnType<typeof lake.query>>;
    try {
      result = await lake.query(options.sql);
    } catch (error) {
      // DuckDB's message goes on after its first line: the candidate names and the caret under the mistake.
      process.stderr.write(`pluto-export: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    const rows = toJsonRows(result);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(rows)}\n`);
    } else {
      const columns = rows[0] === undefined ? [] : Object.keys(rows[0]);
      process.stdout.write(
        rows.length === 0
          ? '(0 rows)\n'
          : `${formatTable(
              columns,
              rows.map((row) => columns.map((c) => row[c])),
            )}\n(${rows.length} rows)\n`,
      );
    }
    return 0;
  } finally {
    lake.close();
  }
}
