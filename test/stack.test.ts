import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import aslValidator from 'asl-validator';
import { App, CfnElement, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mapConcurrency } from '../functions/core/concurrency.js';
import { type ColumnType, TABLE_NAMES, TABLES, type TableName } from '../functions/core/contract.js';
import { ConfigError, RETRYABLE_ERROR_NAMES } from '../functions/core/errors.js';
import {
  abortKey,
  commitRecordKey,
  currentListKey,
  exportLogPartKey,
  itemsKey,
  LEASE_KEY,
  manifestKey,
  partKey,
  planKey,
  receiptKey,
  reportKey,
  slotFailureKey,
  slotsKey,
} from '../functions/core/layout.js';
import { TableRows } from '../functions/core/melt.js';
import { EXPORT_METRICS } from '../functions/core/metrics.js';
import { encodeParquet } from '../functions/core/parquet.js';
import { runInputSchema, WORKFLOW_STEPS, type WorkflowStep } from '../functions/core/workflow/messages.js';
import { parseEnvironment } from '../functions/handlers/runtime.js';
import {
  type DeployConfigInput,
  deployConfigSchema,
  loadDeployConfig,
  parseDeployConfig,
} from '../infra/config.js';
import { afterBundlingCommands } from '../infra/constructs/export-functions.js';
import { exampleQueries } from '../infra/example-queries.js';
import { PlutoExportStack } from '../infra/stack.js';
import { LAMBDA_CRASH_ERRORS, LAMBDA_SERVICE_ERRORS } from '../infra/workflow.js';

const ENV = { account: '111111111111', region: 'eu-west-1' };

interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly [field: string]: unknown;
}

function propertiesOf(resource: Resource | undefined): Record<string, unknown> {
  if (resource === undefined) throw new Error('no such resource');
  return resource.Properties;
}

interface Synthesized {
  readonly app: App;
  readonly stack: PlutoExportStack;
  readonly template: Template;
  readonly resources: Record<string, Resource>;
}

/**
 * Synthesizes without bundling and without CDK's built-in CloudFormation schema validation (seconds
 * of WebAssembly start-up): both happen in the real `npx cdk synth` of CI.
 */
function synth(config: DeployConfigInput = {}): Synthesized {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new PlutoExportStack(app, 'PlutoExport', { env: ENV, config: parseDeployConfig(config) });
  const template = Template.fromStack(stack);
  return { app, stack, template, resources: template.toJSON().Resources };
}

const idOf = (s: Synthesized, construct: IConstruct) =>
  s.stack.getLogicalId(
    (construct instanceof CfnElement ? construct : construct.node.defaultChild) as CfnElement,
  );

/** A CloudFormation value as text: `{LogicalId}` for a Ref, `{LogicalId.Attr}` for a GetAtt. */
function render(value: unknown, refs: (id: string, attribute?: string) => string = defaultRef): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return refs(v.Ref);
  if (Array.isArray(v['Fn::GetAtt'])) {
    const [id, attribute] = v['Fn::GetAtt'] as [string, string];
    return refs(id, attribute);
  }
  // Select(6, Split(':', Ref machine)): the state machine's name, as CDK forms its execution ARNs.
  const select = v['Fn::Select'] as [number, { 'Fn::Split': [string, { Ref: string }] }] | undefined;
  if (select?.[0] === 6 && select[1]['Fn::Split']?.[0] === ':') {
    return refs(select[1]['Fn::Split'][1].Ref, 'Name');
  }
  if (Array.isArray(v['Fn::Join'])) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => render(part, refs)).join(separator);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}
const defaultRef = (id: string, attribute?: string) =>
  attribute === undefined ? `{${id}}` : `{${id}.${attribute}}`;

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}
const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

function roleStatements(s: Synthesized, fn: NodejsFunction): Statement[] {
  const policy = (fn.role as iam.Role).node.findChild('DefaultPolicy').node.defaultChild as CfnElement;
  const document = s.resources[s.stack.getLogicalId(policy)]?.Properties?.PolicyDocument as {
    Statement: Statement[];
  };
  return document.Statement;
}

/** Whether an Allow statement grants `action` on `resource` (both matched as IAM globs). */
function allows(statements: readonly Statement[], action: string, resource: string): boolean {
  return statements.some(
    (st) =>
      st.Effect === 'Allow' &&
      list(st.Action).some((a) => glob(a).test(action)) &&
      list(st.Resource).some((r) => glob(render(r)).test(resource)),
  );
}
const actionsOf = (statements: readonly Statement[]) => new Set(statements.flatMap((st) => list(st.Action)));

const GLUE_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'string',
  double: 'double',
  bigint: 'bigint',
  int: 'int',
  boolean: 'boolean',
  timestamp: 'timestamp',
};

