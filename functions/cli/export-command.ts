import { constants } from 'node:os';
import { z } from 'zod';
import { EnvSecretReader } from '../adapters/env-secret-reader.js';
import { ConfigError } from '../core/errors.js';
import { readManifest } from '../core/history.js';
import { idSchema } from '../core/ids.js';
import { describeHolder, readLease } from '../core/lease.js';
import { DEFAULT_LIMITS, MAX_RESPONSE_MIB_SETTING, MIB } from '../core/limits.js';
import { apiUrlSchema, createPlutoClient } from '../core/pluto/client.js';
import { DEFAULT_FIRST_CONTACT_BUDGET_MS } from '../core/pluto/first-contact.js';
import type { SecretReader } from '../core/ports.js';
import { type CommitRecord, parseCause } from '../core/records.js';
import {
  DEFAULT_PLUTO_API_URL,
  DEFAULT_RESULTS_SOURCE,
  exportSettings,
  fileTypeListSchema,
  idListSchema,
  resultsSourceSchema,
  SETTINGS,
} from '../core/settings.js';
import { CODE_VERSION } from '../core/version.js';
import { clientLimits } from '../core/workflow/deps.js';
import { formatCounts } from '../core/workflow/report.js';
import { openLake } from '../local/lake-location.js';
import { RunInterruptedError, runLocalExport } from '../local/local-export.js';
import { LocalExecutionError } from '../local/run-workflow.js';
import { CLI_DEFAULTS } from './defaults.js';
import { formatMs, formatTable, ROWS_WRITTEN_MEANING, TerminalProgress } from './progress.js';
import { stderr, stdout } from './terminal.js';

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

export const exportConfigSchema = z.object({
  apiUrl: apiUrlSchema.default(DEFAULT_PLUTO_API_URL),
  out: z.string().min(1).default(CLI_DEFAULTS.lake),
  experimentIds: idListSchema.optional(),
  projectIds: idListSchema.optional(),
  runId: idSchema.default(() => defaultRunId(new Date())),
  concurrency: positiveInt(64).default(CLI_DEFAULTS.concurrency),
  rowsPerPart: positiveInt(SETTINGS.rowsPerPart.max).default(SETTINGS.rowsPerPart.default),
  rowGroupRows: positiveInt(SETTINGS.rowGroupRows.max).default(SETTINGS.rowGroupRows.default),
  prefetchPages: z.coerce
    .number()
    .int()
    .min(0)
    .max(SETTINGS.prefetchPages.max)
    .default(SETTINGS.prefetchPages.default),
  full: z.boolean().default(false),
  missingExperiments: z.enum(['keep', 'retire']).default(CLI_DEFAULTS.missingExperiments),
  retentionDays: z.coerce
    .number()
    .min(0)
    .max(SETTINGS.supersededRunGraceDays.max)
    .default(SETTINGS.supersededRunGraceDays.default),
  maxExperimentsPerRun: positiveInt(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxExperimentsPerRun),
  maxRowsPerDataset: positiveInt(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxRowsPerDataset),
  maxSlotsPerExperiment: positiveInt(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxSlotsPerExperiment),
  maxListPages: positiveInt(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxListPages),
  maxResponseMiB: positiveInt(MAX_RESPONSE_MIB_SETTING).default(DEFAULT_LIMITS.maxResponseBytes / MIB),
  connectTimeoutSeconds: z.coerce
    .number()
    .positive()
    .max(3600)
    .default(DEFAULT_FIRST_CONTACT_BUDGET_MS / 1000),
  copyFileTypes: fileTypeListSchema.default([]),
  maxFileBytes: positiveInt(SETTINGS.maxFileBytes.max).default(SETTINGS.maxFileBytes.default),
  resultsSource: resultsSourceSchema.default(DEFAULT_RESULTS_SOURCE),
});
export type ExportConfig = z.infer<typeof exportConfigSchema>;

const OPTION_NAMES: Record<string, string> = {
  apiUrl: '--api-url',
  out: '--out',
  experimentIds: '--experiments',
  projectIds: '--projects',
  runId: '--run-id',
  concurrency: '--concurrency',
  rowsPerPart: '--rows-per-part',
  rowGroupRows: '--row-group-rows',
  prefetchPages: '--prefetch-pages',
  missingExperiments: '--missing',
  retentionDays: '--retention-days',
  maxExperimentsPerRun: '--max-experiments',
  maxRowsPerDataset: '--max-rows-per-dataset',
  maxSlotsPerExperiment: '--max-slots-per-experiment',
  maxListPages: '--max-list-pages',
  maxResponseMiB: '--max-response-mib',
  connectTimeoutSeconds: '--connect-timeout',
  copyFileTypes: '--files',
  maxFileBytes: '--max-file-bytes',
  resultsSource: '--results-source',
};

