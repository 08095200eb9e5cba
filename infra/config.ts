/**
 * The deploy configuration (design.md, Configuration): cdk.json context `plutoExport` and/or a JSON file named by
 * context `configFile` (its keys override the context's), validated once; every default deploys.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { MAX_PLUTO_CONCURRENCY } from '../functions/core/concurrency.js';
import { ConfigError } from '../functions/core/errors.js';
import { idSchema as id } from '../functions/core/ids.js';
import { DEFAULT_LIMITS, MAX_RESPONSE_MIB_SETTING, MIB } from '../functions/core/limits.js';
import {
  DEFAULT_COPY_FILE_TYPES,
  DEFAULT_PLUTO_API_URL,
  DEFAULT_RESULTS_SOURCE,
  fileTypeSchema,
  resultsSourceSchema,
  SETTINGS,
} from '../functions/core/settings.js';

/** A customer managed key of an existing bucket or secret. */
const kmsKeyArn = z.string().regex(/^arn:aws[a-z-]*:kms:/, 'a KMS key ARN');

const bucketSchema = z.union([
  z.strictObject({ create: z.literal(true) }),
  z.strictObject({
    existingBucketName: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 lowercase letters, digits, . -)'),
    /** The bucket's SSE-KMS key, when its default encryption uses a customer managed key. */
    kmsKeyArn: kmsKeyArn.optional(),
  }),
]);

const secretSchema = z.union([
  z.strictObject({ create: z.literal(true) }),
  z.strictObject({
    existingSecretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/, 'a Secrets Manager secret ARN'),
    kmsKeyArn: kmsKeyArn.optional(),
  }),
  z.strictObject({ existingSecretName: z.string().min(1).max(512), kmsKeyArn: kmsKeyArn.optional() }),
]);

const ceiling = (fallback: number) => z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).default(fallback);

