/**
 * One Lambda function per workflow step, each allowed only what its step does: its own prefixes
 * of the lake, the Pluto token only where Pluto is called, Glue partitions only where they move.
 */
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { EXPERIMENT_TABLES, TABLE_NAMES, type TableName } from '../../functions/core/contract.js';
import {
  abortKey,
  commitRecordKey,
  currentListKey,
  FILES_PREFIX,
  itemsKey,
  LEASE_KEY,
  manifestKey,
  partitionLocation,
  planKey,
  projectRecordKey,
  receiptPrefix,
  reportKey,
  runPrefix,
  slotFailurePrefix,
  slotsKey,
} from '../../functions/core/layout.js';
import { DEFAULT_LIMITS, MIB } from '../../functions/core/limits.js';
import { METRICS_NAMESPACE } from '../../functions/core/metrics.js';
import {
  DEFAULT_COPY_FILE_TYPES,
  DEFAULT_PLUTO_API_URL,
  DEFAULT_RESULTS_SOURCE,
  type ResultsSource,
  SETTINGS,
} from '../../functions/core/settings.js';
import type { WorkflowStep } from '../../functions/core/workflow/messages.js';
import { STATE_NAMES, slotSchema } from '../../functions/core/workflow/messages.js';
import type { DataLake } from './data-lake.js';