export function parseExportConfig(values: Record<string, string | boolean | undefined>): ExportConfig {
  const parsed = exportConfigSchema.safeParse({
    apiUrl: values['api-url'],
    out: values.out,
    experimentIds: values.experiments,
    projectIds: values.projects,
    runId: values['run-id'],
    concurrency: values.concurrency,
    rowsPerPart: values['rows-per-part'],
    rowGroupRows: values['row-group-rows'],
    prefetchPages: values['prefetch-pages'],
    full: values.full,
    missingExperiments: values.missing,
    retentionDays: values['retention-days'],
    maxExperimentsPerRun: values['max-experiments'],
    maxRowsPerDataset: values['max-rows-per-dataset'],
    maxSlotsPerExperiment: values['max-slots-per-experiment'],
    maxListPages: values['max-list-pages'],
    maxResponseMiB: values['max-response-mib'],
    connectTimeoutSeconds: values['connect-timeout'],
    copyFileTypes: values.files,
    maxFileBytes: values['max-file-bytes'],
    resultsSource: values['results-source'],
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const option = OPTION_NAMES[String(issue?.path[0])] ?? String(issue?.path[0]);
  throw new ConfigError(`${option}: ${issue?.message ?? 'invalid value'}`);
}

export const defaultRunId = (now: Date) =>
  `run-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;

export async function runExportCommand(
  values: Record<string, string | boolean | undefined>,
  secrets: SecretReader = new EnvSecretReader(),
): Promise<number> {
  const config = parseExportConfig(values);
  await secrets.getToken();
  const lake = await openLake(config.out, { purpose: 'export' });
  const progress = new TerminalProgress(stderr);
  const settings = exportSettings({
    rowsPerPart: config.rowsPerPart,
    rowGroupRows: config.rowGroupRows,
    prefetchPages: config.prefetchPages,
    supersededRunGraceDays: config.retentionDays,
    limits: {
      maxExperimentsPerRun: config.maxExperimentsPerRun,
      maxRowsPerDataset: config.maxRowsPerDataset,
      maxSlotsPerExperiment: config.maxSlotsPerExperiment,
      maxListPages: config.maxListPages,
      maxResponseBytes: config.maxResponseMiB * MIB,
    },
    copyFileTypes: config.copyFileTypes,
    maxFileBytes: config.maxFileBytes,
    resultsSource: config.resultsSource,
  });
  const started = Date.now();
  // SIGTERM (timeout, systemd, docker stop, a cancelled CI job) and SIGHUP end a run as Ctrl-C
  // does: what committed is recorded and the lease released. A second signal exits at once.
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) process.exit(signalExitCode(signal));
    interrupt.abort(signal);
  };
  for (const signal of INTERRUPTING_SIGNALS) process.on(signal, onSignal);
  let output: Awaited<ReturnType<typeof runLocalExport>>;
  try {
    output = await runLocalExport({
      input: {
        runId: config.runId,
        full: config.full,
        missingExperiments: config.missingExperiments,
        ...(config.experimentIds === undefined ? {} : { experimentIds: config.experimentIds }),
        ...(config.projectIds === undefined ? {} : { projectIds: config.projectIds }),
      },
      store: lake.store,
      catalog: lake.catalog,
      pluto: createPlutoClient({
        baseUrl: config.apiUrl,
        secrets,
        version: CODE_VERSION,
        ...clientLimits(settings),
        firstContact: { budgetMs: config.connectTimeoutSeconds * 1000 },
        onRetry: (info) => progress.retrying(info),
      }),
      settings,
      experimentConcurrency: config.concurrency,
      slotConcurrency: config.concurrency,
      progress,
      signal: interrupt.signal,
    });
  } catch (error) {
    if (error instanceof RunInterruptedError) {
      progress.finish();
      stderr.write(`pluto-export: ${interruptedLine(error, config, lake.store.location)}\n`);
      // Requests in flight when the signal came are abandoned, not awaited.
      process.exit(signalExitCode(error.reason as NodeJS.Signals));
    }
    throw explainRunFailure(error);
  } finally {
    for (const signal of INTERRUPTING_SIGNALS) process.off(signal, onSignal);
    progress.finish();
  }
  if (output.status === 'leased') {
    const lease = await readLease(lake.store);
    stderr.write(
      `pluto-export: not started: ${lease === undefined ? 'another run' : describeHolder(lease)} holds the lease on ` +
        `${lake.store.location}${lease === undefined ? '' : ` until ${lease.expiresAt}`}; run again when it has finished\n`,
    );
    return EXIT_LEASE_HELD;
  }
  const manifest = await readManifest(lake.store, output.runId);
  if (manifest !== undefined) {
    const durations = new Map(progress.outcomes.map((o) => [o.experimentId, o.durationMs]));
    // Rows this run wrote: an unchanged experiment's record repeats the counts of the run it kept.
    const rowsOf = (record: (typeof manifest.experiments)[number], pick: (dataset: string) => boolean) =>
      record.status !== 'exported'
        ? 0
        : record.datasets.filter((d) => pick(d.dataset)).reduce((sum, d) => sum + d.rowsWritten, 0);
    stdout.write(
      `${formatTable(
        [
          'experiment',
          'status',
          'datasets',
          'sample_rows',
          'assay_rows',
          'result_rows',
          'rows_written',
          'duration',
          'detail',
        ],
        manifest.experiments.map((record) => [
          record.experimentId,
          record.status,
          datasetStatusSummary(record),
          rowsOf(record, (d) => d === 'samples'),
          rowsOf(record, (d) => d === 'assay'),
          rowsOf(record, (d) => d.startsWith('plot-')),
          rowsOf(record, () => true),
          formatMs(
            durations.get(record.experimentId) ??
              Date.parse(record.finishedAt) - Date.parse(record.startedAt),
          ),
          problemOf(record),
        ]),
      )}\n${ROWS_WRITTEN_MEANING}; sample_rows, assay_rows and result_rows split it by table ` +
        `(tidy rows: one per cell of Pluto's wide tables)\n`,
    );
  }
  stdout.write(
    `run ${output.runId} ${output.status} in ${formatMs(Date.now() - started)}: ` +
      `${formatCounts(output.experiments)} -> ${lake.store.location}\n`,
  );
  return output.status === 'committed' ? 0 : 1;
}

