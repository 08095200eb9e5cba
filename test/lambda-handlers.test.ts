/**
 * The Lambda handlers, run by the deployed state machine definition: S3 on s3rver, Glue and
 * Secrets Manager behind aws-sdk-client-mock, Pluto simulated. Checks the environment parsing,
 * the Glue partitions, the CloudWatch metrics (EMF on stdout) and that the token is never logged.
 */
import { GlueClient } from '@aws-sdk/client-glue';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3Store } from '../functions/adapters/s3-store.js';
import { ConfigError } from '../functions/core/errors.js';
import { manifestKey } from '../functions/core/layout.js';
import { OUTCOME_METRICS } from '../functions/core/metrics.js';
import { manifestSchema, readJson } from '../functions/core/records.js';
import { CODE_VERSION } from '../functions/core/version.js';
import { STATE_NAMES, type StepName } from '../functions/core/workflow/messages.js';
import { createRuntime, parseEnvironment, type Runtime, stepHandler } from '../functions/handlers/runtime.js';
import { runWorkflowLocally } from '../functions/local/run-workflow.js';
import { type RunningSimulator, SIMULATOR_TOKEN, startSimulator } from '../functions/simulator/index.js';
import { type FakePartitions, fakeGluePartitions } from './support/fake-glue.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';

const BUCKET = 'lambda-lake';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pluto-token-XyZ123';
const RUN_ID = 'run-lambda-1';
const EXECUTION_ARN = 'arn:aws:states:eu-west-1:123456789012:execution:PlutoExport:run-lambda';

const baseEnvironment = {
  LAKE_BUCKET: BUCKET,
  LAKE_PREFIX: '/lake/',
  GLUE_DATABASE: 'pluto',
  PLUTO_SECRET_ID: SECRET_ARN,
};

