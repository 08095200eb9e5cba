/**
 * The commands, their options and the help for each: `--help` is built from the same objects the
 * arguments are parsed with, so no option can be missing from it.
 * Each command's module is imported only when that command runs: `query`, `runs` and `status`
 * then start without loading the workflow, the HTTP client or the Parquet encoder.
 */
import type { ParseArgsConfig } from 'node:util';
import { ConfigError } from '../core/errors.js';
import { DEFAULT_LIMITS, MIB } from '../core/limits.js';
import { DEFAULT_FIRST_CONTACT_BUDGET_MS } from '../core/pluto/first-contact.js';
import {
  DEFAULT_PLUTO_API_URL,
  DEFAULT_RESULTS_SOURCE,
  RESULTS_SOURCES,
  SETTINGS,
} from '../core/settings.js';
import { DEMO_ORGANISATION } from '../simulator/demo.js';
import { CLI_DEFAULTS } from './defaults.js';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

export interface Command<O extends Options> {
  readonly summary: string;
  /** Shown after the options in the usage line, e.g. `"SQL"`. */
  readonly operand?: string;
  readonly options: O;
  /** One line per option: its value's name (empty for a flag) and what it does. */
  readonly help: { readonly [K in keyof O]: readonly [value: string, text: string] };
  run(values: Values, operands: readonly string[]): Promise<number>;
}

const command = <O extends Options>(spec: Command<O>) => spec;

const LAKE_HELP = ['DIR', `the local lake folder (default ${CLI_DEFAULTS.lake})`] as const;
const JSON_HELP = ['', 'print a JSON array instead of a table'] as const;
const API_URL_HELP = ['URL', `Pluto's API (default ${DEFAULT_PLUTO_API_URL})`] as const;