let defaults: Synthesized;
let custom: Synthesized;
const CUSTOM: DeployConfigInput = {
  scheduleExpression: 'rate(12 hours)',
  fullRunScheduleExpression: 'cron(0 4 ? * SUN *)',
  missingExperiments: 'retire',
  projectIds: ['PRJ1', 'PRJ2'],
  bucket: { existingBucketName: 'acme-lake', kmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/abc' },
  prefix: 'exports/pluto',
  glueDatabase: 'pluto_lab',
  secret: { existingSecretName: 'pluto/api-token' },
  plutoConcurrency: 9,
  exportSlotReservedConcurrency: 12,
  rowsPerPart: 250_000,
  rowGroupRows: 65_536,
  prefetchPages: 2,
  maxRowsPerDataset: 2_000_000,
  maxSlotsPerExperiment: 500,
  maxExperimentsPerRun: 3_000,
  maxListPages: 40,
  maxResponseMiB: 64,
  resultsSource: 'data',
  retentionDays: 7,
  toleratedFailurePercentage: 20,
  athenaBytesScannedCutoffGb: 10,
  alarmEmail: 'data-team@example.com',
  removalPolicy: 'destroy',
};

/** A function's environment as its runtime parses it; values CloudFormation resolves are stood in for. */
function runtimeConfigOf(s: Synthesized, fn: IConstruct) {
  const environment = s.resources[idOf(s, fn)]?.Properties.Environment as {
    Variables: Record<string, unknown>;
  };
  const variables = Object.fromEntries(
    Object.entries(environment.Variables).map(([name, value]) => [
      name,
      typeof value === 'string' ? value : 'resolved-at-deploy',
    ]),
  );
  return parseEnvironment({ ...variables, LAKE_BUCKET: 'acme-lake', GLUE_DATABASE: 'pluto' });
}

beforeAll(() => {
  defaults = synth();
  custom = synth(CUSTOM);
});

describe('the data lake', () => {
  it('is an SSL-only, private, KMS-encrypted (rotating key), versioned, access-logged bucket kept on delete', () => {
    const s = defaults;
    const bucketId = idOf(s, s.stack.lake.bucket);
    const logsId = idOf(s, s.stack.lake.accessLogsBucket as IConstruct);
    const keyId = idOf(s, s.stack.lake.key);
    const bucket = s.resources[bucketId];
    expect(bucket).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
              },
            },
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: { Ref: logsId } },
      },
    });
    const rules = (propertiesOf(bucket).LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
    );
    expect(s.resources[keyId]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { EnableKeyRotation: true },
    });
    expect(s.resources[logsId]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
      },
    });

    const policies = Object.values(s.resources).filter((r) => r.Type === 'AWS::S3::BucketPolicy');
    const sslDenied = policies
      .filter((p) =>
        (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement.some(
          (st) =>
            st.Effect === 'Deny' &&
            JSON.stringify(st.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
        ),
      )
      .map((p) => (p.Properties.Bucket as { Ref: string }).Ref)
      .sort();
    expect(sslDenied).toEqual([bucketId, logsId].sort());
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpu-abort-incomplete-mpu-lifecycle-config.html
  it('aborts incomplete multipart uploads of the whole bucket a day after they began (S3 lifecycle AbortIncompleteMultipartUpload)', () => {
    const s = defaults;
    const bucket = s.resources[idOf(s, s.stack.lake.bucket)];
    const rules = (propertiesOf(bucket).LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    const aborting = rules.filter((rule) => rule.AbortIncompleteMultipartUpload !== undefined);
    expect(aborting).toEqual([
      {
        Id: 'abort-incomplete-multipart-uploads',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        Status: 'Enabled',
      },
    ]);
  });

  it('honours retention days and removal policy, and leaves an existing bucket alone', () => {
    expect(Object.values(custom.resources).filter((r) => r.Type === 'AWS::S3::Bucket')).toEqual([]);
    const key = Object.values(custom.resources).find((r) => r.Type === 'AWS::KMS::Key');
    expect(key).toMatchObject({ DeletionPolicy: 'Delete', Properties: { EnableKeyRotation: true } });
    const s = synth({ retentionDays: 90, removalPolicy: 'destroy' });
    const [bucket] = Object.values(s.resources).filter(
      (r) => r.Type === 'AWS::S3::Bucket' && r.Properties.VersioningConfiguration !== undefined,
    );
    expect(bucket?.DeletionPolicy).toBe('Delete');
    expect(JSON.stringify(bucket?.Properties?.LifecycleConfiguration)).toContain('{"NoncurrentDays":90}');
  });

  it('defines every contract table in Glue with exactly the contract columns, Parquet SerDe, and no projection', async () => {
    const tables = Object.values(custom.resources).filter((r) => r.Type === 'AWS::Glue::Table');
    expect(tables.map((t) => (t.Properties.TableInput as { Name: string }).Name).sort()).toEqual(
      [...TABLE_NAMES].sort(),
    );
    expect(Object.values(custom.resources).some((r) => r.Type === 'AWS::Glue::Crawler')).toBe(false);
    expect(
      Object.values(custom.resources).find((r) => r.Type === 'AWS::Glue::Database')?.Properties,
    ).toMatchObject({
      DatabaseInput: { Name: 'pluto_lab' },
    });

    const parquetTypes = await parquetColumnTypes();
    for (const table of tables) {
      const input = table.Properties.TableInput as {
        Name: TableName;
        Parameters: Record<string, string>;
        PartitionKeys: { Name: string; Type: string }[];
        StorageDescriptor: {
          Columns: { Name: string; Type: string }[];
          Location: unknown;
          InputFormat: string;
          OutputFormat: string;
          SerdeInfo: { SerializationLibrary: string };
        };
      };
      const name = input.Name;
      const columns = input.StorageDescriptor.Columns.map((c) => [c.Name, c.Type]);
      expect(columns, name).toEqual(TABLES[name].columns.map((c) => [c.name, GLUE_TYPE[c.type]]));
      expect(columns, `${name} as written to Parquet`).toEqual(parquetTypes.get(name));
      expect(input.PartitionKeys.map((k) => [k.Name, k.Type])).toEqual([
        [TABLES[name].partitionKey, 'string'],
      ]);
      expect(input.StorageDescriptor).toMatchObject({
        InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
        OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
        SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
      });
      expect(render(input.StorageDescriptor.Location)).toBe(`s3://acme-lake/exports/pluto/data/${name}/`);
      expect(Object.keys(input.Parameters).filter((k) => k.startsWith('projection'))).toEqual([]);
    }
  });

  it('queries through an Athena v3 workgroup that encrypts results with the key, enforced, with a scan cutoff', () => {
    const s = defaults;
    const [workgroup] = Object.values(s.resources).filter((r) => r.Type === 'AWS::Athena::WorkGroup');
    expect(workgroup?.Properties).toMatchObject({
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: 100 * 1024 ** 3,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        ResultConfiguration: {
          EncryptionConfiguration: {
            EncryptionOption: 'SSE_KMS',
            KmsKey: { 'Fn::GetAtt': [idOf(s, s.stack.lake.key), 'Arn'] },
          },
        },
      },
    });
    const location = (
      propertiesOf(workgroup).WorkGroupConfiguration as { ResultConfiguration: { OutputLocation: unknown } }
    ).ResultConfiguration.OutputLocation;
    expect(render(location)).toBe(`s3://{${idOf(s, s.stack.lake.bucket)}}/athena-results/`);
    const customGroup = Object.values(custom.resources).find((r) => r.Type === 'AWS::Athena::WorkGroup');
    expect(JSON.stringify(customGroup?.Properties)).toContain(
      `"BytesScannedCutoffPerQuery":${10 * 1024 ** 3}`,
    );
  });
});