describe('parseEnvironment', () => {
  it('applies the defaults and normalizes the prefix', () => {
    expect(parseEnvironment(baseEnvironment)).toEqual({
      bucket: BUCKET,
      prefix: 'lake/',
      glueDatabase: 'pluto',
      plutoApiUrl: 'https://api.pluto.bio/',
      secretId: SECRET_ARN,
      plutoConcurrency: 1,
      settings: {
        rowsPerPart: 1_000_000,
        pageSize: 10_000,
        rowGroupRows: 131_072,
        prefetchPages: 1,
        leaseTtlMs: 12 * 3600 * 1000,
        supersededRunGraceMs: 7 * 86_400_000,
        codeVersion: CODE_VERSION,
        limits: {
          maxExperimentsPerRun: 100_000,
          maxRowsPerDataset: 50_000_000,
          maxSlotsPerExperiment: 20_000,
          maxListPages: 10_000,
          maxResponseBytes: 128 * 1024 * 1024,
        },
        copyFileTypes: [],
        maxFileBytes: 5 * 1024 ** 3,
        resultsSource: 'auto',
      },
      serviceName: 'pluto-export',
    });
    expect(
      parseEnvironment({
        ...baseEnvironment,
        LAKE_PREFIX: '',
        ROWS_PER_PART: '5000',
        MAX_ROWS_PER_DATASET: '1000',
        MAX_RESPONSE_MIB: '16',
        PLUTO_CONCURRENCY: '9',
      }),
    ).toMatchObject({
      prefix: '',
      plutoConcurrency: 9,
      settings: {
        rowsPerPart: 5000,
        limits: { maxRowsPerDataset: 1000, maxResponseBytes: 16 * 1024 * 1024 },
      },
    });
  });

  it('fails with one line naming the variable', () => {
    const failure = (env: Record<string, string>) => {
      try {
        parseEnvironment(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      return 'no error';
    };
    expect(failure({ ...baseEnvironment, LAKE_BUCKET: '' })).toBe(
      'Environment variable LAKE_BUCKET is not set',
    );
    const { PLUTO_SECRET_ID: _, ...withoutSecret } = baseEnvironment;
    expect(failure(withoutSecret)).toBe('Environment variable PLUTO_SECRET_ID is not set');
    expect(failure({ ...baseEnvironment, ROWS_PER_PART: 'many' })).toMatch(
      /^Environment variable ROWS_PER_PART is invalid: .+$/,
    );
    expect(failure({ ...baseEnvironment, PLUTO_CONCURRENCY: '0' })).toMatch(
      /^Environment variable PLUTO_CONCURRENCY is invalid: /,
    );
    expect(failure({ ...baseEnvironment, PLUTO_API_URL: 'ftp://pluto' })).toMatch(
      /^Environment variable PLUTO_API_URL is invalid: /,
    );
  });

  it("gives the steps the Maps' split of PLUTO_CONCURRENCY, the split the stack synthesizes", () => {
    const clients = {
      s3: new S3Client({ region: 'eu-west-1' }),
      glue: new GlueClient({ region: 'eu-west-1' }),
      secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
    };
    const deps = (env: Record<string, string>) => createRuntime(parseEnvironment(env), clients).deps;
    expect(deps({ ...baseEnvironment, PLUTO_CONCURRENCY: '9' }).concurrency).toEqual({
      experiments: 3,
      slots: 3,
    });
    expect(deps(baseEnvironment).concurrency).toEqual({ experiments: 1, slots: 1 });
  });
});

describe('outcome metrics', () => {
  it("turns a finished run's counts into one metric per outcome, partial included", () => {
    const runtime = createRuntime(parseEnvironment(baseEnvironment), {
      s3: new S3Client({ region: 'eu-west-1' }),
      glue: new GlueClient({ region: 'eu-west-1' }),
      secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
    });
    const written: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      runtime.deps.progress?.runFinished?.({
        runId: RUN_ID,
        status: 'committed',
        experiments: { exported: 3, partial: 2, unchanged: 5, skipped: 1, failed: 4 },
      });
      runtime.metrics.publishStoredMetrics();
    } finally {
      write.mockRestore();
    }
    const emf = written
      .join('')
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(emf).toHaveLength(1);
    expect(Object.fromEntries(Object.values(OUTCOME_METRICS).map((name) => [name, emf[0]?.[name]]))).toEqual({
      ExperimentsExported: 3,
      ExperimentsPartial: 2,
      ExperimentsUnchanged: 5,
      ExperimentsSkipped: 1,
      ExperimentsFailed: 4,
    });
  });
});

describe('Lambda handlers through the workflow', () => {
  let sim: RunningSimulator;
  let s3rver: RunningS3rver;
  let runtime: Runtime;
  let partitions: FakePartitions;
  let result: unknown;
  /** What the functions wrote to stdout and stderr (Lambda sends both to CloudWatch Logs). */
  const output: string[] = [];
  const secrets = mockClient(SecretsManagerClient);

  beforeAll(async () => {
    [sim, s3rver] = await Promise.all([
      startSimulator({ seed: 11, experiments: 3, genes: [60, 80], samples: [3, 4] }),
      startS3rver([BUCKET]),
    ]);
    const glueClient = new GlueClient({ region: 'eu-west-1' });
    partitions = fakeGluePartitions(mockClient(glueClient));
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
      SecretString: JSON.stringify({ token: SIMULATOR_TOKEN }),
    });
    runtime = createRuntime(
      parseEnvironment({ ...baseEnvironment, PLUTO_API_URL: sim.url, ROWS_PER_PART: '200', PAGE_SIZE: '25' }),
      {
        s3: s3rver.client(),
        glue: glueClient,
        secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
      },
    );
    const capture = (chunk: unknown) => {
      output.push(String(chunk));
      return true;
    };
    const writes = [
      vi.spyOn(process.stdout, 'write').mockImplementation(capture),
      vi.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
    const steps: StepName[] = [
      STATE_NAMES.startRun,
      STATE_NAMES.planExperiment,
      STATE_NAMES.exportSlot,
      STATE_NAMES.commitExperiment,
      STATE_NAMES.recordExperimentFailure,
      STATE_NAMES.finalizeRun,
    ];
    try {
      result = await runWorkflowLocally(
        { runId: RUN_ID },
        {
          handlers: Object.fromEntries(
            steps.map((step) => [step, stepHandler(step, () => runtime)]),
          ) as Record<StepName, (input: unknown) => Promise<unknown>>,
          readItems: async (key) => JSON.parse(new TextDecoder().decode(await runtime.deps.store.get(key))),
          // Lambda runs one invocation per container at a time; so does this test's single runtime.
          experimentConcurrency: 1,
          slotConcurrency: 1,
          retryDelayScale: 0,
          executionId: EXECUTION_ARN,
        },
      );
    } finally {
      for (const write of writes) write.mockRestore();
    }
  });

  afterAll(async () => {
    secrets.restore();
    await Promise.all([sim?.close(), s3rver?.stop()]);
  });

  const jsonLines = () =>
    output
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('commits the run', () => {
    expect(result).toEqual({
      runId: RUN_ID,
      status: 'committed',
      manifestKey: manifestKey(RUN_ID),
      experiments: { exported: 2, partial: 0, unchanged: 0, skipped: 1, failed: 0 },
    });
  });

  it('points the Glue partitions of every exported experiment at its run folder in the bucket', () => {
    const exported = sim.truth.exportable.map((e) => e.id).sort();
    const assay = [...partitions.entries()].filter(([key]) => key.startsWith('assay/')).sort();
    expect(assay.map(([key, input]) => [key, input.StorageDescriptor?.Location])).toEqual(
      exported.map((id) => [
        `assay/${id}`,
        `s3://${BUCKET}/lake/data/assay/experiment_id=${id}/run_id=${RUN_ID}/`,
      ]),
    );
    expect(partitions.get(`export_log/${RUN_ID}`)?.StorageDescriptor?.Location).toBe(
      `s3://${BUCKET}/lake/data/export_log/run_id=${RUN_ID}/`,
    );
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('publishes the metrics in the PlutoExport namespace, matching the manifest', async () => {
    const manifest = await readJson(
      new S3Store({ bucket: BUCKET, prefix: 'lake/' }, s3rver.client()),
      manifestKey(RUN_ID),
      manifestSchema,
    );
    const dataParts = (manifest?.experiments ?? [])
      .flatMap((e) => e.datasets)
      .filter((d) => !['experiment', 'plots', 'analyses', 'files'].includes(d.dataset))
      .flatMap((d) => d.parts);
    const emf = jsonLines().filter((line) => '_aws' in line);
    const total = (name: string) =>
      emf.reduce((sum, line) => {
        const value = line[name];
        return (
          sum + (Array.isArray(value) ? value.reduce((a: number, b: number) => a + b, 0) : Number(value ?? 0))
        );
      }, 0);
    const namespaces = new Set(
      emf.flatMap((line) =>
        (line._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics.map(
          (m) => m.Namespace,
        ),
      ),
    );

    expect(dataParts.length).toBeGreaterThan(4);
    expect([...namespaces]).toEqual(['PlutoExport']);
    expect(total('PartsWritten')).toBe(dataParts.length);
    expect(total('RowsExported')).toBe(dataParts.reduce((sum, p) => sum + p.rows, 0));
    expect(total('BytesWritten')).toBe(dataParts.reduce((sum, p) => sum + p.bytes, 0));
    expect([
      total('ExperimentsExported'),
      total('ExperimentsPartial'),
      total('ExperimentsUnchanged'),
      total('ExperimentsSkipped'),
      total('ExperimentsFailed'),
    ]).toEqual([2, 0, 0, 1, 0]);
  });

  it('logs structured lines with the step and ids, Pluto detail included, and never the token', () => {
    const logs = jsonLines().filter((line) => 'level' in line);
    const failed = logs.find((line) => line.message === 'PlanExperiment failed');
    expect(failed).toMatchObject({
      level: 'ERROR',
      service: 'pluto-export',
      step: 'PlanExperiment',
      runId: RUN_ID,
      experimentId: sim.truth.forbiddenExperimentIds[0],
      errorName: 'PlutoForbiddenError',
    });
    expect(failed?.errorMessage).toContain('You do not have permission to perform this action.');
    expect(logs.filter((line) => line.message === 'ExportSlot succeeded').length).toBeGreaterThan(4);
    expect(output.join('')).not.toContain(SIMULATOR_TOKEN);
  });

  it('masks the token in every log line, whatever logged it', () => {
    const lines: string[] = [];
    const writes = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk) => lines.push(String(chunk)) > 0),
    );
    runtime.logger.warn('Retrying a Pluto request', {
      errorMessage: `a proxy said: Token ${SIMULATOR_TOKEN}`,
    });
    for (const write of writes) write.mockRestore();
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.map((line) => line.errorMessage)).toEqual(['a proxy said: Token [redacted]']);
    expect(lines.join('')).not.toContain(SIMULATOR_TOKEN);
  });

  it('lets a handler error through with its own name, and says how to put an empty token', async () => {
    const emptySecret = createRuntime(
      parseEnvironment({ ...baseEnvironment, PLUTO_SECRET_ID: 'pluto/empty' }),
      {
        s3: s3rver.client(),
        glue: new GlueClient({ region: 'eu-west-1' }),
        secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
      },
    );
    secrets.on(GetSecretValueCommand, { SecretId: 'pluto/empty' }).resolves({ SecretString: '' });
    const writes = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation(() => true),
    );
    const error = await stepHandler(
      STATE_NAMES.startRun,
      () => emptySecret,
    )({ run: { runId: 'run-2' }, execution: EXECUTION_ARN }).catch((e: unknown) => e);
    for (const write of writes) write.mockRestore();
    expect((error as Error).name).toBe('ConfigError');
    expect((error as Error).message).toContain(
      'aws secretsmanager put-secret-value --secret-id pluto/empty --secret-string <token>',
    );
  });

  it('names the secret to fix when Pluto rejects the token, and never the token', async () => {
    const wrongToken = 'w'.repeat(40);
    const rejected = createRuntime(
      parseEnvironment({ ...baseEnvironment, PLUTO_API_URL: sim.url, PLUTO_SECRET_ID: 'pluto/wrong' }),
      {
        s3: s3rver.client(),
        glue: new GlueClient({ region: 'eu-west-1' }),
        secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
      },
    );
    secrets.on(GetSecretValueCommand, { SecretId: 'pluto/wrong' }).resolves({ SecretString: wrongToken });
    const writes = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation(() => true),
    );
    const error = await stepHandler(
      STATE_NAMES.startRun,
      () => rejected,
    )({ run: { runId: 'run-3' }, execution: EXECUTION_ARN }).catch((e: unknown) => e);
    for (const write of writes) write.mockRestore();
    expect((error as Error).name).toBe('PlutoAuthError');
    expect((error as Error).message).toMatch(
      /^Pluto answered 401 .*Invalid token.*: put a valid Pluto API key into secret pluto\/wrong$/,
    );
    expect((error as Error).message).not.toContain(wrongToken);
  });
});
