/**
 * What every Lambda handler shares: the environment, parsed once; the collaborators (S3 store,
 * Glue catalog, Secrets Manager token, Pluto client), built once per container; structured logs
 * and CloudWatch metrics. A handler is `stepHandler(<state name>)`: the step itself lives in core.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { GlueClient } from '@aws-sdk/client-glue';
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { GlueCatalog } from '../adapters/glue-catalog.js';
import { defaultS3Client, normalizePrefix, S3Store } from '../adapters/s3-store.js';
import { SecretsManagerReader } from '../adapters/secrets-manager-reader.js';
import { MAX_PLUTO_CONCURRENCY, mapConcurrency } from '../core/concurrency.js';
import { ConfigError, PlutoAuthError } from '../core/errors.js';
import { DEFAULT_LIMITS, MAX_RESPONSE_MIB_SETTING, MIB } from '../core/limits.js';
import { type ExportMetricName, METRICS_NAMESPACE, OUTCOME_METRICS } from '../core/metrics.js';
import { apiUrlSchema, createPlutoClient } from '../core/pluto/client.js';
import { maskSecrets } from '../core/secrets.js';
import {
  DEFAULT_PLUTO_API_URL,
  DEFAULT_RESULTS_SOURCE,
  type ExportSettings,
  exportSettings,
  fileTypeListSchema,
  resultsSourceSchema,
  SETTINGS,
} from '../core/settings.js';
import { CODE_VERSION } from '../core/version.js';
import { clientLimits, type ProgressListener, type StepDeps, systemClock } from '../core/workflow/deps.js';
import type { StepName } from '../core/workflow/messages.js';
import { STEPS } from '../core/workflow/steps.js';

const count = (max: number) => z.coerce.number().int().min(1).max(max);

export const environmentSchema = z.object({
  LAKE_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name'),
  LAKE_PREFIX: z.string().default(''),
  GLUE_DATABASE: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'expected a Glue database name'),
  PLUTO_API_URL: apiUrlSchema.default(DEFAULT_PLUTO_API_URL),
  /** ARN or name of the secret holding the Pluto API token. */
  PLUTO_SECRET_ID: z.string().min(1),
  /** The requests in flight the state machine's Maps were split for (infra/config.ts plutoConcurrency). */
  PLUTO_CONCURRENCY: count(MAX_PLUTO_CONCURRENCY).default(1),
  ROWS_PER_PART: count(SETTINGS.rowsPerPart.max).default(SETTINGS.rowsPerPart.default),
  PAGE_SIZE: count(SETTINGS.pageSize.max).default(SETTINGS.pageSize.default),
  ROW_GROUP_ROWS: count(SETTINGS.rowGroupRows.max).default(SETTINGS.rowGroupRows.default),
  PREFETCH_PAGES: z.coerce
    .number()
    .int()
    .min(0)
    .max(SETTINGS.prefetchPages.max)
    .default(SETTINGS.prefetchPages.default),
  LEASE_TTL_SECONDS: count(SETTINGS.leaseTtlSeconds.max).default(SETTINGS.leaseTtlSeconds.default),
  SUPERSEDED_RUN_GRACE_DAYS: count(SETTINGS.supersededRunGraceDays.max).default(
    SETTINGS.supersededRunGraceDays.default,
  ),
  POWERTOOLS_SERVICE_NAME: z.string().min(1).default('pluto-export'),
  MAX_EXPERIMENTS_PER_RUN: count(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxExperimentsPerRun),
  MAX_ROWS_PER_DATASET: count(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxRowsPerDataset),
  MAX_SLOTS_PER_EXPERIMENT: count(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxSlotsPerExperiment),
  MAX_LIST_PAGES: count(Number.MAX_SAFE_INTEGER).default(DEFAULT_LIMITS.maxListPages),
  MAX_RESPONSE_MIB: count(MAX_RESPONSE_MIB_SETTING).default(DEFAULT_LIMITS.maxResponseBytes / MIB),
  COPY_FILE_TYPES: fileTypeListSchema.default([]),
  MAX_FILE_BYTES: count(SETTINGS.maxFileBytes.max).default(SETTINGS.maxFileBytes.default),
  RESULTS_SOURCE: resultsSourceSchema.default(DEFAULT_RESULTS_SOURCE),
});