describe('Athena named queries', () => {
  it("are the README's example SQL, one per commented statement, in the workgroup and database", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const queries = exampleQueries(readme);
    expect(queries.map((q) => q.name)).toEqual([
      'experiments and their sizes',
      'sample metadata as a wide table per experiment',
      'one gene across all experiments, joined to a sample attribute',
      'cells that were not numbers',
      'plots and their analyses',
      'PCA coordinates from the generic results table',
      'significant genes in every differential expression analysis',
      'results joined to the analysis that produced them, with its parameters',
      'experiments of one project with a protocol among their attachments',
      'what each run did',
    ]);
    const block = /### Example SQL[\s\S]*?```sql\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    for (const query of queries) {
      expect(block).toContain(`-- ${query.name}\n${query.sql}`);
      expect(query.sql.trimEnd().endsWith(';')).toBe(true);
    }
    for (const s of [defaults, custom]) {
      const named = Object.values(s.resources).filter((r) => r.Type === 'AWS::Athena::NamedQuery');
      expect(named.map((r) => r.Properties.Name)).toEqual(queries.map((q) => q.name));
      for (const [i, r] of named.entries()) {
        expect(r.Properties).toMatchObject({
          Database: s === defaults ? 'pluto' : 'pluto_lab',
          QueryString: queries[i]?.sql,
          WorkGroup: { Ref: idOf(s, s.stack.lake.workgroup) },
        });
      }
    }
  });
});

/** The Hive type Athena reads each column of an empty part as, from DuckDB's parquet_schema. */
async function parquetColumnTypes(): Promise<Map<TableName, string[][]>> {
  const folder = mkdtempSync(join(tmpdir(), 'stack-test-'));
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const found = new Map<TableName, string[][]>();
    for (const table of TABLE_NAMES) {
      const file = join(folder, `${table}.parquet`);
      writeFileSync(file, encodeParquet(table, new TableRows(table).columns(), 0));
      const reader = await connection.runAndReadAll(
        `SELECT name, type, converted_type FROM parquet_schema('${file}') WHERE type IS NOT NULL`,
      );
      found.set(
        table,
        reader
          .getRowObjectsJson()
          .map((row) => [String(row.name), hiveType(String(row.type), row.converted_type)]),
      );
    }
    return found;
  } finally {
    connection.closeSync();
    instance.closeSync();
    rmSync(folder, { recursive: true, force: true });
  }
}

function hiveType(physical: string, converted: unknown): string {
  const key = `${physical}/${converted ?? ''}`;
  const types: Record<string, string> = {
    'BYTE_ARRAY/UTF8': 'string',
    'DOUBLE/': 'double',
    'INT64/': 'bigint',
    'INT32/': 'int',
    'BOOLEAN/': 'boolean',
    'INT64/TIMESTAMP_MILLIS': 'timestamp',
  };
  const type = types[key];
  if (type === undefined) throw new Error(`no Hive type for Parquet ${key}`);
  return type;
}