/** Exit code of a run that did not start because another live run holds the lake's lease. */
export const EXIT_LEASE_HELD = 3;

const INTERRUPTING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP). */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** What stayed published and the command that resumes the run, on one line. */
function interruptedLine(error: RunInterruptedError, config: ExportConfig, location: string): string {
  const resume = [
    'pluto-export export',
    `--run-id ${config.runId}`,
    `--out ${location}`,
    ...(config.apiUrl === DEFAULT_PLUTO_API_URL ? [] : [`--api-url ${config.apiUrl}`]),
    ...(config.experimentIds === undefined ? [] : [`--experiments ${config.experimentIds.join(',')}`]),
    ...(config.projectIds === undefined ? [] : [`--projects ${config.projectIds.join(',')}`]),
    ...(config.full ? ['--full'] : []),
    ...(config.missingExperiments === 'keep' ? [] : [`--missing ${config.missingExperiments}`]),
  ].join(' ');
  const ended = error.ended;
  const kept =
    ended.result === 'recorded'
      ? `${ended.manifest.counts.exported} experiment(s) committed stay published; `
      : '';
  return `interrupted by ${error.reason}: run ${config.runId} stopped; ${kept}resume with: ${resume}`;
}

/** One line a user can act on, from the workflow's error name and Lambda-style cause. */
export function explainRunFailure(error: unknown): Error {
  if (!(error instanceof LocalExecutionError))
    return error instanceof Error ? error : new Error(String(error));
  const { message } = parseCause(error.error, error.errorCause);
  if (error.error === 'PlutoAuthError') {
    return new Error(
      `Pluto rejected the API token (${message}): set PLUTO_API_TOKEN to a valid Pluto API key`,
      {
        cause: error,
      },
    );
  }
  // A wrong --api-url or a denied permission is configuration too: exit 2. A full disk is a failed run (exit 1).
  if (
    error.error === 'ConfigError' ||
    error.error === 'AccessDeniedError' ||
    error.error === 'PlutoUnreachableError'
  ) {
    return new ConfigError(message, { cause: error });
  }
  if (error.error === 'PlutoWrongServerError') return new ConfigError(message, { cause: error });
  if (error.error === 'StoreFullError' || error.error === 'PlutoUnavailableError') {
    return new Error(message, { cause: error });
  }
  return new Error(`the run failed with ${error.error}: ${message}`, { cause: error });
}

/** Dataset statuses of sample data, assay data and plots, e.g. `4 exported, 1 no_data`. */
function datasetStatusSummary(record: CommitRecord): string {
  const counts = new Map<string, number>();
  for (const dataset of record.datasets) {
    if (dataset.dataset === 'experiment' || dataset.dataset === 'plots') continue;
    counts.set(dataset.status, (counts.get(dataset.status) ?? 0) + 1);
  }
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
}

/** The experiment's error, or for a partial one the first dataset that failed. */
function problemOf(record: CommitRecord): string {
  const error = record.error ?? record.datasets.find((d) => d.status === 'failed')?.error;
  if (error === undefined) return '';
  const dataset =
    record.error === undefined ? `${record.datasets.find((d) => d.error === error)?.dataset}: ` : '';
  return `${dataset}${error.detail ?? error.message}`;
}
