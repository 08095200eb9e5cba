import 'aws-sdk-client-mock-vitest/extend';
import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseS3Url, S3Store } from '../functions/adapters/s3-store.js';
import { AccessDeniedError, ConfigError, StoreError } from '../functions/core/errors.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';

const BUCKET = 'pluto-lake';
const bytes = (text: string) => new TextEncoder().encode(text);
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const sha256Base64 = (data: Uint8Array) => createHash('sha256').update(data).digest('base64');

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: `${name} from the test`,
  });
}

function sentCommands(client: S3Client) {
  const send = vi.spyOn(client, 'send');
  return (type: abstract new (...args: never[]) => unknown) =>
    send.mock.calls.map(([command]) => command).filter((command) => command instanceof type);
}

describe('S3Store on s3rver', () => {
  let s3rver: RunningS3rver;

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
  });
  afterAll(async () => {
    await s3rver.stop();
  });

  it('puts, gets, heads and deletes objects under the lake prefix', async () => {
    const client = s3rver.client();
    const store = new S3Store(parseS3Url(`s3://${BUCKET}/exports/lake`), client);
    expect(store.location).toBe(`s3://${BUCKET}/exports/lake/`);

    expect(await store.putIfAbsent('runs/r1/items.json', bytes('[1,2,3]'))).toEqual({ created: true });
    await store.put('_catalog/samples/PLX1.json', bytes('{"v":1}'));
    await store.put('_catalog/samples/PLX1.json', bytes('{"v":22}'));

    expect(new TextDecoder().decode(await store.get('runs/r1/items.json'))).toBe('[1,2,3]');
    expect(new TextDecoder().decode(await store.get('_catalog/samples/PLX1.json'))).toBe('{"v":22}');
    expect(await store.head('runs/r1/items.json')).toEqual({
      key: 'runs/r1/items.json',
      size: 7,
      lastModified: expect.any(Date),
    });
    expect(await store.get('runs/r1/missing.json')).toBeUndefined();
    expect(await store.head('runs/r1/missing.json')).toBeUndefined();

    const many = Array.from(
      { length: 1_005 },
      (_, i) => `data/x/run_id=r0/part-${String(i).padStart(5, '0')}`,
    );
    for (const key of many) await store.putIfAbsent(key, bytes('p'));
    await store.deleteAll([...many, 'data/x/never-written']);
    expect(await store.list('data/x/')).toEqual([]);

    // The prefix is really in the bucket's keys: a store at the bucket root sees it.
    const root = new S3Store({ bucket: BUCKET, prefix: '' }, client);
    expect((await root.list('exports/')).map((o) => o.key)).toEqual([
      'exports/lake/_catalog/samples/PLX1.json',
      'exports/lake/runs/r1/items.json',
    ]);

    await store.delete('runs/r1/items.json');
    await store.delete('runs/r1/items.json');
    expect(await store.get('runs/r1/items.json')).toBeUndefined();
    expect((await store.list('')).map((o) => o.key)).toEqual(['_catalog/samples/PLX1.json']);
  });

  it('lists every key under a prefix across pages, nested folders included', async () => {
    const client = s3rver.client();
    const store = new S3Store({ bucket: BUCKET, prefix: 'paged/' }, client, { listPageSize: 7 });
    const expected: { key: string; size: number; lastModified: unknown }[] = [];
    for (let i = 0; i < 30; i++) {
      const key = `data/assay/experiment_id=PLX${i % 3}/run_id=r${i % 2}/part-assay-${String(i).padStart(5, '0')}.parquet`;
      const body = bytes('x'.repeat(i + 1));
      await store.putIfAbsent(key, body);
      expected.push({ key, size: body.byteLength, lastModified: expect.any(Date) });
    }
    await store.put('data/assays-not-this-table/part.parquet', bytes('no'));
    await store.put('data/samples/experiment_id=PLX0/run_id=r0/part.parquet', bytes('no'));
    const listed = sentCommands(client);

    const found = await store.list('data/assay/');

    expect(found).toEqual(expected.sort((a, b) => (a.key < b.key ? -1 : 1)));
    expect(listed(ListObjectsV2Command).map((c) => (c as ListObjectsV2Command).input.MaxKeys)).toEqual([
      7, 7, 7, 7, 7,
    ]);
    expect((await store.list('data/assay/experiment_id=PLX1/')).length).toBe(10);
  });

  it('uploads a body above the threshold in parts and reads back the same bytes', async () => {
    const client = s3rver.client();
    const store = new S3Store({ bucket: BUCKET, prefix: 'multi/' }, client, {
      multipartThresholdBytes: 64 * 1024,
      partSizeBytes: 32 * 1024,
    });
    const body = new Uint8Array(randomBytes(200 * 1024 + 123));
    const sent = sentCommands(client);

    expect(await store.putIfAbsent('data/assay/big.parquet', body)).toEqual({ created: true });

    const parts = sent(UploadPartCommand) as UploadPartCommand[];
    expect(parts.map((p) => p.input.PartNumber)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(parts.map((p) => (p.input.Body as Uint8Array).byteLength)).toEqual([
      32768,
      32768,
      32768,
      32768,
      32768,
      32768,
      123 + 8 * 1024,
    ]);
    const complete = sent(CompleteMultipartUploadCommand) as CompleteMultipartUploadCommand[];
    expect(complete.map((c) => c.input.IfNoneMatch)).toEqual(['*']);
    expect(sent(PutObjectCommand)).toHaveLength(0);

    const back = await store.get('data/assay/big.parquet');
    expect(back?.byteLength).toBe(body.byteLength);
    expect(sha256(back ?? new Uint8Array())).toBe(sha256(body));
    expect(await store.head('data/assay/big.parquet')).toEqual({
      key: 'data/assay/big.parquet',
      size: body.byteLength,
      lastModified: expect.any(Date),
    });
  });

  it('uses a multipart upload for bodies over 16 MiB by default', async () => {
    const client = s3rver.client();
    const store = new S3Store({ bucket: BUCKET, prefix: 'default-multi/' }, client);
    const body = new Uint8Array(randomBytes(16 * 1024 * 1024 + 1));
    const small = new Uint8Array(randomBytes(16 * 1024 * 1024));
    const sent = sentCommands(client);

    await store.putIfAbsent('large.bin', body);
    await store.putIfAbsent('exactly-16-mib.bin', small);

    expect((sent(UploadPartCommand) as UploadPartCommand[]).map((p) => p.input.ContentLength)).toEqual([
      8 * 1024 * 1024,
      8 * 1024 * 1024,
      1,
    ]);
    expect((sent(PutObjectCommand) as PutObjectCommand[]).map((p) => p.input.Key)).toEqual([
      'default-multi/exactly-16-mib.bin',
    ]);
    expect(sha256((await store.get('large.bin')) ?? new Uint8Array())).toBe(sha256(body));
    expect(sha256((await store.get('exactly-16-mib.bin')) ?? new Uint8Array())).toBe(sha256(small));
  });

  it('reports a missing bucket as a ConfigError naming it', async () => {
    const store = new S3Store({ bucket: 'no-such-lake', prefix: '' }, s3rver.client());
    const failures = await Promise.all([
      store.get('runs/x.json').catch((e: unknown) => e),
      store.list('runs/').catch((e: unknown) => e),
      store.putIfAbsent('runs/x.json', bytes('{}')).catch((e: unknown) => e),
    ]);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(ConfigError);
      expect((failure as Error).message).toContain('bucket "no-such-lake" does not exist');
    }
  });
});