export interface ExportFunctionsProps {
  /** The lake the functions read and write. */
  readonly lake: DataLake;
  /** The secret holding the Pluto API token. */
  readonly secret: secretsmanager.ISecret;
  /**
   * The customer managed key an imported secret is encrypted with.
   * @default - the secret's key needs no grant (the AWS managed key, or a key the stack created)
   */
  readonly secretKey?: kms.IKey;
  /**
   * What the functions pass to GetSecretValue.
   * @default secret.secretArn
   */
  readonly secretId?: string;
  /**
   * Base URL of the Pluto API.
   * @default DEFAULT_PLUTO_API_URL
   */
  readonly plutoApiUrl?: string;
  /**
   * Pluto requests in flight the workflow's Maps were split for: StartRun and PlanExperiment
   * issue their independent requests within it (`PLUTO_CONCURRENCY`).
   * @default 1
   */
  readonly plutoConcurrency?: number;
  /**
   * Reserved concurrency of ExportSlot. Reserving fails the deploy in an account whose concurrency
   * quota cannot spare it, and the Maps' MaxConcurrency already bounds the slots in flight.
   * @default - none reserved
   */
  readonly exportSlotReservedConcurrency?: number;
  /**
   * Target Parquet rows per part.
   * @default SETTINGS.rowsPerPart.default
   */
  readonly rowsPerPart?: number;
  /**
   * Data types of the file inventory whose files are copied into the lake.
   * @default DEFAULT_COPY_FILE_TYPES
   */
  readonly copyFileTypes?: readonly string[];
  /**
   * Files bigger than this are skipped.
   * @default SETTINGS.maxFileBytes.default
   */
  readonly maxFileBytes?: number;
  /**
   * Where a plot's results are read: the data pages, the complete download, or (`auto`) the one
   * with more columns.
   * @default DEFAULT_RESULTS_SOURCE
   */
  readonly resultsSource?: ResultsSource;
  /**
   * `limit` of each Pluto data page request.
   * @default SETTINGS.pageSize.default
   */
  readonly pageSize?: number;
  /**
   * Parquet rows per row group.
   * @default SETTINGS.rowGroupRows.default
   */
  readonly rowGroupRows?: number;
  /**
   * Pluto pages an ExportSlot requests ahead while it encodes.
   * @default SETTINGS.prefetchPages.default
   */
  readonly prefetchPages?: number;
  /**
   * Days a superseded run's data stays after the run that replaced it.
   * @default SETTINGS.supersededRunGraceDays.default
   */
  readonly supersededRunGraceDays?: number;
  /**
   * Rows Pluto may count for one dataset (`MAX_ROWS_PER_DATASET`).
   * @default DEFAULT_LIMITS.maxRowsPerDataset
   */
  readonly maxRowsPerDataset?: number;
  /**
   * Slots one experiment may plan (`MAX_SLOTS_PER_EXPERIMENT`).
   * @default DEFAULT_LIMITS.maxSlotsPerExperiment
   */
  readonly maxSlotsPerExperiment?: number;
  /**
   * Experiments one run may list (`MAX_EXPERIMENTS_PER_RUN`).
   * @default DEFAULT_LIMITS.maxExperimentsPerRun
   */
  readonly maxExperimentsPerRun?: number;
  /**
   * Pages of one Pluto list endpoint (`MAX_LIST_PAGES`).
   * @default DEFAULT_LIMITS.maxListPages
   */
  readonly maxListPages?: number;
  /**
   * The largest response body read, in MiB after decompression (`MAX_RESPONSE_MIB`).
   * @default DEFAULT_LIMITS.maxResponseBytes in MiB
   */
  readonly maxResponseMiB?: number;
  /**
   * Powertools service name: the `service` dimension of every metric and log line.
   * @default 'pluto-export'
   */
  readonly serviceName?: string;
  /**
   * Retention of each function's log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What a stack delete does to the log groups.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The functions' Node.js; the local CLI and the tests run on the same major (the `node` dev dependency). */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

interface StepSettings {
  readonly file: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** The step calls Pluto, so it reads the token. */
  readonly callsPluto: boolean;
}

/** Memory of each step's function, in MB: the cost model prices what the stack deploys. */
export const stepMemoryMb = (step: WorkflowStep): number => STEPS[step].memorySize;

const STEPS: Readonly<Record<WorkflowStep, StepSettings>> = {
  startRun: { file: 'start-run.ts', memorySize: 512, timeout: Duration.minutes(15), callsPluto: true },
  planExperiment: {
    file: 'plan-experiment.ts',
    memorySize: 512,
    timeout: Duration.minutes(5),
    callsPluto: true,
  },
  // A slot streams its part: about two pages and one row group in memory whatever its size, under
  // 128 MiB above the runtime's own in the benchmark (README, Performance) for slots of 1M and 4M cells.
  exportSlot: { file: 'export-slot.ts', memorySize: 512, timeout: Duration.minutes(15), callsPluto: true },
  commitExperiment: {
    file: 'commit-experiment.ts',
    memorySize: 1024,
    timeout: Duration.minutes(5),
    callsPluto: false,
  },
  recordExperimentFailure: {
    file: 'record-experiment-failure.ts',
    memorySize: 256,
    timeout: Duration.minutes(1),
    callsPluto: false,
  },
  // Reads a commit record per experiment and removes superseded parts: 10,000 experiments took
  // 4.3 minutes against s3rver on a loaded machine (npm run test:scale), so the Lambda maximum.
  finalizeRun: {
    file: 'finalize-run.ts',
    memorySize: 1024,
    timeout: Duration.minutes(15),
    callsPluto: false,
  },
};

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WASM_FILE = 'parquet_wasm_bg.wasm';
/** Where npm installs it: the bundling input folder is the project root. */
const WASM_FROM_PROJECT_ROOT = `node_modules/parquet-wasm/node/${WASM_FILE}`;

/**
 * parquet-wasm's Node build reads its .wasm from `__dirname` at load time; the ESM bundle defines
 * `__dirname` as its own folder, and a bundle that contains parquet-wasm gets the file next to it.
 */
const BUNDLE_BANNER = [
  "import { createRequire as __createRequire } from 'node:module';",
  "import { dirname as __pathDirname } from 'node:path';",
  "import { fileURLToPath as __fileURLToPath } from 'node:url';",
  'const require = __createRequire(import.meta.url);',
  'const __filename = __fileURLToPath(import.meta.url);',
  'const __dirname = __pathDirname(__filename);',
].join(' ');

/** What `functions/adapters/glue-catalog.ts` calls. */
export const GLUE_READ_ACTIONS = ['glue:GetPartition', 'glue:GetPartitions'] as const;
export const GLUE_WRITE_ACTIONS = [
  'glue:BatchCreatePartition',
  'glue:BatchUpdatePartition',
  'glue:BatchDeletePartition',
] as const;

/** The S3 calls of `functions/adapters/s3-store.ts`: GetObject (also HEAD), PutObject (also multipart). */
type S3ObjectAction = 's3:GetObject' | 's3:PutObject' | 's3:AbortMultipartUpload' | 's3:DeleteObject';
const READ: readonly S3ObjectAction[] = ['s3:GetObject'];
const WRITE: readonly S3ObjectAction[] = ['s3:PutObject', 's3:AbortMultipartUpload'];
const DELETE: readonly S3ObjectAction[] = ['s3:DeleteObject'];
/** SSE-KMS: GetObject decrypts; PutObject generates a data key; a multipart upload also decrypts. */
const KMS_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/** The tables ExportSlot writes parts of: one per slot kind, and typed DE results beside `results`. */
const SLOT_TABLES: readonly TableName[] = [
  ...slotSchema.shape.kind.options.filter((kind) => kind !== 'file'),
  'differential_expression',
];

/**
 * Copies parquet-wasm's .wasm next to a bundle that loads it. The paths are the hook's own folders
 * (`/asset-input` and `/asset-output` when CDK falls back to bundling in Docker), never this machine's.
 */
export function afterBundlingCommands(inputDir: string, outputDir: string): string[] {
  const wasm = `${inputDir}/${WASM_FROM_PROJECT_ROOT}`;
  return [
    `if grep -q ${WASM_FILE} "${outputDir}/index.mjs"; then cp "${wasm}" "${outputDir}/${WASM_FILE}"; fi`,
  ];
}

/**
 * Not a state of the workflow: EventBridge invokes it when an execution fails, times out or is
 * aborted without FinalizeRun (constructs/run-guard.ts); it records the run and frees its lease.
 */
export const END_FAILED_RUN = 'EndFailedRun';
const END_FAILED_RUN_SETTINGS: StepSettings = {
  file: 'end-failed-run.ts',
  memorySize: 1024,
  timeout: Duration.minutes(5),
  callsPluto: false,
};

export class ExportFunctions extends Construct {
  readonly functions: Readonly<Record<WorkflowStep, NodejsFunction>>;
  readonly endFailedRun: NodejsFunction;
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: ExportFunctionsProps) {
    super(scope, id);
    const { lake } = props;
    this.serviceName = props.serviceName ?? 'pluto-export';
    const environment: Record<string, string> = {
      LAKE_BUCKET: lake.bucket.bucketName,
      LAKE_PREFIX: lake.prefix,
      GLUE_DATABASE: lake.databaseName,
      PLUTO_API_URL: props.plutoApiUrl ?? DEFAULT_PLUTO_API_URL,
      PLUTO_SECRET_ID: props.secretId ?? props.secret.secretArn,
      PLUTO_CONCURRENCY: String(props.plutoConcurrency ?? 1),
      ROWS_PER_PART: String(props.rowsPerPart ?? SETTINGS.rowsPerPart.default),
      PAGE_SIZE: String(props.pageSize ?? SETTINGS.pageSize.default),
      ROW_GROUP_ROWS: String(props.rowGroupRows ?? SETTINGS.rowGroupRows.default),
      PREFETCH_PAGES: String(props.prefetchPages ?? SETTINGS.prefetchPages.default),
      COPY_FILE_TYPES: (props.copyFileTypes ?? DEFAULT_COPY_FILE_TYPES).join(','),
      MAX_FILE_BYTES: String(props.maxFileBytes ?? SETTINGS.maxFileBytes.default),
      RESULTS_SOURCE: props.resultsSource ?? DEFAULT_RESULTS_SOURCE,
      SUPERSEDED_RUN_GRACE_DAYS: String(
        props.supersededRunGraceDays ?? SETTINGS.supersededRunGraceDays.default,
      ),
      MAX_ROWS_PER_DATASET: String(props.maxRowsPerDataset ?? DEFAULT_LIMITS.maxRowsPerDataset),
      MAX_SLOTS_PER_EXPERIMENT: String(props.maxSlotsPerExperiment ?? DEFAULT_LIMITS.maxSlotsPerExperiment),
      MAX_EXPERIMENTS_PER_RUN: String(props.maxExperimentsPerRun ?? DEFAULT_LIMITS.maxExperimentsPerRun),
      MAX_LIST_PAGES: String(props.maxListPages ?? DEFAULT_LIMITS.maxListPages),
      MAX_RESPONSE_MIB: String(props.maxResponseMiB ?? DEFAULT_LIMITS.maxResponseBytes / MIB),
      POWERTOOLS_SERVICE_NAME: this.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      NODE_OPTIONS: '--enable-source-maps',
    };

    // A stack that is not being bundled (another stack selected, or a unit test) never builds its
    // assets; a fixed hash spares CDK fingerprinting the whole project root, node_modules included.
    const bundled = Stack.of(this).bundlingRequired;
    const bundle = (name: string, settings: StepSettings): NodejsFunction => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      });
      // An own role, not the AWS managed basic execution role, so logging is limited to this log group.
      const role = new iam.Role(this, `${name}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `pluto-export ${name}`,
      });
      logGroup.grantWrite(role);
      const fn = new NodejsFunction(this, name, {
        description: `pluto-export ${name}`,
        entry: fileURLToPath(new URL(`../../functions/handlers/${settings.file}`, import.meta.url)),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: fileURLToPath(new URL('../../package-lock.json', import.meta.url)),
        runtime: LAMBDA_RUNTIME,
        architecture: lambda.Architecture.ARM_64,
        memorySize: settings.memorySize,
        timeout: settings.timeout,
        role,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        environment,
        ...(name === STATE_NAMES.exportSlot && props.exportSlotReservedConcurrency !== undefined
          ? { reservedConcurrentExecutions: props.exportSlotReservedConcurrency }
          : {}),
        bundling: {
          format: OutputFormat.ESM,
          target: 'node24',
          sourceMap: true,
          mainFields: ['module', 'main'],
          // The SDK is bundled so that the deployed code runs the client versions it was tested with.
          externalModules: [],
          banner: BUNDLE_BANNER,
          ...(bundled ? {} : { assetHash: `not-bundled-${name}` }),
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: afterBundlingCommands,
          },
        },
      });
      if (settings.callsPluto) {
        props.secret.grantRead(fn);
        if (props.secretKey !== undefined) {
          // Only through Secrets Manager: the key may protect other data of the account.
          fn.addToRolePolicy(
            new iam.PolicyStatement({
              actions: ['kms:Decrypt'],
              resources: [props.secretKey.keyArn],
              conditions: {
                StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
              },
            }),
          );
        }
      }
      return fn;
    };
    const functions = {} as Record<WorkflowStep, NodejsFunction>;
    for (const [step, settings] of Object.entries(STEPS) as [WorkflowStep, StepSettings][]) {
      functions[step] = bundle(STATE_NAMES[step], settings);
    }
    this.functions = functions;
    this.endFailedRun = bundle(END_FAILED_RUN, END_FAILED_RUN_SETTINGS);
    this.grantLakeAccess(lake);
  }

  /**
   * Each step's keys of the lake, as `functions/core/layout.ts` names them with `*` for the ids,
   * and its Glue tables.
   */
  private grantLakeAccess(lake: DataLake): void {
    const f = this.functions;
    const objects = (fn: lambda.IFunction, actions: readonly S3ObjectAction[], patterns: readonly string[]) =>
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [...actions],
          resources: patterns.map((p) => lake.objectsArn(p)),
        }),
      );
    const glue = (fn: lambda.IFunction, actions: readonly string[], tables: readonly TableName[]) =>
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: [...actions], resources: lake.glueArns(tables) }),
      );

    const ANY = '*';
    const run = runPrefix(ANY);
    const parts = (tables: readonly TableName[]) =>
      tables.map((table) => `${partitionLocation(table, ANY)}*`);
    const commitRecords = commitRecordKey(ANY, ANY);

    // Listing only the run records, the data tables and the copied files. S3 also checks s3:ListBucket, without any
    // prefix, to answer a GetObject or HEAD of a missing key with 404 rather than 403: hence IfExists.
    const listed = [`${lake.prefix}runs/*`, `${lake.prefix}data/*`, `${lake.prefix}${FILES_PREFIX}*`];
    for (const fn of [...Object.values(f), this.endFailedRun]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [lake.bucket.bucketArn],
          conditions: { StringLikeIfExists: { 's3:prefix': listed } },
        }),
      );
      objects(fn, READ, [`${run}*`, LEASE_KEY]);
      if (lake.bucketKey !== undefined) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: KMS_ACTIONS, resources: [lake.bucketKey.keyArn] }),
        );
      }
    }

    objects(f.startRun, WRITE, [
      itemsKey(ANY),
      LEASE_KEY,
      ...parts(['projects']),
      projectRecordKey(ANY, ANY),
    ]);
    // A project part an earlier attempt of the run stored is read back to be compared.
    objects(f.startRun, READ, parts(['projects']));
    glue(f.startRun, [...GLUE_READ_ACTIONS, ...GLUE_WRITE_ACTIONS], ['projects']);
    // A resumed run clears its abort record and the failures of slots it will retry. A stale lease is taken over by a
    // PutObject with IfMatch, which S3 allows only with s3:GetObject as well (every step reads the lease).
    objects(f.startRun, DELETE, [abortKey(ANY), `${slotFailurePrefix(ANY, ANY)}*`]);

    objects(f.planExperiment, WRITE, [planKey(ANY, ANY), slotsKey(ANY, ANY), commitRecords]);
    // Copied files: looked up when planning (already copied?), streamed in by ExportSlot, checked at commit.
    const copies = `${FILES_PREFIX}*`;
    objects(f.planExperiment, READ, [copies]);
    glue(f.planExperiment, GLUE_READ_ACTIONS, ['experiments']);

    objects(f.exportSlot, READ, [...parts(SLOT_TABLES), copies]);
    objects(f.exportSlot, WRITE, [
      ...parts(SLOT_TABLES),
      copies,
      `${receiptPrefix(ANY, ANY)}*`,
      `${slotFailurePrefix(ANY, ANY)}*`,
    ]);
    // A slot that succeeds on a retry removes the failure an earlier attempt left.
    objects(f.exportSlot, DELETE, [`${slotFailurePrefix(ANY, ANY)}*`]);

    objects(f.commitExperiment, READ, [...parts(EXPERIMENT_TABLES), copies]);
    objects(f.commitExperiment, WRITE, [...parts(EXPERIMENT_TABLES), commitRecords]);
    objects(f.commitExperiment, DELETE, parts(EXPERIMENT_TABLES));
    glue(f.commitExperiment, [...GLUE_READ_ACTIONS, ...GLUE_WRITE_ACTIONS], EXPERIMENT_TABLES);

    objects(f.recordExperimentFailure, WRITE, [commitRecords, abortKey(ANY)]);

    // Each table's current file list, rebuilt against the catalog when a run's record is published.
    const currentLists = TABLE_NAMES.map(currentListKey);
    objects(f.finalizeRun, READ, [...parts(['export_log']), ...currentLists]);
    objects(f.finalizeRun, WRITE, [
      ...parts(['export_log']),
      manifestKey(ANY),
      reportKey(ANY),
      commitRecords,
      ...currentLists,
    ]);
    // Retention removes superseded and abandoned run folders of the experiment and project tables once their grace
    // period is over, and the receipts of slots that were never committed.
    objects(f.finalizeRun, DELETE, [
      LEASE_KEY,
      ...parts([...EXPERIMENT_TABLES, 'projects']),
      `${receiptPrefix(ANY, ANY)}*`,
    ]);
    // The run's export_log partition, and retiring experiments no longer listed from every table.
    glue(f.finalizeRun, [...GLUE_READ_ACTIONS, ...GLUE_WRITE_ACTIONS], TABLE_NAMES);

    // A run that ended without FinalizeRun: its record from the commit records, and its lease freed. The lease goes by
    // a DeleteObject with IfMatch, for which S3 checks s3:GetObject as well.
    objects(this.endFailedRun, READ, currentLists);
    objects(this.endFailedRun, WRITE, [
      ...parts(['export_log']),
      manifestKey(ANY),
      reportKey(ANY),
      ...currentLists,
    ]);
    objects(this.endFailedRun, DELETE, [LEASE_KEY]);
    glue(this.endFailedRun, [...GLUE_READ_ACTIONS, ...GLUE_WRITE_ACTIONS], ['export_log']);
    glue(this.endFailedRun, GLUE_READ_ACTIONS, TABLE_NAMES);
  }
}
