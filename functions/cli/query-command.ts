import { openLakeQuery, openS3LakeQuery, toJsonRows } from '../adapters/duckdb-lake.js';
import { ConfigError, ReadOnlyQueryError } from '../core/errors.js';
import { openLake } from '../local/lake-location.js';
import { CLI_DEFAULTS } from './defaults.js';
import { formatTable } from './progress.js';
import { stderr, stdout } from './terminal.js';

export async function runQueryCommand(options: {
  lake?: string;
  json?: boolean;
  sql: string;
}): Promise<number> {
  const opened = await openLake(options.lake ?? CLI_DEFAULTS.lake, { option: '--lake', mustExist: true });
  if (options.sql.trim() === '')
    throw new ConfigError('query needs a SQL string, e.g. "select count(*) from assay"');
  const { place, store, catalog } = opened;
  const lake =
    'folder' in place
      ? await openLakeQuery({ root: place.folder, catalog })
      : await openS3LakeQuery({ s3: place.s3, store, catalog });
  try {
    let result: Awaited<ReturnType<typeof lake.query>>;
    try {
      result = await lake.query(options.sql);
    } catch (error) {
      // Refused SQL is a usage error: exit 2, like any other bad argument.
      if (error instanceof ReadOnlyQueryError) throw new ConfigError(error.message);
      // DuckDB's message goes on after its first line: the candidate names and the caret under the mistake.
      stderr.write(`pluto-export: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    const rows = toJsonRows(result);
    if (options.json) {
      stdout.write(`${JSON.stringify(rows)}\n`);
    } else {
      const columns = rows[0] === undefined ? [] : Object.keys(rows[0]);
      stdout.write(
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
