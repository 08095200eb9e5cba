/**
 * `pluto-export <command>`: export, query, runs, status, simulate (design.md, Command line).
 * Exit codes: 0 the run committed, 1 the run failed, 2 bad usage or configuration, 3 another live run
 * holds the lease, 128 + n interrupted by signal n (the README's table).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.js';
import { runExportCommand } from './export-command.js';
import { runRunsCommand, runStatusCommand } from './history-commands.js';
import { runQueryCommand } from './query-command.js';
import { runMain } from './run-main.js';
import { runSimulateCommand } from './simulate-command.js';

const USAGE = `usage: pluto-export <command> [options]

commands:
  export   [--api-url URL] [--out DIR|s3://bucket/prefix] [--experiments ID,..] [--projects ID,..]
           [--run-id ID] [--concurrency N] [--full]      token from PLUTO_API_TOKEN
           [--missing keep|retire] [--retention-days N]  disappeared experiments; superseded data
  query    [--lake DIR|s3://..] [--json] "SQL"           DuckDB over the current partitions
  runs     [--lake DIR|s3://..] [--limit N] [--json]     every run with its status, newest first
  status   [--lake DIR|s3://..] [--json] EXPERIMENT_ID   what is current for one experiment, and its history
  simulate [--port N] [--seed S] [--experiments N]       the built-in Pluto API simulator`;

export class UsageError extends ConfigError {}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'export':
      return runExportCommand(parse(rest, EXPORT_OPTIONS).values);
    case 'query': {
      const { values, positionals } = parse(rest, QUERY_OPTIONS, true);
      if (positionals.length !== 1) throw new UsageError('query takes exactly one SQL string, in quotes');
      return runQueryCommand({ ...values, sql: positionals[0] ?? '' });
    }
    case 'runs':
      return runRunsCommand(parse(rest, RUNS_OPTIONS).values);
    case 'status': {
      const { values, positionals } = parse(rest, STATUS_OPTIONS, true);
      if (positionals.length !== 1) throw new UsageError('status takes exactly one experiment id');
      return runStatusCommand({ ...values, experimentId: positionals[0] ?? '' });
    }
    case 'simulate':
      return runSimulateCommand(parse(rest, SIMULATE_OPTIONS).values);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}": use export, query, runs, status or simulate`);
  }
}

const EXPORT_OPTIONS = {
  'api-url': { type: 'string' },
  out: { type: 'string' },
  experiments: { type: 'string' },
  projects: { type: 'string' },
  'run-id': { type: 'string' },
  concurrency: { type: 'string' },
  'rows-per-part': { type: 'string' },
  full: { type: 'boolean' },
  missing: { type: 'string' },
  'retention-days': { type: 'string' },
} as const;
const RUNS_OPTIONS = {
  lake: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
} as const;
const STATUS_OPTIONS = { lake: { type: 'string' }, json: { type: 'boolean' } } as const;
const QUERY_OPTIONS = { lake: { type: 'string' }, json: { type: 'boolean' } } as const;
const SIMULATE_OPTIONS = {
  port: { type: 'string' },
  seed: { type: 'string' },
  experiments: { type: 'string' },
} as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]} (see pluto-export --help)`);
  }
}

runMain(() => main(process.argv.slice(2)));