describe('the functions', () => {
  it('run Node.js 24 on arm64 with the configuration in their environment, ExportSlot capped', () => {
    const s = custom;
    for (const step of WORKFLOW_STEPS) {
      const fn = s.stack.exportFunctions.functions[step];
      const properties = s.resources[idOf(s, fn)]?.Properties;
      expect(properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Environment: {
          Variables: {
            LAKE_BUCKET: 'acme-lake',
            LAKE_PREFIX: 'exports/pluto/',
            GLUE_DATABASE: 'pluto_lab',
            PLUTO_API_URL: 'https://api.pluto.bio/',
            PLUTO_SECRET_ID: 'pluto/api-token',
            PLUTO_CONCURRENCY: '9',
            ROWS_PER_PART: '250000',
            PAGE_SIZE: '10000',
            ROW_GROUP_ROWS: '65536',
            PREFETCH_PAGES: '2',
            SUPERSEDED_RUN_GRACE_DAYS: '7',
            MAX_ROWS_PER_DATASET: '2000000',
            MAX_SLOTS_PER_EXPERIMENT: '500',
            MAX_EXPERIMENTS_PER_RUN: '3000',
            MAX_LIST_PAGES: '40',
            MAX_RESPONSE_MIB: '64',
            POWERTOOLS_SERVICE_NAME: 'pluto-export',
            POWERTOOLS_METRICS_NAMESPACE: 'PlutoExport',
          },
        },
      });
      expect(properties?.ReservedConcurrentExecutions).toBe(step === 'exportSlot' ? 12 : undefined);
    }
  });

  // ExportSlot streams its part (README, Performance: slots of 1M and 4M cells); the memory sizes
  // are the cost model's too.
  it('give ExportSlot 512 MB and every other step the memory of its own work', () => {
    const s = custom;
    const memory = Object.fromEntries(
      WORKFLOW_STEPS.map((step) => {
        const fn = s.stack.exportFunctions.functions[step];
        return [step, s.resources[idOf(s, fn)]?.Properties?.MemorySize];
      }),
    );
    expect(memory).toEqual({
      startRun: 512,
      planExperiment: 512,
      exportSlot: 512,
      commitExperiment: 1024,
      recordExperimentFailure: 256,
      finalizeRun: 1024,
    });
  });

  it('pass the configured ceilings to every function, where the runtime reads them back (defaults when unset)', () => {
    const MIB = 1024 * 1024;
    const expected = [
      [
        defaults,
        {
          maxRowsPerDataset: 50_000_000,
          maxSlotsPerExperiment: 20_000,
          maxExperimentsPerRun: 100_000,
          maxListPages: 10_000,
          maxResponseBytes: 128 * MIB,
        },
      ],
      [
        custom,
        {
          maxRowsPerDataset: 2_000_000,
          maxSlotsPerExperiment: 500,
          maxExperimentsPerRun: 3_000,
          maxListPages: 40,
          maxResponseBytes: 64 * MIB,
        },
      ],
    ] as const;
    for (const [s, limits] of expected) {
      for (const fn of [
        ...Object.values(s.stack.exportFunctions.functions),
        s.stack.exportFunctions.endFailedRun,
      ]) {
        expect(runtimeConfigOf(s, fn).settings.limits).toEqual(limits);
      }
    }
  });

  it('pass the configured results source to PlanExperiment and ExportSlot, where the runtime reads it back', () => {
    for (const [s, source] of [
      [defaults, 'auto'],
      [custom, 'data'],
    ] as const) {
      for (const step of ['planExperiment', 'exportSlot'] as const) {
        const fn = s.stack.exportFunctions.functions[step];
        expect(s.resources[idOf(s, fn)]?.Properties.Environment).toMatchObject({
          Variables: { RESULTS_SOURCE: source },
        });
        expect(runtimeConfigOf(s, fn).settings.resultsSource, step).toBe(source);
      }
    }
  });

  it('give ExportSlot the configured row group size and read-ahead, as its runtime reads them back (defaults when unset)', () => {
    const expected = [
      [defaults, { rowGroupRows: 131_072, prefetchPages: 1 }],
      [custom, { rowGroupRows: 65_536, prefetchPages: 2 }],
    ] as const;
    for (const [s, tuning] of expected) {
      const { settings } = runtimeConfigOf(s, s.stack.exportFunctions.functions.exportSlot);
      expect({ rowGroupRows: settings.rowGroupRows, prefetchPages: settings.prefetchPages }).toEqual(tuning);
    }
  });

  // A new account's concurrency quota can be 10, and Lambda refuses a reservation that leaves fewer
  // than 100 unreserved: reserving by default could fail the first deploy.
  it('reserve no concurrency unless exportSlotReservedConcurrency is configured', () => {
    const s = defaults;
    for (const step of WORKFLOW_STEPS) {
      const properties = s.resources[idOf(s, s.stack.exportFunctions.functions[step])]?.Properties;
      expect(properties?.ReservedConcurrentExecutions, step).toBeUndefined();
    }
    expect(() => parseDeployConfig({ plutoConcurrency: 8, exportSlotReservedConcurrency: 4 })).toThrow(
      'plutoExport.exportSlotReservedConcurrency: at least plutoConcurrency (8), or ExportSlot invocations are throttled (in context plutoExport)',
    );
  });

  // IAM s3:ListBucket with an s3:prefix condition (S3 user guide, "Limit listing to a folder").
  it('list only the lake folders they read, with s3:prefix conditions', () => {
    for (const [s, prefix] of [
      [defaults, ''],
      [custom, 'exports/pluto/'],
    ] as const) {
      for (const step of WORKFLOW_STEPS) {
        const listing = roleStatements(s, s.stack.exportFunctions.functions[step]).filter((st) =>
          list(st.Action).includes('s3:ListBucket'),
        );
        expect(listing, step).toHaveLength(1);
        expect(listing[0]?.Condition, step).toEqual({
          StringLikeIfExists: { 's3:prefix': [`${prefix}runs/*`, `${prefix}data/*`, `${prefix}files/*`] },
        });
      }
    }
  });

  it('decrypt an imported secret with its customer managed key, and only the steps that call Pluto', () => {
    const key = 'arn:aws:kms:eu-west-1:111111111111:key/token-key';
    for (const secret of [
      { existingSecretName: 'pluto/api-token', kmsKeyArn: key },
      {
        existingSecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:pluto-AbCdEf',
        kmsKeyArn: key,
      },
    ]) {
      const s = synth({ secret });
      const decrypting = WORKFLOW_STEPS.filter((step) =>
        allows(roleStatements(s, s.stack.exportFunctions.functions[step]), 'kms:Decrypt', key),
      );
      expect(decrypting, JSON.stringify(secret)).toEqual(['startRun', 'planExperiment', 'exportSlot']);
    }
  });

  // The bundling hook runs on the host or inside CDK's Docker bundling image: paths must come from
  // the hook's own input folder, never from this machine.
  it('bundle with a hook that names no host path', () => {
    const commands = afterBundlingCommands('/asset-input', '/asset-output');
    expect(commands).toEqual([
      'if grep -q parquet_wasm_bg.wasm "/asset-output/index.mjs"; then cp "/asset-input/node_modules/parquet-wasm/node/parquet_wasm_bg.wasm" "/asset-output/parquet_wasm_bg.wasm"; fi',
    ]);
    expect(commands.join()).not.toContain(process.cwd());
  });

  it('let each step write and delete only its own keys of the lake, behind the prefix', () => {
    const run = 'run-1';
    const part = (table: TableName, dataset: string) => partKey(table, 'PLX1', run, dataset, 0);
    const keys: [key: string, writers: WorkflowStep[], deleters: WorkflowStep[]][] = [
      [itemsKey(run), ['startRun'], []],
      [LEASE_KEY, ['startRun'], ['finalizeRun']],
      [abortKey(run), ['recordExperimentFailure'], ['startRun']],
      [planKey(run, 'PLX1'), ['planExperiment'], []],
      [slotsKey(run, 'PLX1'), ['planExperiment'], []],
      [receiptKey(run, 'PLX1', 'assay', 0), ['exportSlot'], ['finalizeRun']],
      [slotFailureKey(run, 'PLX1', 'assay', 0), ['exportSlot'], ['startRun', 'exportSlot']],
      [part('assay', 'assay'), ['exportSlot', 'commitExperiment'], ['commitExperiment', 'finalizeRun']],
      [
        part('differential_expression', 'plot-1'),
        ['exportSlot', 'commitExperiment'],
        ['commitExperiment', 'finalizeRun'],
      ],
      [part('experiments', 'experiment'), ['commitExperiment'], ['commitExperiment', 'finalizeRun']],
      [part('plots', 'plots'), ['commitExperiment'], ['commitExperiment', 'finalizeRun']],
      [
        commitRecordKey(run, 'PLX1'),
        ['planExperiment', 'commitExperiment', 'recordExperimentFailure', 'finalizeRun'],
        [],
      ],
      [manifestKey(run), ['finalizeRun'], []],
      [reportKey(run), ['finalizeRun'], []],
      [exportLogPartKey(run), ['finalizeRun'], []],
      ...TABLE_NAMES.map((table): [string, WorkflowStep[], WorkflowStep[]] => [
        currentListKey(table),
        ['finalizeRun'],
        [],
      ]),
      ['current/assay/experiment_id=PLX1.txt', [], []],
      ['_catalog/assay/experiment_id=PLX1.json', [], []],
    ];
    const lakes = [
      [
        defaults,
        `{${idOf(defaults, defaults.stack.lake.bucket)}.Arn}/`,
        `{${idOf(defaults, defaults.stack.lake.key)}.Arn}`,
      ],
      [
        custom,
        'arn:{AWS::Partition}:s3:::acme-lake/exports/pluto/',
        'arn:aws:kms:eu-west-1:111111111111:key/abc',
      ],
    ] as const;
    for (const [s, root, key] of lakes) {
      const statements = (step: WorkflowStep) => roleStatements(s, s.stack.exportFunctions.functions[step]);
      const steps = (action: string, object: string) =>
        WORKFLOW_STEPS.filter((step) => allows(statements(step), action, object));
      for (const [object, writers, deleters] of keys) {
        expect(steps('s3:PutObject', root + object), object).toEqual(writers);
        expect(steps('s3:DeleteObject', root + object), object).toEqual(deleters);
        expect(steps('s3:GetObject', root + object), object).toEqual(
          object.startsWith('runs/') ? WORKFLOW_STEPS : writers,
        );
      }
      for (const step of WORKFLOW_STEPS) {
        expect(allows(statements(step), 'kms:Decrypt', key), step).toBe(true);
        expect(allows(statements(step), 'kms:GenerateDataKey', key), step).toBe(true);
        expect(
          [...actionsOf(statements(step))].filter((a) => a.includes('*')),
          step,
        ).toEqual([]);
      }
    }
    expect(
      WORKFLOW_STEPS.filter((step) =>
        allows(
          roleStatements(custom, custom.stack.exportFunctions.functions[step]),
          's3:PutObject',
          `arn:{AWS::Partition}:s3:::acme-lake/${part('assay', 'assay')}`,
        ),
      ),
    ).toEqual([]);
  });

  it('let only the steps that call Pluto read the token', () => {
    for (const s of [defaults, custom]) {
      const secretArn =
        s === defaults
          ? `{${idOf(s, s.stack.secret.secret)}}`
          : 'arn:{AWS::Partition}:secretsmanager:eu-west-1:111111111111:secret:pluto/api-token-ABCDEF';
      const readers = WORKFLOW_STEPS.filter((step) =>
        allows(
          roleStatements(s, s.stack.exportFunctions.functions[step]),
          'secretsmanager:GetSecretValue',
          secretArn,
        ),
      );
      expect(readers).toEqual(['startRun', 'planExperiment', 'exportSlot']);
    }
  });

  it('let only CommitExperiment and FinalizeRun change Glue partitions (StartRun those of projects), and only of this database', () => {
    const s = custom;
    const table = (name: string) =>
      `arn:{AWS::Partition}:glue:eu-west-1:111111111111:table/pluto_lab/${name}`;
    const steps = (action: string, name: string) =>
      WORKFLOW_STEPS.filter((step) =>
        allows(roleStatements(s, s.stack.exportFunctions.functions[step]), action, table(name)),
      );
    const writers = (name: string) =>
      name === 'export_log'
        ? ['finalizeRun']
        : name === 'projects'
          ? ['startRun', 'finalizeRun']
          : ['commitExperiment', 'finalizeRun'];
    for (const name of TABLE_NAMES) {
      expect(steps('glue:BatchCreatePartition', name), name).toEqual(writers(name));
      expect(steps('glue:BatchDeletePartition', name), name).toEqual(writers(name));
    }
    expect(
      TABLE_NAMES.filter(
        (name) => name !== 'projects' && steps('glue:GetPartition', name).includes('startRun'),
      ),
    ).toEqual([]);
    expect(steps('glue:GetPartition', 'experiments')).toEqual([
      'planExperiment',
      'commitExperiment',
      'finalizeRun',
    ]);
    for (const step of ['exportSlot', 'recordExperimentFailure'] as const) {
      const actions = actionsOf(roleStatements(s, s.stack.exportFunctions.functions[step]));
      expect(
        [...actions].filter((a) => a.startsWith('glue:')),
        step,
      ).toEqual([]);
    }
    const glueResources = WORKFLOW_STEPS.flatMap((step) =>
      roleStatements(s, s.stack.exportFunctions.functions[step])
        .filter((st) => list(st.Action).some((a) => a.startsWith('glue:')))
        .flatMap((st) => list(st.Resource).map((r) => render(r))),
    );
    expect(glueResources.length).toBeGreaterThan(0);
    for (const resource of glueResources) {
      expect(resource).toMatch(
        /^arn:\{AWS::Partition\}:glue:eu-west-1:111111111111:(catalog|database\/pluto_lab|table\/pluto_lab\/[a-z_]+)$/,
      );
    }
  });
});