export const deployConfigSchema = z.strictObject({
  /** EventBridge Scheduler expression; times are UTC. */
  scheduleExpression: z
    .string()
    .regex(/^(cron|rate|at)\(.+\)$/, 'cron(...), rate(...) or at(...)')
    .default('cron(0 3 * * ? *)'),
  /** Optional second schedule whose runs re-export everything (e.g. weekly), catching edits the fingerprint misses. */
  fullRunScheduleExpression: z
    .string()
    .regex(/^(cron|rate|at)\(.+\)$/, 'cron(...), rate(...) or at(...)')
    .optional(),
  /** Committed experiments Pluto no longer lists or refuses: keep their last commit, or retire them. */
  missingExperiments: z.enum(['keep', 'retire']).default('keep'),
  /** Export only the experiments of these projects. */
  projectIds: z.array(id).min(1).optional(),
  /** Export only these experiments (with projectIds too, those projects only name each one's project). */
  experimentIds: z.array(id).min(1).optional(),
  bucket: bucketSchema.default({ create: true }),
  /** Key prefix of the lake root: '' (the bucket root) or a folder path. */
  prefix: z
    .string()
    // No `*` or `?`: the prefix is part of IAM resource ARNs, where they would widen the grants.
    .regex(
      /^(?:[A-Za-z0-9!_.'()-]+\/)*[A-Za-z0-9!_.'()-]*$/,
      "a folder path of letters, digits and !_.'()- without a leading /",
    )
    .transform((p) => (p === '' || p.endsWith('/') ? p : `${p}/`))
    .default(''),
  glueDatabase: z
    .string()
    .regex(/^[a-z0-9_]{1,255}$/, 'a Glue database name of lowercase letters, digits and _')
    .default('pluto'),
  secret: secretSchema.default({ create: true }),
  /**
   * Most Pluto requests in flight: the product of the two Maps' MaxConcurrency stays within it, and
   * StartRun and each PlanExperiment issue their requests within their share of it.
   */
  plutoConcurrency: z.number().int().min(1).max(MAX_PLUTO_CONCURRENCY).default(4),
  /**
   * Reserve this much of the account's Lambda concurrency for ExportSlot. Off by default: the Maps
   * already bound the load on Pluto, and an account with a low concurrency quota refuses a reservation.
   */
  exportSlotReservedConcurrency: z.number().int().min(1).max(1000).optional(),
  rowsPerPart: z
    .number()
    .int()
    .min(1_000)
    .max(SETTINGS.rowsPerPart.max)
    .default(SETTINGS.rowsPerPart.default),
  pageSize: z.number().int().min(1).max(SETTINGS.pageSize.max).default(SETTINGS.pageSize.default),
  /** Parquet rows per row group of a part. */
  rowGroupRows: z.number().int().min(1).max(SETTINGS.rowGroupRows.max).default(SETTINGS.rowGroupRows.default),
  /** Pluto pages an ExportSlot requests ahead while it encodes; 0 for none. */
  prefetchPages: z
    .number()
    .int()
    .min(0)
    .max(SETTINGS.prefetchPages.max)
    .default(SETTINGS.prefetchPages.default),
  /** Data types of each experiment's file inventory whose files are copied into `<prefix>files/`. */
  copyFileTypes: z.array(fileTypeSchema).default([...DEFAULT_COPY_FILE_TYPES]),
  /** Files bigger than this are recorded as skipped instead of copied. */
  maxFileBytes: z.number().int().min(1).max(SETTINGS.maxFileBytes.max).default(SETTINGS.maxFileBytes.default),
  /** Where a plot's results are read: `auto` (the table with more columns), `data` or `download`. */
  resultsSource: resultsSourceSchema.default(DEFAULT_RESULTS_SOURCE),
  /** Days a replaced or deleted lake object version is kept before it expires. */
  retentionDays: z.number().int().min(1).max(3650).default(30),
  supersededRunGraceDays: z
    .number()
    .int()
    .min(0)
    .max(SETTINGS.supersededRunGraceDays.max)
    .default(SETTINGS.supersededRunGraceDays.default),
  /** Ceilings on the work Pluto's answers may ask for (README, Limits); crossing one fails that experiment. */
  maxRowsPerDataset: ceiling(DEFAULT_LIMITS.maxRowsPerDataset),
  maxSlotsPerExperiment: ceiling(DEFAULT_LIMITS.maxSlotsPerExperiment),
  maxExperimentsPerRun: ceiling(DEFAULT_LIMITS.maxExperimentsPerRun),
  maxListPages: ceiling(DEFAULT_LIMITS.maxListPages),
  /** The largest response body read, in MiB after decompression. */
  maxResponseMiB: z
    .number()
    .int()
    .min(1)
    .max(MAX_RESPONSE_MIB_SETTING)
    .default(DEFAULT_LIMITS.maxResponseBytes / MIB),
  /** Percentage of experiments that may fail before the run itself fails (each is recorded anyway). */
  toleratedFailurePercentage: z.number().min(0).max(100).default(100),
  /** Athena stops a query of the workgroup after scanning this many gigabytes. */
  athenaBytesScannedCutoffGb: z.number().int().min(1).max(100_000).default(100),
  /** Receives the alarms by e-mail (the subscription must be confirmed). */
  alarmEmail: z.email().optional(),
  /** What a stack delete does to the bucket, key, secret, tables and logs. */
  removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  plutoApiUrl: z.url({ protocol: /^https$/ }).default(DEFAULT_PLUTO_API_URL),
});
export type DeployConfig = z.infer<typeof deployConfigSchema>;

/** Rules across keys, checked after the schema so that each message names one key. */
function crossKeyProblem(config: DeployConfig): [key: string, problem: string] | undefined {
  const reserved = config.exportSlotReservedConcurrency;
  if (reserved !== undefined && reserved < config.plutoConcurrency) {
    return [
      'exportSlotReservedConcurrency',
      `at least plutoConcurrency (${config.plutoConcurrency}), or ExportSlot invocations are throttled`,
    ];
  }
  return undefined;
}
export type DeployConfigInput = z.input<typeof deployConfigSchema>;

export const CONTEXT_KEY = 'plutoExport';
export const CONFIG_FILE_CONTEXT_KEY = 'configFile';

/** Reads a CDK context value; anything given with `-c key=value` arrives as a string. */
export type ContextReader = (key: string) => unknown;

/** The validated configuration, or a ConfigError whose one-line message names the key to fix. */
export function loadDeployConfig(context: ContextReader, cwd = process.cwd()): DeployConfig {
  const fromContext = asObject(context(CONTEXT_KEY), `context ${CONTEXT_KEY}`);
  const file = context(CONFIG_FILE_CONTEXT_KEY);
  if (file === undefined) return parseDeployConfig(fromContext);
  if (typeof file !== 'string' || file === '') {
    throw new ConfigError(`context ${CONFIG_FILE_CONTEXT_KEY}: expected the path of a JSON file`);
  }
  const fromFile = asObject(readJsonFile(resolve(cwd, file)), file);
  return parseDeployConfig({ ...fromContext, ...fromFile }, `context ${CONTEXT_KEY} and ${file}`);
}

/** `source` names where the values came from, for the message. */
export function parseDeployConfig(raw: unknown, source = `context ${CONTEXT_KEY}`): DeployConfig {
  const parsed = deployConfigSchema.safeParse(raw);
  if (parsed.success) {
    const problem = crossKeyProblem(parsed.data);
    if (problem === undefined) return parsed.data;
    throw new ConfigError(`${CONTEXT_KEY}.${problem[0]}: ${problem[1]} (in ${source})`);
  }
  const issue = parsed.error.issues[0];
  const path = issue === undefined || issue.path.length === 0 ? '' : `.${issue.path.join('.')}`;
  throw new ConfigError(`${CONTEXT_KEY}${path}: ${describe(issue)} (in ${source})`);
}

function describe(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return 'invalid value';
  if (issue.code === 'unrecognized_keys') return `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_union') {
    return 'expected {"create": true} or an existing resource (see cdk.json for the accepted keys)';
  }
  return issue.message;
}

function asObject(value: unknown, source: string): Record<string, unknown> {
  if (value === undefined) return {};
  const parsed = typeof value === 'string' ? parseJson(value, source) : value;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${source}: expected a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`context ${CONFIG_FILE_CONTEXT_KEY}: cannot read ${path}`, { cause });
  }
  return parseJson(text, path);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${source}: not valid JSON (${(cause as Error).message})`, { cause });
  }
}