export interface RuntimeConfig {
  readonly bucket: string;
  readonly prefix: string;
  readonly glueDatabase: string;
  readonly plutoApiUrl: string;
  readonly secretId: string;
  readonly plutoConcurrency: number;
  readonly settings: ExportSettings;
  readonly serviceName: string;
}

/** Reads the function's environment; the first problem is a ConfigError naming the variable. */
export function parseEnvironment(env: NodeJS.ProcessEnv): RuntimeConfig {
  const names = Object.keys(environmentSchema.shape);
  // Lambda and CloudFormation cannot unset a variable, only blank it: blank means unset.
  const input = Object.fromEntries(names.map((name) => [name, env[name] === '' ? undefined : env[name]]));
  const parsed = environmentSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    const problem = input[name] === undefined ? 'is not set' : `is invalid: ${issue?.message ?? 'bad value'}`;
    throw new ConfigError(`Environment variable ${name} ${problem}`);
  }
  const e = parsed.data;
  return {
    bucket: e.LAKE_BUCKET,
    prefix: normalizePrefix(e.LAKE_PREFIX),
    glueDatabase: e.GLUE_DATABASE,
    plutoApiUrl: e.PLUTO_API_URL,
    secretId: e.PLUTO_SECRET_ID,
    plutoConcurrency: e.PLUTO_CONCURRENCY,
    settings: exportSettings({
      rowsPerPart: e.ROWS_PER_PART,
      pageSize: e.PAGE_SIZE,
      rowGroupRows: e.ROW_GROUP_ROWS,
      prefetchPages: e.PREFETCH_PAGES,
      leaseTtlSeconds: e.LEASE_TTL_SECONDS,
      supersededRunGraceDays: e.SUPERSEDED_RUN_GRACE_DAYS,
      limits: {
        maxExperimentsPerRun: e.MAX_EXPERIMENTS_PER_RUN,
        maxRowsPerDataset: e.MAX_ROWS_PER_DATASET,
        maxSlotsPerExperiment: e.MAX_SLOTS_PER_EXPERIMENT,
        maxListPages: e.MAX_LIST_PAGES,
        maxResponseBytes: e.MAX_RESPONSE_MIB * MIB,
      },
      copyFileTypes: e.COPY_FILE_TYPES,
      maxFileBytes: e.MAX_FILE_BYTES,
      resultsSource: e.RESULTS_SOURCE,
    }),
    serviceName: e.POWERTOOLS_SERVICE_NAME,
  };
}

export interface RuntimeClients {
  readonly s3?: S3Client;
  readonly glue?: GlueClient;
  readonly secretsManager?: SecretsManagerClient;
}

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly deps: StepDeps;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export function createRuntime(config: RuntimeConfig, clients: RuntimeClients = {}): Runtime {
  const logger = new Logger({
    serviceName: config.serviceName,
    // Log lines are a sink like the lake: an error message quoting the token prints `[redacted]`.
    jsonReplacerFn: (_key, value) => (typeof value === 'string' ? maskSecrets(value) : value),
  });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: config.serviceName });
  const lake = { bucket: config.bucket, prefix: config.prefix };
  const secrets = new SecretsManagerReader(config.secretId, {
    client: clients.secretsManager ?? new SecretsManagerClient({}),
  });
  const pluto = createPlutoClient({
    baseUrl: config.plutoApiUrl,
    secrets,
    version: CODE_VERSION,
    ...clientLimits(config.settings),
    onRetry: ({ attempt, delayMs, error }) => {
      emit(metrics, 'PlutoRetries', MetricUnit.Count, 1);
      logger.warn('Retrying a Pluto request', {
        attempt,
        delayMs,
        errorName: error.name,
        errorMessage: error.message,
      });
    },
  });
  const deps: StepDeps = {
    store: new S3Store(lake, clients.s3 ?? defaultS3Client()),
    catalog: new GlueCatalog({
      database: config.glueDatabase,
      lake,
      client: clients.glue ?? new GlueClient({}),
    }),
    pluto,
    clock: systemClock,
    settings: config.settings,
    progress: observability(logger, metrics),
    concurrency: mapConcurrency(config.plutoConcurrency),
  };
  return { config, deps, logger, metrics };
}