interface AslState {
  readonly Type: string;
  readonly [field: string]: unknown;
}
interface Asl {
  readonly States: Record<string, AslState>;
  readonly [field: string]: unknown;
}

function definitionOf(s: Synthesized): { asl: Asl; machine: Record<string, unknown> } {
  const machine = Object.values(s.resources).find((r) => r.Type === 'AWS::StepFunctions::StateMachine');
  if (machine?.Properties === undefined) throw new Error('no state machine');
  const text = render(machine.Properties.DefinitionString, (id, attribute) => {
    if (id === 'AWS::Partition') return 'aws';
    if (id === 'AWS::Region') return ENV.region;
    if (id === 'AWS::AccountId') return ENV.account;
    const type = s.resources[id]?.Type;
    if (type === 'AWS::Lambda::Function' && attribute === 'Arn') {
      return `arn:aws:lambda:${ENV.region}:${ENV.account}:function:${id}`;
    }
    if (type === 'AWS::S3::Bucket' && attribute === undefined) return 'lake-bucket';
    throw new Error(`unexpected reference ${id}.${attribute}`);
  });
  return { asl: JSON.parse(text) as Asl, machine: machine.Properties };
}

function stateAt(asl: Asl, ...path: string[]): AslState {
  let machine = asl;
  let found: AslState | undefined;
  for (const name of path) {
    found = machine.States[name];
    if (found === undefined) throw new Error(`no state ${path.join(' > ')}`);
    machine = found.ItemProcessor as Asl;
  }
  return found as AslState;
}