describe('S3Store requests', () => {
  const client = new S3Client({ region: 'eu-west-1' });
  const s3 = mockClient(client);
  const store = new S3Store({ bucket: BUCKET, prefix: 'lake/' }, client, {
    multipartThresholdBytes: 10,
    partSizeBytes: 5,
  });

  beforeEach(() => {
    s3.reset();
  });

  it('writes parts with IfNoneMatch "*" and a SHA-256 checksum', async () => {
    s3.on(PutObjectCommand).resolves({});
    const body = bytes('0123456789');
    expect(await store.putIfAbsent('data/a.parquet', body)).toEqual({ created: true });
    expect(s3).toHaveReceivedCommandExactlyOnceWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: 'lake/data/a.parquet',
      IfNoneMatch: '*',
      ChecksumSHA256: sha256Base64(body),
      ContentLength: 10,
    });
  });

  it('replaces without a condition on put', async () => {
    s3.on(PutObjectCommand).resolves({});
    await store.put('runs/_lease.json', bytes('{}'));
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input?.Key).toBe('lake/runs/_lease.json');
    expect(input?.IfNoneMatch).toBeUndefined();
    expect(input?.ChecksumSHA256).toBe(sha256Base64(bytes('{}')));
  });

  // S3 API reference, DeleteObjects: "a list of up to 1,000 keys" per request.
  it('deletes many keys in DeleteObjects batches of at most 1,000, under the prefix', async () => {
    s3.on(DeleteObjectsCommand).resolves({});
    const keys = Array.from(
      { length: 2_500 },
      (_, i) => `data/assay/experiment_id=PLX1/run_id=r1/part-${i}.parquet`,
    );
    await store.deleteAll(keys);
    const calls = s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Delete?.Objects?.length)).toEqual([1_000, 1_000, 500]);
    expect(calls.every((c) => c.Bucket === BUCKET && c.Delete?.Quiet === true)).toBe(true);
    expect(calls.flatMap((c) => c.Delete?.Objects?.map((o) => o.Key))).toEqual(keys.map((k) => `lake/${k}`));
    await store.deleteAll([]);
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(3);
  });

  it('fails a batch delete with a StoreError naming a key S3 could not delete', async () => {
    s3.on(DeleteObjectsCommand).resolves({
      Errors: [{ Key: 'lake/data/a.parquet', Code: 'InternalError', Message: 'try again' }],
    });
    const failed = store.deleteAll(['data/a.parquet', 'data/b.parquet']);
    await expect(failed).rejects.toBeInstanceOf(StoreError);
    await expect(failed).rejects.toThrow(/data\/a\.parquet.*InternalError/);
  });

  it('answers created: false when S3 says 412 Precondition Failed', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    expect(await store.putIfAbsent('data/a.parquet', bytes('x'))).toEqual({ created: false });
  });

  it('turns throttling, 5xx and a conditional-write conflict into a retryable StoreError', async () => {
    for (const [name, status] of [
      ['SlowDown', 503],
      ['InternalError', 500],
      ['ConditionalRequestConflict', 409],
    ] as const) {
      s3.reset();
      s3.on(PutObjectCommand).rejects(s3Error(name, status));
      const error = await store.putIfAbsent('data/a.parquet', bytes('x')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).retryable).toBe(true);
      expect((error as Error).message).toBe(
        `Could not put s3://${BUCKET}/lake/data/a.parquet: ${name} ${status}: ${name} from the test`,
      );
    }
  });

  it('turns AccessDenied into an AccessDeniedError naming the bucket and what to grant', async () => {
    s3.on(GetObjectCommand).rejects(s3Error('AccessDenied', 403));
    const error = await store.get('runs/r/items.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect((error as AccessDeniedError).retryable).toBe(false);
    expect((error as Error).message).toContain('grant s3:GetObject, s3:PutObject');
    expect((error as Error).message).toContain(`access to bucket "${BUCKET}" denied (AccessDenied)`);
  });

  it('sends large bodies as parts with checksums and completes them with IfNoneMatch "*"', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-1' });
    s3.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({
      ETag: `"e${input.PartNumber}"`,
    }));
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const body = bytes('abcdefghijkl');

    expect(await store.putIfAbsent('data/big.parquet', body)).toEqual({ created: true });

    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Bucket: BUCKET,
      Key: 'lake/data/big.parquet',
      ChecksumAlgorithm: 'SHA256',
    });
    expect(s3).toHaveReceivedCommandTimes(UploadPartCommand, 3);
    expect(s3).toHaveReceivedCommandExactlyOnceWith(CompleteMultipartUploadCommand, {
      Bucket: BUCKET,
      Key: 'lake/data/big.parquet',
      UploadId: 'u-1',
      IfNoneMatch: '*',
      MultipartUpload: {
        Parts: [
          { PartNumber: 1, ETag: '"e1"', ChecksumSHA256: sha256Base64(bytes('abcde')) },
          { PartNumber: 2, ETag: '"e2"', ChecksumSHA256: sha256Base64(bytes('fghij')) },
          { PartNumber: 3, ETag: '"e3"', ChecksumSHA256: sha256Base64(bytes('kl')) },
        ],
      },
    });
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
  });

  it('aborts the upload when a part fails', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-2' });
    s3.on(UploadPartCommand)
      .resolves({ ETag: '"e"' })
      .on(UploadPartCommand, { PartNumber: 2 })
      .rejects(s3Error('SlowDown', 503));

    const error = await store.putIfAbsent('data/big.parquet', bytes('abcdefghijkl')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain('SlowDown 503');
    expect(s3).toHaveReceivedCommandExactlyOnceWith(AbortMultipartUploadCommand, {
      Bucket: BUCKET,
      Key: 'lake/data/big.parquet',
      UploadId: 'u-2',
    });
    expect(s3).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
  });

  it('answers created: false and aborts when the completion finds the key taken', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-3' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(CompleteMultipartUploadCommand).rejects(s3Error('PreconditionFailed', 412));

    expect(await store.putIfAbsent('data/big.parquet', bytes('abcdefghijkl'))).toEqual({ created: false });
    expect(s3).toHaveReceivedCommandExactlyOnceWith(AbortMultipartUploadCommand, { UploadId: 'u-3' });
  });
});
