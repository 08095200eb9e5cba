import 'aws-sdk-client-mock-vitest/extend';
import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  BatchUpdatePartitionCommand,
  EntityNotFoundException,
  GetPartitionCommand,
  GetPartitionsCommand,
  GlueClient,
  type Partition,
  type PartitionInput,
  ThrottlingException,
} from '@aws-sdk/client-glue';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GlueCatalog } from '../functions/adapters/glue-catalog.js';
import { SecretsManagerReader } from '../functions/adapters/secrets-manager-reader.js';
import { TABLES, type TableName } from '../functions/core/contract.js';
import { AccessDeniedError, CatalogError, ConfigError, SecretReadError } from '../functions/core/errors.js';
import { glueColumns, glueTableInput } from '../functions/core/glue-schema.js';
import { partitionLocation } from '../functions/core/layout.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import type { PartitionPointer } from '../functions/core/ports.js';
import { type RunningSimulator, SIMULATOR_TOKEN, startSimulator } from '../functions/simulator/index.js';
import { fakeGluePartitions } from './support/fake-glue.js';

const LAKE = { bucket: 'acme-lake', prefix: 'pluto/' };
const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';

const pointer = (table: TableName, value: string, runId: string): PartitionPointer => ({
  table,
  partitionValue: value,
  runId,
  location: partitionLocation(table, value, TABLES[table].partitionKey === 'run_id' ? undefined : runId),
});

const glueError = <E>(Type: new (args: { message: string; $metadata: object }) => E, message: string) =>
  new Type({ message, $metadata: {} });

describe('Glue schema derived from the contract', () => {
  it('maps every contract column to its Hive type, in order', () => {
    expect(glueColumns('samples').map(({ name, type }) => [name, type])).toEqual([
      ['row_number', 'bigint'],
      ['sample_id', 'string'],
      ['attribute', 'string'],
      ['value', 'string'],
      ['value_number', 'double'],
    ]);
    for (const table of Object.keys(TABLES) as TableName[]) {
      expect(glueColumns(table).map((c) => `${c.name}:${c.type}`)).toEqual(
        TABLES[table].columns.map((c) => `${c.name}:${c.type}`),
      );
    }
    expect(glueColumns('plots').find((c) => c.name === 'is_archived')?.type).toBe('boolean');
    expect(glueColumns('experiments').find((c) => c.name === 'plot_count')?.type).toBe('int');
    expect(glueColumns('export_log').find((c) => c.name === 'started_at')?.type).toBe('timestamp');
  });

  it('describes a whole table for the stack: partition key, table folder, Parquet formats', () => {
    const input = glueTableInput('export_log', 'acme-lake', 'pluto/');
    expect(input.partitionKeys.map((k) => [k.name, k.type])).toEqual([['run_id', 'string']]);
    expect(input.storageDescriptor.location).toBe('s3://acme-lake/pluto/data/export_log/');
    expect(input.storageDescriptor.serdeInfo.serializationLibrary).toBe(PARQUET_SERDE);
    expect(input.tableType).toBe('EXTERNAL_TABLE');
    expect(input.parameters.classification).toBe('parquet');
    expect(glueTableInput('assay', 'b', '').partitionKeys[0]?.name).toBe('experiment_id');
  });
});