/** Progress events as log lines and metrics; counts only, never payloads. */
function observability(logger: Logger, metrics: Metrics): ProgressListener {
  return {
    runPlanned: (info) => logger.info('Run planned', info),
    experimentPlanned: (info) => logger.info('Experiment planned', info),
    slotExported: (info) => logger.info('Slot exported', info),
    experimentFinished: (info) => logger.info('Experiment finished', info),
    partWritten: ({ table, key, rows, bytes }) => {
      emit(metrics, 'PartsWritten', MetricUnit.Count, 1);
      emit(metrics, 'RowsExported', MetricUnit.Count, rows);
      emit(metrics, 'BytesWritten', MetricUnit.Bytes, bytes);
      logger.debug('Part written', { table, key, rows, bytes });
    },
    runFinished: ({ experiments }) => {
      for (const [status, name] of Object.entries(OUTCOME_METRICS) as [
        keyof typeof OUTCOME_METRICS,
        ExportMetricName,
      ][]) {
        emit(metrics, name, MetricUnit.Count, experiments[status]);
      }
    },
  };
}

/** Only names the dashboard and alarms know reach CloudWatch. */
function emit(
  metrics: Metrics,
  name: ExportMetricName,
  unit: (typeof MetricUnit)[keyof typeof MetricUnit],
  value: number,
): void {
  metrics.addMetric(name, unit, value);
}

/** Ids that tie a log line to a run, an experiment and a slot; nothing else of the event is logged. */
function correlationKeys(event: unknown): Record<string, string | number> {
  const e = (typeof event === 'object' && event !== null ? event : {}) as {
    runId?: unknown;
    experimentId?: unknown;
    item?: { experimentId?: unknown };
    slot?: { dataset?: unknown; slot?: unknown };
  };
  const keys: Record<string, string | number> = {};
  if (typeof e.runId === 'string') keys.runId = e.runId;
  const experimentId = e.experimentId ?? e.item?.experimentId;
  if (typeof experimentId === 'string') keys.experimentId = experimentId;
  if (typeof e.slot?.dataset === 'string') keys.dataset = e.slot.dataset;
  if (typeof e.slot?.slot === 'number') keys.slot = e.slot.slot;
  return keys;
}

let containerRuntime: Runtime | undefined;

/** Built on the first invocation, so a configuration error fails that invocation with its own name. */
export function runtimeFromEnvironment(): Runtime {
  containerRuntime ??= createRuntime(parseEnvironment(process.env));
  return containerRuntime;
}

export type StepHandler = (event: unknown, context?: Context) => Promise<unknown>;

/** In AWS the fix for a refused token is in Secrets Manager: the message says which secret. */
function namingTheSecret(error: PlutoAuthError, secretId: string): PlutoAuthError {
  return new PlutoAuthError(`${error.message}: put a valid Pluto API key into secret ${secretId}`, {
    cause: error,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    ...(error.code === undefined ? {} : { code: error.code }),
  });
}

/**
 * The Lambda handler of one state. Errors propagate unchanged: Lambda reports `error.name` as the
 * errorType that Retry and Catch match, and `error.message` (which holds Pluto's detail) as the message.
 * The log keys (step, run, experiment, slot) belong to the logger, which is right because Lambda runs
 * one invocation per container at a time; in-process callers must not overlap invocations of one runtime.
 */
export function stepHandler(step: StepName, runtime: () => Runtime = runtimeFromEnvironment): StepHandler {
  const run = STEPS[step];
  return async (event, context) => {
    const { config, deps, logger, metrics } = runtime();
    if (context !== undefined) logger.addContext(context);
    logger.appendKeys({ step, ...correlationKeys(event) });
    const started = performance.now();
    try {
      const output = await run(event, deps);
      logger.info(`${step} succeeded`, { durationMs: Math.round(performance.now() - started) });
      return output;
    } catch (error) {
      logger.error(`${step} failed`, {
        durationMs: Math.round(performance.now() - started),
        errorName: error instanceof Error ? error.name : 'Error',
        errorMessage: error instanceof Error ? error.message : String(error),
      });
      throw error instanceof PlutoAuthError ? namingTheSecret(error, config.secretId) : error;
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
}