describe('the failure guard', () => {
  // Event shape and statuses: https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
  it('sends the state machine\'s FAILED, TIMED_OUT and ABORTED "Step Functions Execution Status Change" events to EndFailedRun', () => {
    const s = defaults;
    const rules = Object.entries(s.resources).filter(([, r]) => r.Type === 'AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0] ?? [];
    const machineId = idOf(s, s.stack.workflow.stateMachine);
    const guardId = idOf(s, s.stack.exportFunctions.endFailedRun);
    expect(propertiesOf(rule)).toMatchObject({
      State: 'ENABLED',
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: machineId }] },
      },
      Targets: [
        expect.objectContaining({
          Arn: { 'Fn::GetAtt': [guardId, 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 16 },
        }),
      ],
    });
    const permissions = Object.values(s.resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Permission' &&
        JSON.stringify(r.Properties.FunctionName).includes(guardId) &&
        r.Properties.Principal === 'events.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
  });

  it('runs EndFailedRun on Node.js 24 from its own handler, allowed to record a run and free its lease, nothing more', () => {
    const s = defaults;
    const fn = s.resources[idOf(s, s.stack.exportFunctions.endFailedRun)];
    expect(propertiesOf(fn)).toMatchObject({ Runtime: 'nodejs24.x', Handler: 'index.handler', Timeout: 300 });
    const root = `{${idOf(s, s.stack.lake.bucket)}.Arn}/`;
    const statements = roleStatements(s, s.stack.exportFunctions.endFailedRun);
    for (const key of [
      manifestKey('run-1'),
      reportKey('run-1'),
      exportLogPartKey('run-1'),
      ...TABLE_NAMES.map(currentListKey),
    ]) {
      expect(allows(statements, 's3:PutObject', root + key), key).toBe(true);
    }
    expect(allows(statements, 's3:DeleteObject', root + LEASE_KEY)).toBe(true);
    // A conditional delete (IfMatch) needs s3:GetObject on the key too.
    expect(allows(statements, 's3:GetObject', root + LEASE_KEY)).toBe(true);
    expect(allows(statements, 's3:GetObject', root + commitRecordKey('run-1', 'PLX1'))).toBe(true);
    for (const key of [
      commitRecordKey('run-1', 'PLX1'),
      itemsKey('run-1'),
      partKey('assay', 'PLX1', 'run-1', 'assay', 0),
    ]) {
      expect(allows(statements, 's3:PutObject', root + key), key).toBe(false);
      expect(allows(statements, 's3:DeleteObject', root + key), key).toBe(false);
    }
    expect(actionsOf(statements).has('secretsmanager:GetSecretValue')).toBe(false);
  });
});