describe('GlueCatalog', () => {
  const client = new GlueClient({ region: 'eu-west-1' });
  const glue = mockClient(client);
  const catalog = new GlueCatalog({ database: 'pluto', lake: LAKE, client });

  beforeEach(() => {
    glue.reset();
  });

  it('creates partitions pointing at the run folder, with the contract columns and the Parquet SerDe', async () => {
    glue.on(BatchCreatePartitionCommand).resolves({ Errors: [] });

    await catalog.putPartitions([
      pointer('samples', 'PLX100001', 'run-1'),
      pointer('experiments', 'PLX100001', 'run-1'),
      pointer('export_log', 'run-1', 'run-1'),
    ]);

    const calls = glue.commandCalls(BatchCreatePartitionCommand).map((c) => c.args[0].input);
    // In the caller's order: a commit moves the experiments pointer after the tables it joins.
    expect(calls.map((c) => [c.DatabaseName, c.TableName])).toEqual([
      ['pluto', 'samples'],
      ['pluto', 'experiments'],
      ['pluto', 'export_log'],
    ]);
    const samples = calls[0]?.PartitionInputList?.[0];
    expect(samples?.Values).toEqual(['PLX100001']);
    expect(samples?.StorageDescriptor).toEqual({
      Columns: TABLES.samples.columns.map((c) => ({ Name: c.name, Type: c.type, Comment: c.description })),
      Location: 's3://acme-lake/pluto/data/samples/experiment_id=PLX100001/run_id=run-1/',
      InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
      SerdeInfo: { SerializationLibrary: PARQUET_SERDE, Parameters: { 'serialization.format': '1' } },
      Compressed: false,
      StoredAsSubDirectories: false,
    });
    expect(calls[2]?.PartitionInputList?.[0]?.StorageDescriptor?.Location).toBe(
      's3://acme-lake/pluto/data/export_log/run_id=run-1/',
    );
    expect(glue).not.toHaveReceivedCommand(BatchUpdatePartitionCommand);
  });

  it('repoints the partitions that already exist, and only those', async () => {
    glue.on(BatchCreatePartitionCommand).resolves({
      Errors: [
        {
          PartitionValues: ['PLX2'],
          ErrorDetail: { ErrorCode: 'AlreadyExistsException', ErrorMessage: 'Partition already exists.' },
        },
      ],
    });
    glue.on(BatchUpdatePartitionCommand).resolves({ Errors: [] });

    await catalog.putPartitions([pointer('assay', 'PLX1', 'run-2'), pointer('assay', 'PLX2', 'run-2')]);

    expect(glue).toHaveReceivedCommandTimes(BatchUpdatePartitionCommand, 1);
    const entries = glue.commandCalls(BatchUpdatePartitionCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries.map((e) => [e.PartitionValueList, e.PartitionInput?.StorageDescriptor?.Location])).toEqual(
      [[['PLX2'], 's3://acme-lake/pluto/data/assay/experiment_id=PLX2/run_id=run-2/']],
    );
    expect(entries[0]?.PartitionInput?.StorageDescriptor?.Columns?.map((c) => c.Name)).toEqual(
      TABLES.assay.columns.map((c) => c.name),
    );
  });

  it('creates in batches of 100 and updates in batches of 100', async () => {
    glue.on(BatchCreatePartitionCommand).callsFake((input: { PartitionInputList: PartitionInput[] }) => ({
      Errors: input.PartitionInputList.map((p) => ({
        PartitionValues: p.Values,
        ErrorDetail: { ErrorCode: 'AlreadyExistsException' },
      })),
    }));
    glue.on(BatchUpdatePartitionCommand).resolves({});
    const pointers = Array.from({ length: 230 }, (_, i) => pointer('plots', `PLX${100000 + i}`, 'run-3'));

    await catalog.putPartitions(pointers);

    const created = glue
      .commandCalls(BatchCreatePartitionCommand)
      .map((c) => c.args[0].input.PartitionInputList?.length);
    const updated = glue
      .commandCalls(BatchUpdatePartitionCommand)
      .map((c) => c.args[0].input.Entries?.length);
    expect(created).toEqual([100, 100, 30]);
    expect(updated).toEqual([100, 100, 30]);
  });

  it('fails with a ConfigError naming database and table when the table is missing', async () => {
    glue
      .on(BatchCreatePartitionCommand)
      .rejects(glueError(EntityNotFoundException, 'Table samples not found.'));
    const error = await catalog.putPartitions([pointer('samples', 'PLX1', 'r')]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('pluto.samples');
    expect((error as Error).message).toContain('GLUE_DATABASE');
  });

  it('turns throttling and failed batch entries into retryable CatalogErrors', async () => {
    glue.on(GetPartitionsCommand).rejects(glueError(ThrottlingException, 'Rate exceeded'));
    const throttled = await catalog.listPartitions('assay').catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(CatalogError);
    expect((throttled as CatalogError).retryable).toBe(true);
    expect((throttled as Error).message).toBe(
      'Glue could not list partitions of pluto.assay: ThrottlingException: Rate exceeded',
    );

    glue.on(BatchCreatePartitionCommand).resolves({
      Errors: [
        {
          PartitionValues: ['PLX1'],
          ErrorDetail: { ErrorCode: 'InternalServiceException', ErrorMessage: 'try again' },
        },
      ],
    });
    const failed = await catalog.putPartitions([pointer('assay', 'PLX1', 'r')]).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(CatalogError);
    expect((failed as Error).message).toBe(
      'Glue could not create partition PLX1 of pluto.assay: InternalServiceException: try again',
    );
  });

  it('reads a partition back as the pointer it was written from', async () => {
    const written = pointer('results', 'PLX7', 'run-2025-01-02T03:04:05Z');
    glue.on(GetPartitionCommand).resolves({
      Partition: {
        Values: ['PLX7'],
        StorageDescriptor: { Location: `s3://acme-lake/pluto/${written.location}` },
      },
    });
    expect(await catalog.getPartition('results', 'PLX7')).toEqual(written);
    expect(glue).toHaveReceivedCommandWith(GetPartitionCommand, {
      DatabaseName: 'pluto',
      TableName: 'results',
      PartitionValues: ['PLX7'],
    });
  });

  it('answers undefined for a missing partition, ConfigError for a missing table', async () => {
    glue.on(GetPartitionCommand).rejects(glueError(EntityNotFoundException, 'Cannot find partition.'));
    expect(await catalog.getPartition('assay', 'PLX404')).toBeUndefined();
    glue.reset();
    glue.on(GetPartitionCommand).rejects(glueError(EntityNotFoundException, 'Table assay not found.'));
    await expect(catalog.getPartition('assay', 'PLX404')).rejects.toBeInstanceOf(ConfigError);
  });

  it('refuses a partition that points outside the lake', async () => {
    glue.on(GetPartitionCommand).resolves({
      Partition: {
        Values: ['PLX7'],
        StorageDescriptor: { Location: 's3://other-bucket/data/assay/experiment_id=PLX7/run_id=r/' },
      },
    });
    await expect(catalog.getPartition('assay', 'PLX7')).rejects.toThrow(
      'pluto.assay partition PLX7 points at "s3://other-bucket/data/assay/experiment_id=PLX7/run_id=r/", outside the lake s3://acme-lake/pluto/',
    );
  });

  it('lists partitions over every GetPartitions page', async () => {
    const partition = (value: string, run: string): Partition => ({
      Values: [value],
      StorageDescriptor: {
        Location: `s3://acme-lake/pluto/data/samples/experiment_id=${value}/run_id=${run}/`,
      },
    });
    glue
      .on(GetPartitionsCommand)
      .resolvesOnce({ Partitions: [partition('PLX3', 'r2'), partition('PLX1', 'r1')], NextToken: 'page-2' })
      .resolvesOnce({ Partitions: [partition('PLX2', 'r1')], NextToken: 'page-3' })
      .resolvesOnce({ Partitions: [] });

    const pointers = await catalog.listPartitions('samples');

    expect(pointers.map((p) => [p.partitionValue, p.runId])).toEqual([
      ['PLX1', 'r1'],
      ['PLX2', 'r1'],
      ['PLX3', 'r2'],
    ]);
    expect(pointers[0]?.location).toBe('data/samples/experiment_id=PLX1/run_id=r1/');
    expect(glue.commandCalls(GetPartitionsCommand).map((c) => c.args[0].input.NextToken)).toEqual([
      undefined,
      'page-2',
      'page-3',
    ]);
  });

  it('deletes in batches of 25 and ignores partitions that are already gone', async () => {
    glue.on(BatchDeletePartitionCommand).resolves({
      Errors: [{ PartitionValues: ['PLX0'], ErrorDetail: { ErrorCode: 'EntityNotFoundException' } }],
    });
    const values = Array.from({ length: 30 }, (_, i) => `PLX${i}`);

    await catalog.deletePartitions('assay', values);

    const batches = glue.commandCalls(BatchDeletePartitionCommand).map((c) => c.args[0].input);
    expect(batches.map((b) => b.PartitionsToDelete?.length)).toEqual([25, 5]);
    expect(batches.flatMap((b) => b.PartitionsToDelete?.map((p) => p.Values?.[0]))).toEqual(values);
    expect(batches.every((b) => b.DatabaseName === 'pluto' && b.TableName === 'assay')).toBe(true);

    glue.on(BatchDeletePartitionCommand).resolves({
      Errors: [{ PartitionValues: ['PLX1'], ErrorDetail: { ErrorCode: 'AccessDeniedException' } }],
    });
    const denied = await catalog.deletePartitions('assay', ['PLX1']).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(AccessDeniedError);
    expect((denied as Error).message).toContain('grant glue:GetPartition');
  });

  it('round-trips through a Glue that keeps its partitions: create, read, repoint, list, delete', async () => {
    fakeGluePartitions(glue);

    await catalog.putPartitions([pointer('assay', 'PLX1', 'run-a'), pointer('assay', 'PLX2', 'run-a')]);
    await catalog.putPartitions([pointer('assay', 'PLX1', 'run-b')]);

    expect(await catalog.getPartition('assay', 'PLX1')).toEqual(pointer('assay', 'PLX1', 'run-b'));
    expect(await catalog.listPartitions('assay')).toEqual([
      pointer('assay', 'PLX1', 'run-b'),
      pointer('assay', 'PLX2', 'run-a'),
    ]);
    await catalog.deletePartitions('assay', ['PLX2']);
    expect(await catalog.getPartition('assay', 'PLX2')).toBeUndefined();
    expect(await catalog.listPartitions('samples')).toEqual([]);
  });
});

describe('SecretsManagerReader', () => {
  const client = new SecretsManagerClient({ region: 'eu-west-1' });
  const secrets = mockClient(client);
  const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pluto-token-AbCdEf';
  const TOKEN = 'A'.repeat(20) + '0123456789'.repeat(2);

  beforeEach(() => {
    secrets.reset();
  });

  it('fetches the secret by id and caches it for five minutes', async () => {
    let now = 1_000_000;
    secrets.on(GetSecretValueCommand).resolves({ SecretString: `${TOKEN}\n` });
    const reader = new SecretsManagerReader(SECRET_ARN, { client, now: () => now });

    expect(await reader.getToken()).toBe(TOKEN);
    now += 4 * 60_000;
    expect(await reader.getToken()).toBe(TOKEN);
    expect(secrets).toHaveReceivedCommandExactlyOnceWith(GetSecretValueCommand, { SecretId: SECRET_ARN });

    now += 60_000;
    expect(await reader.getToken()).toBe(TOKEN);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('refetches on refresh() and serves the new value from then on', async () => {
    secrets
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old' })
      .resolves({ SecretString: 'rotated' });
    const reader = new SecretsManagerReader('pluto/token', { client });
    expect(await reader.getToken()).toBe('old');
    expect(await reader.refresh()).toBe('rotated');
    expect(await reader.getToken()).toBe('rotated');
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('reads the token from JSON secrets', async () => {
    for (const secret of [{ token: TOKEN }, { PLUTO_API_TOKEN: ` ${TOKEN} `, note: 'x' }]) {
      secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(secret) });
      expect(await new SecretsManagerReader('pluto/token', { client }).getToken()).toBe(TOKEN);
    }
    secrets.on(GetSecretValueCommand).resolves({ SecretBinary: new TextEncoder().encode(TOKEN) });
    expect(await new SecretsManagerReader('pluto/token', { client }).getToken()).toBe(TOKEN);
  });

  it('says how to put the token when the secret is empty or has no value, without echoing it', async () => {
    const hint = 'aws secretsmanager put-secret-value --secret-id pluto/token --secret-string <token>';
    for (const answer of [
      { SecretString: '' },
      { SecretString: '   ' },
      { SecretString: '{"token": ""}' },
      {},
    ]) {
      secrets.on(GetSecretValueCommand).resolves(answer);
      const error = await new SecretsManagerReader('pluto/token', { client })
        .getToken()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(hint);
    }
    secrets.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({
        message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        $metadata: {},
      }),
    );
    const missing = await new SecretsManagerReader('pluto/token', { client })
      .getToken()
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as Error).message).toContain(hint);

    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"api_key": "s3cr3tValue"}' });
    const wrongJson = await new SecretsManagerReader('pluto/token', { client })
      .getToken()
      .catch((e: unknown) => e);
    expect((wrongJson as Error).message).toBe(
      'The Pluto API token secret pluto/token is JSON without a string field "token" or "PLUTO_API_TOKEN"',
    );
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{s3cr3tValue' });
    const badJson = await new SecretsManagerReader('pluto/token', { client })
      .getToken()
      .catch((e: unknown) => e);
    expect(badJson).toBeInstanceOf(ConfigError);
    expect((badJson as Error).message).not.toContain('s3cr3tValue');
  });

  it('names the permission to grant when the role may not read the secret or decrypt it', async () => {
    for (const name of ['AccessDeniedException', 'DecryptionFailure']) {
      secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('not allowed'), { name }));
      const error = await new SecretsManagerReader('pluto/token', { client })
        .getToken()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AccessDeniedError);
      expect((error as Error).message).toBe(
        `Cannot read the Pluto API token secret pluto/token (${name}): not allowed. ` +
          'Grant secretsmanager:GetSecretValue on it and kms:Decrypt on its key',
      );
    }
  });

  it('does not cache a failed fetch', async () => {
    secrets
      .on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ SecretString: TOKEN });
    const reader = new SecretsManagerReader('pluto/token', { client });
    const throttled = await reader.getToken().catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(SecretReadError);
    expect((throttled as Error).message).toBe(
      'Secrets Manager failed to return pluto/token: ThrottlingException: Rate exceeded',
    );
    expect(await reader.getToken()).toBe(TOKEN);
  });

  describe('with the Pluto client', () => {
    let sim: RunningSimulator;
    const authorizations: (string | undefined)[] = [];
    beforeAll(async () => {
      sim = await startSimulator({
        experiments: 2,
        genes: [30, 30],
        samples: [2, 2],
        faults: (request) => {
          authorizations.push(request.headers.authorization);
          return undefined;
        },
      });
    });
    afterAll(async () => {
      await sim.close();
    });

    it('is refreshed once after a 401, and the rotated token is used', async () => {
      const revoked = 'R'.repeat(40);
      secrets
        .on(GetSecretValueCommand)
        .resolvesOnce({ SecretString: JSON.stringify({ token: revoked }) })
        .resolves({ SecretString: JSON.stringify({ token: SIMULATOR_TOKEN }) });
      const reader = new SecretsManagerReader(SECRET_ARN, { client });
      const pluto = createPlutoClient({ baseUrl: sim.url, secrets: reader, version: 'test' });

      const ids: string[] = [];
      for await (const experiment of pluto.listExperiments()) ids.push(experiment.pluto_id);

      expect(ids).toEqual(sim.truth.experiments.map((e) => e.id));
      expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
      expect(sim.requests.recent.map((r) => r.status)).toEqual([401, 200]);
      expect(authorizations).toEqual([`Token ${revoked}`, `Token ${SIMULATOR_TOKEN}`]);
    });
  });
});