export const COMMANDS = {
  export: command({
    summary: 'Export Pluto into the lake (token from PLUTO_API_TOKEN).',
    options: {
      'api-url': { type: 'string' },
      out: { type: 'string' },
      experiments: { type: 'string' },
      projects: { type: 'string' },
      'run-id': { type: 'string' },
      concurrency: { type: 'string' },
      'rows-per-part': { type: 'string' },
      'row-group-rows': { type: 'string' },
      'prefetch-pages': { type: 'string' },
      full: { type: 'boolean' },
      missing: { type: 'string' },
      'retention-days': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'max-experiments': { type: 'string' },
      'max-rows-per-dataset': { type: 'string' },
      'max-slots-per-experiment': { type: 'string' },
      'max-list-pages': { type: 'string' },
      'max-response-mib': { type: 'string' },
      files: { type: 'string' },
      'max-file-bytes': { type: 'string' },
      'results-source': { type: 'string' },
    },
    help: {
      'api-url': API_URL_HELP,
      out: ['DIR|s3://BUCKET/PREFIX', `where the lake is (default ${CLI_DEFAULTS.lake})`],
      experiments: ['ID,..', 'only these experiments'],
      projects: ['ID,..', 'only the experiments of these projects'],
      'run-id': ['ID', 'name the run; the same id resumes it (default run-<UTC timestamp>)'],
      concurrency: ['N', `experiments and slots in flight (default ${CLI_DEFAULTS.concurrency})`],
      'rows-per-part': ['N', `Parquet rows per part file (default ${SETTINGS.rowsPerPart.default})`],
      'row-group-rows': ['N', `Parquet rows per row group (default ${SETTINGS.rowGroupRows.default})`],
      'prefetch-pages': [
        'N',
        `Pluto pages a slot requests ahead while it encodes, 0 for none (default ${SETTINGS.prefetchPages.default})`,
      ],
      full: ['', 'export every experiment again, changed or not'],
      missing: [
        'keep|retire',
        `what happens to experiments Pluto no longer lists (default ${CLI_DEFAULTS.missingExperiments})`,
      ],
      'retention-days': [
        'N',
        `days superseded run folders are kept (default ${SETTINGS.supersededRunGraceDays.default})`,
      ],
      'connect-timeout': [
        'S',
        `seconds the first request may take, retries included (default ${DEFAULT_FIRST_CONTACT_BUDGET_MS / 1000})`,
      ],
      'max-experiments': [
        'N',
        `ceiling on experiments per run (default ${DEFAULT_LIMITS.maxExperimentsPerRun})`,
      ],
      'max-rows-per-dataset': [
        'N',
        `ceiling on the count Pluto may report for one dataset (default ${DEFAULT_LIMITS.maxRowsPerDataset})`,
      ],
      'max-slots-per-experiment': [
        'N',
        `ceiling on the slots one experiment may plan (default ${DEFAULT_LIMITS.maxSlotsPerExperiment})`,
      ],
      'max-list-pages': ['N', `ceiling on the pages of one list (default ${DEFAULT_LIMITS.maxListPages})`],
      'max-response-mib': [
        'N',
        `ceiling on one response body, decompressed (default ${DEFAULT_LIMITS.maxResponseBytes / MIB})`,
      ],
      files: ['TYPE,..', 'copy the files of these data types (e.g. attachment,qc_report) into <out>/files/'],
      'max-file-bytes': [
        'N',
        `files bigger than this are skipped (default ${SETTINGS.maxFileBytes.default})`,
      ],
      'results-source': [
        RESULTS_SOURCES.join('|'),
        `a plot's results from its data pages, its complete download, or auto: the one with more columns (default ${DEFAULT_RESULTS_SOURCE})`,
      ],
    },
    run: async (values) => (await import('./export-command.js')).runExportCommand(values),
  }),
  probe: command({
    summary: 'Check that Pluto answers as the exporter assumes (token from PLUTO_API_TOKEN).',
    options: { 'api-url': { type: 'string' }, experiments: { type: 'string' }, save: { type: 'string' } },
    help: {
      'api-url': API_URL_HELP,
      experiments: [
        'ID,..',
        `probe these experiments (default the first ${CLI_DEFAULTS.probedExperiments} listed that Pluto shows)`,
      ],
      save: ['FILE', 'write the shapes seen (keys, types, counts; no values, no token) as JSON'],
    },
    run: async (values) => (await import('./probe-command.js')).runProbeCommand(values),
  }),
  query: command({
    summary: 'Run SQL with DuckDB over the current partitions of a local lake.',
    operand: '"SQL"',
    options: { lake: { type: 'string' }, json: { type: 'boolean' } },
    help: { lake: LAKE_HELP, json: JSON_HELP },
    run: async (values, operands) => {
      if (operands.length !== 1) throw new UsageError('query takes exactly one SQL string, in quotes');
      return (await import('./query-command.js')).runQueryCommand({ ...values, sql: operands[0] ?? '' });
    },
  }),
  runs: command({
    summary: 'Every run with its status, newest first.',
    options: { lake: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    help: {
      lake: LAKE_HELP,
      limit: ['N', `how many runs (default ${CLI_DEFAULTS.runsShown})`],
      json: JSON_HELP,
    },
    run: async (values) => (await import('./history-commands.js')).runRunsCommand(values),
  }),
  status: command({
    summary: 'What is current for one experiment, and its history.',
    operand: 'EXPERIMENT_ID',
    options: { lake: { type: 'string' }, json: { type: 'boolean' } },
    help: { lake: LAKE_HELP, json: JSON_HELP },
    run: async (values, operands) => {
      if (operands.length !== 1) throw new UsageError('status takes exactly one experiment id');
      return (await import('./history-commands.js')).runStatusCommand({
        ...values,
        experimentId: operands[0] ?? '',
      });
    },
  }),
  simulate: command({
    summary: "Run the Pluto API simulator with npm start's demo organisation.",
    options: { port: { type: 'string' }, seed: { type: 'string' }, experiments: { type: 'string' } },
    help: {
      port: ['N', `port on 127.0.0.1 (default ${CLI_DEFAULTS.simulatorPort}; 0 picks a free one)`],
      seed: ['S', `everything served follows from it (default ${DEMO_ORGANISATION.seed})`],
      experiments: ['N', `experiments listed (default ${DEMO_ORGANISATION.experiments})`],
    },
    run: async (values) => (await import('./simulate-command.js')).runSimulateCommand(values),
  }),
} as const;

export type CommandName = keyof typeof COMMANDS;

export class UsageError extends ConfigError {}

export function usage(): string {
  const names = Object.keys(COMMANDS) as CommandName[];
  const width = Math.max(...names.map((name) => name.length));
  return [
    'usage: pluto-export <command> [options]   (pluto-export <command> --help for its options)',
    '',
    'commands:',
    ...names.map((name) => `  ${name.padEnd(width)}  ${COMMANDS[name].summary}`),
  ].join('\n');
}

export function commandHelp(name: CommandName): string {
  const spec: Command<Options> = COMMANDS[name];
  const operand = spec.operand === undefined ? '' : ` ${spec.operand}`;
  const rows = [
    ...Object.entries(spec.options).map(([option, { type }]) => {
      const [value, text] = spec.help[option] ?? ['', ''];
      return [`--${option}${type === 'string' ? ` ${value}` : ''}`, text] as const;
    }),
    ['-h, --help', 'this help'] as const,
  ];
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    `usage: pluto-export ${name} [options]${operand}`,
    spec.summary,
    '',
    'options:',
    ...rows.map(([left, text]) => `  ${left.padEnd(width)}  ${text}`),
  ].join('\n');
}