describe('the state machine', () => {
  it('is valid ASL that retries transient errors by name, catches per experiment, and always finalizes', () => {
    const { asl } = definitionOf(custom);
    const result = aslValidator(structuredClone(asl), { checkArn: true, checkPaths: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);

    const retried = (state: AslState) =>
      (state.Retry as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals);
    const caught = (state: AslState) =>
      (state.Catch as { ErrorEquals: string[]; Next: string }[]).map((c) => [c.ErrorEquals.join(), c.Next]);
    expect(retried(stateAt(asl, 'ExportExperiments', 'ExportSlots', 'ExportSlot'))).toEqual([
      ...LAMBDA_SERVICE_ERRORS,
      ...LAMBDA_CRASH_ERRORS,
      ...RETRYABLE_ERROR_NAMES,
    ]);
    expect(retried(stateAt(asl, 'FinalizeRun'))).toEqual([
      ...LAMBDA_SERVICE_ERRORS,
      ...LAMBDA_CRASH_ERRORS,
      'StoreError',
    ]);
    // Step Functions developer guide, "Handle Lambda service exceptions"; a timed-out or killed
    // worker reaches Step Functions with the errorType Lambda reports for it.
    expect(LAMBDA_SERVICE_ERRORS).toEqual([
      'Lambda.ClientExecutionTimeoutException',
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
    ]);
    expect(LAMBDA_CRASH_ERRORS).toEqual([
      'Lambda.Unknown',
      'Sandbox.Timedout',
      'Runtime.ExitError',
      'Runtime.OutOfMemory',
    ]);
    // Every child execution ends with a constant output: the Map gathers them into its own output,
    // capped at 256 KiB whatever its ResultPath (Step Functions quotas; States.DataLimitExceeded).
    for (const path of [
      ['ExportExperiments', 'CommitExperiment'],
      ['ExportExperiments', 'RecordExperimentFailure'],
      ['ExportExperiments', 'ExperimentDone'],
      ['ExportExperiments', 'ExportSlots', 'ExportSlot'],
    ]) {
      expect(stateAt(asl, ...path).OutputPath, path.join(' > ')).toBeNull();
    }
    expect(retried(stateAt(asl, 'FinalizeRun'))).not.toContain('PlutoAuthError');
    for (const name of ['PlanExperiment', 'ExportSlots', 'CommitExperiment']) {
      expect(caught(stateAt(asl, 'ExportExperiments', name)), name).toEqual([
        ['States.ALL', 'RecordExperimentFailure'],
      ]);
    }
    expect(caught(stateAt(asl, 'ExportExperiments'))).toEqual([['States.ALL', 'FinalizeFailedRun']]);
    expect(stateAt(asl, 'FinalizeFailedRun')).toMatchObject({ Next: 'RunFailed', ResultPath: '$.finalized' });
    expect(stateAt(asl, 'FinalizeFailedRun').Resource).toBe(stateAt(asl, 'FinalizeRun').Resource);
    expect(stateAt(asl, 'ExportExperiments')).toMatchObject({
      ToleratedFailurePercentage: 20,
      MaxConcurrency: mapConcurrency(9).experiments,
      ItemReader: { Parameters: { 'Key.$': "States.Format('exports/pluto/{}', $.itemsKey)" } },
    });
    expect(stateAt(asl, 'ExportExperiments', 'ExportSlots').MaxConcurrency).toBe(mapConcurrency(9).slots);
  });

  it('reads only the run records, and describes and stops its Map child executions by their documented ARN', () => {
    for (const [s, s3Objects] of [
      [defaults, `{${idOf(defaults, defaults.stack.lake.bucket)}.Arn}/`],
      [custom, 'arn:{AWS::Partition}:s3:::acme-lake/exports/pluto/'],
    ] as const) {
      const role = idOf(s, s.stack.workflow.stateMachine.role);
      const statements = Object.values(s.resources)
        .filter(
          (r) =>
            r.Type === 'AWS::IAM::Policy' &&
            (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === role),
        )
        .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
      expect(allows(statements, 's3:GetObject', `${s3Objects}runs/r1/items.json`)).toBe(true);
      expect(allows(statements, 's3:GetObject', `${s3Objects}runs/r1/plans/PLX1/slots.json`)).toBe(true);
      expect(allows(statements, 's3:GetObject', `${s3Objects}data/assay/experiment_id=PLX1/x`)).toBe(false);
      expect(allows(statements, 's3:GetObject', `${s3Objects}athena-results/q.csv`)).toBe(false);
      // Step Functions developer guide, "IAM policies for using Distributed Map states": child
      // executions are arn:...:execution:<stateMachineName>/<map run label>:<id>.
      const machineName = `{${idOf(s, s.stack.workflow.stateMachine)}.Name}`;
      const child = `arn:{AWS::Partition}:states:${ENV.region}:${ENV.account}:execution:${machineName}/ExportExperiments:0123-abcd`;
      for (const action of ['states:DescribeExecution', 'states:StopExecution']) {
        expect(allows(statements, action, child), action).toBe(true);
      }
    }
  });

  it('logs every event without execution data, traces with X-Ray and times out', () => {
    const { asl, machine } = definitionOf(defaults);
    expect(asl.TimeoutSeconds).toBe(12 * 3600);
    expect(machine.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
  });

  it('keeps map concurrency within the Pluto cap', () => {
    for (let cap = 1; cap <= 100; cap++) {
      const { experiments, slots } = mapConcurrency(cap);
      expect(experiments * slots, `cap ${cap}`).toBeLessThanOrEqual(cap);
      expect(Math.min(experiments, slots), `cap ${cap}`).toBeGreaterThanOrEqual(1);
    }
    expect(mapConcurrency(4)).toEqual({ experiments: 2, slots: 2 });
  });
});

describe('the schedule', () => {
  it('starts the state machine with the scheduled time as run id and the configured filters', () => {
    for (const [s, expression, filters] of [
      [defaults, 'cron(0 3 * * ? *)', { missingExperiments: 'keep' }],
      [custom, 'rate(12 hours)', { projectIds: ['PRJ1', 'PRJ2'], missingExperiments: 'retire' }],
    ] as const) {
      const schedules = Object.values(s.resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule');
      expect(schedules).toHaveLength(s === custom ? 2 : 1);
      const schedule = schedules.find((r) => propertiesOf(r).Description === 'Starts a pluto-export run');
      const target = propertiesOf(schedule).Target as { Arn: unknown; Input: string; RetryPolicy: unknown };
      expect(schedule?.Properties).toMatchObject({ ScheduleExpression: expression, State: 'ENABLED' });
      expect(target.Arn).toEqual({ Ref: idOf(s, s.stack.workflow.stateMachine) });
      const input = JSON.parse(target.Input) as Record<string, unknown>;
      expect(input).toEqual({ runId: '<aws.scheduler.scheduled-time>', ...filters });
      // Scheduler substitutes e.g. 2025-01-31T03:00:00Z: a valid run id, the same for a re-delivery.
      const delivered = JSON.parse(
        target.Input.replace('<aws.scheduler.scheduled-time>', '2025-01-31T03:00:00Z'),
      );
      expect(runInputSchema.parse(delivered)).toEqual({ runId: '2025-01-31T03:00:00Z', ...filters });
    }
    const full = Object.values(custom.resources).find(
      (r) =>
        r.Type === 'AWS::Scheduler::Schedule' &&
        propertiesOf(r).Description === 'Starts a full pluto-export run',
    );
    expect(propertiesOf(full).ScheduleExpression).toBe('cron(0 4 ? * SUN *)');
    expect(JSON.parse((propertiesOf(full).Target as { Input: string }).Input)).toMatchObject({ full: true });
  });
});

describe('monitoring', () => {
  it('alarms on failed, timed-out and throttled runs, failed experiments and function errors, to an SSL-only encrypted topic', () => {
    const s = custom;
    const topicId = idOf(s, s.stack.monitoring.topic);
    const alarms = Object.values(s.resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    const watched = alarms.map((a) => `${a.Properties.Namespace}/${a.Properties.MetricName}`).sort();
    expect(watched).toEqual(
      [
        'AWS/States/ExecutionsFailed',
        'AWS/States/ExecutionsTimedOut',
        'AWS/States/ExecutionThrottled',
        'PlutoExport/ExperimentsFailed',
        ...WORKFLOW_STEPS.map(() => 'AWS/Lambda/Errors'),
        'AWS/Scheduler/TargetErrorCount',
        'AWS/Scheduler/InvocationDroppedCount',
      ].sort(),
    );
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    const lambdaAlarms = alarms.filter((a) => a.Properties.MetricName === 'Errors');
    expect(
      lambdaAlarms.map((a) => (a.Properties.Dimensions as { Value: { Ref: string } }[])[0]?.Value.Ref).sort(),
    ).toEqual(WORKFLOW_STEPS.map((step) => idOf(s, s.stack.exportFunctions.functions[step])).sort());
    expect(
      alarms.find((a) => a.Properties.MetricName === 'ExperimentsFailed')?.Properties?.Dimensions,
    ).toEqual([{ Name: 'service', Value: 'pluto-export' }]);

    expect(s.resources[topicId]?.Properties?.KmsMasterKeyId).toEqual({
      'Fn::GetAtt': [idOf(s, s.stack.lake.key), 'Arn'],
    });
    const keyPolicy = propertiesOf(s.resources[idOf(s, s.stack.lake.key)]).KeyPolicy as {
      Statement: unknown[];
    };
    expect(keyPolicy.Statement).toContainEqual({
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Condition: { StringEquals: { 'aws:SourceAccount': ENV.account } },
      Resource: '*',
    });
    const topicPolicy = Object.values(s.resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy');
    const statements = (propertiesOf(topicPolicy).PolicyDocument as { Statement: Statement[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    // A topic policy replaces SNS's default one, so CloudWatch must be allowed to publish explicitly
    // (SNS developer guide, "Amazon SNS access control case examples": CloudWatch alarms publishing).
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
        Condition: { StringEquals: { 'aws:SourceAccount': ENV.account } },
      }),
    );
    const subscriptions = Object.values(s.resources).filter((r) => r.Type === 'AWS::SNS::Subscription');
    expect(subscriptions.map((r) => r.Properties)).toEqual([
      { Protocol: 'email', Endpoint: 'data-team@example.com', TopicArn: { Ref: topicId } },
    ]);
    expect(Object.values(defaults.resources).filter((r) => r.Type === 'AWS::SNS::Subscription')).toEqual([]);
  });

  it('charts every metric the functions emit, and run duration, on a dashboard', () => {
    const s = defaults;
    const dashboard = Object.values(s.resources).find((r) => r.Type === 'AWS::CloudWatch::Dashboard');
    const body = JSON.parse(render(dashboard?.Properties?.DashboardBody)) as {
      widgets: { properties: { title: string; metrics?: unknown[][] } }[];
    };
    const charted = body.widgets.flatMap((w) =>
      (w.properties.metrics ?? []).map((m) => `${w.properties.title}: ${m.slice(0, 4).join(' ')}`),
    );
    for (const name of EXPORT_METRICS) {
      expect(
        charted.some((line) => line.includes(`PlutoExport ${name} service pluto-export`)),
        name,
      ).toBe(true);
    }
    expect(
      charted.some((line) => line.startsWith('Run duration (ExecutionTime): AWS/States ExecutionTime')),
    ).toBe(true);
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged, and every acknowledgement names one finding and says why', () => {
    for (const s of [defaults, custom]) {
      const report = new AwsSolutionsChecks(s.app).validateScope(s.app);
      expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
        [],
      );
      const acknowledged = s.stack.node
        .findAll()
        .flatMap((node) =>
          node.node.metadata
            .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
            .flatMap((m) => Object.entries(m.data as Record<string, string>)),
        );
      expect(acknowledged.length).toBeGreaterThan(0);
      for (const [id, reason] of acknowledged) {
        expect(id).toMatch(/AwsSolutions-(IAM5\[.+\]|S1|SMG4)$/);
        expect(reason.length, id).toBeGreaterThan(60);
      }
      const rules = new Set(
        acknowledged.map(([id]) => id.replace(/^.*AwsSolutions-/, '').replace(/\[.*$/, '')),
      );
      expect([...rules].sort()).toEqual(s === defaults ? ['IAM5', 'S1', 'SMG4'] : ['IAM5']);
    }
  });
});

describe('the deploy configuration', () => {
  it('deploys with every default, and cdk.json documents exactly those defaults', () => {
    const config = parseDeployConfig({});
    expect(config).toEqual({
      scheduleExpression: 'cron(0 3 * * ? *)',
      missingExperiments: 'keep',
      bucket: { create: true },
      prefix: '',
      glueDatabase: 'pluto',
      secret: { create: true },
      plutoConcurrency: 4,
      rowsPerPart: 1_000_000,
      pageSize: 10_000,
      rowGroupRows: 131_072,
      prefetchPages: 1,
      copyFileTypes: ['attachment', 'qc_report'],
      maxFileBytes: 5 * 1024 ** 3,
      resultsSource: 'auto',
      retentionDays: 30,
      supersededRunGraceDays: 7,
      maxRowsPerDataset: 50_000_000,
      maxSlotsPerExperiment: 20_000,
      maxExperimentsPerRun: 100_000,
      maxListPages: 10_000,
      maxResponseMiB: 128,
      toleratedFailurePercentage: 100,
      athenaBytesScannedCutoffGb: 100,
      removalPolicy: 'retain',
      plutoApiUrl: 'https://api.pluto.bio/',
    });
    const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
      notices: boolean;
      context: Record<string, unknown>;
    };
    expect(cdkJson.notices).toBe(false);
    expect(cdkJson.context['cli-telemetry']).toBe(false);
    expect(deployConfigSchema.parse(cdkJson.context.plutoExport)).toEqual(config);
  });

  it('rejects a bad value with one line naming the key', () => {
    const failure = (raw: unknown) => {
      try {
        parseDeployConfig(raw);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(failure({ rowsPerPart: 'many' })).toBe(
      'plutoExport.rowsPerPart: Invalid input: expected number, received string (in context plutoExport)',
    );
    expect(failure({ bukcet: { create: true } })).toBe(
      'plutoExport: unknown key "bukcet" (in context plutoExport)',
    );
    expect(failure({ bucket: { existingBucketName: 'Not_A_Bucket' } })).toBe(
      'plutoExport.bucket.existingBucketName: an S3 bucket name (3-63 lowercase letters, digits, . -) (in context plutoExport)',
    );
    expect(failure({ secret: {} })).toMatch(/plutoExport\.secret: /);
    expect(failure({ experimentIds: ['PLX1', 'no spaces'] })).toMatch(/plutoExport\.experimentIds\.1: an id/);
    expect(failure({ scheduleExpression: '0 3 * * *' })).toMatch(/plutoExport\.scheduleExpression: cron/);
    expect(failure({ alarmEmail: 'nobody' })).toMatch(/plutoExport\.alarmEmail: /);
    expect(failure({ plutoApiUrl: 'http://api.pluto.bio/' })).toMatch(/plutoExport\.plutoApiUrl: /);
    expect(failure({ prefix: 'lake/*' })).toMatch(/^plutoExport\.prefix: a folder path/);
    for (const message of [failure({ prefix: '/abs' }), failure({ removalPolicy: 'delete' })]) {
      expect(message.split('\n')).toHaveLength(1);
    }
  });

  it('reads context, a JSON string given with -c, and a config file whose keys win', () => {
    const folder = mkdtempSync(join(tmpdir(), 'deploy-config-'));
    try {
      writeFileSync(
        join(folder, 'deploy.json'),
        JSON.stringify({ prefix: 'from-file', plutoConcurrency: 2 }),
      );
      const context: Record<string, unknown> = {
        plutoExport: { prefix: 'from-context', glueDatabase: 'lab' },
        configFile: 'deploy.json',
      };
      const config = loadDeployConfig((key) => context[key], folder);
      expect([config.prefix, config.glueDatabase, config.plutoConcurrency]).toEqual(['from-file/', 'lab', 2]);

      const fromString = loadDeployConfig((key) =>
        key === 'plutoExport' ? '{"retentionDays":5}' : undefined,
      );
      expect(fromString.retentionDays).toBe(5);

      writeFileSync(join(folder, 'bad.json'), JSON.stringify({ plutoConcurrency: 0 }));
      expect(() =>
        loadDeployConfig((key) => (key === 'configFile' ? 'bad.json' : undefined), folder),
      ).toThrow(/^plutoExport\.plutoConcurrency: .* \(in context plutoExport and bad\.json\)$/);
      expect(() =>
        loadDeployConfig((key) => (key === 'configFile' ? 'absent.json' : undefined), folder),
      ).toThrow(/^context configFile: cannot read .*absent\.json$/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
