/**
 * The lake on S3. Immutable parts are written with `IfNoneMatch: '*'` (on the PutObject, or on the
 * CompleteMultipartUpload of a large or streamed body), so a retry never overwrites; every upload
 * carries a SHA-256 checksum that S3 verifies before it stores the object. Compare-and-swap uses
 * the ETag as the version, with `IfMatch` on the PutObject or DeleteObject.
 */
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { AccessDeniedError, ConfigError, StoreError } from '../core/errors.js';
import type { ObjectStore, PutResult, StoredObject, VersionedObject } from '../core/ports.js';

export interface S3Location {
  readonly bucket: string;
  /** Key prefix of the lake root, '' or ending with '/'. */
  readonly prefix: string;
}

export interface S3StoreOptions {
  /** Bodies larger than this go up as a multipart upload. Default 16 MiB. */
  readonly multipartThresholdBytes?: number;
  /** Size of each uploaded part; S3 wants at least 5 MiB for all but the last. Default 8 MiB. */
  readonly partSizeBytes?: number;
  /** Parts of one upload sent at once. Default 4. */
  readonly uploadConcurrency?: number;
  /** MaxKeys of each ListObjectsV2 request. Default 1000, S3's maximum. */
  readonly listPageSize?: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = 16 * MiB;
export const DEFAULT_PART_SIZE_BYTES = 8 * MiB;
const S3_MAX_PARTS = 10_000;
/** Keys per DeleteObjects request. */
const DELETE_BATCH = 1_000;

export function parseS3Url(url: string, option = '--out'): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (match === null) throw new ConfigError(`${option} ${url}: expected s3://bucket or s3://bucket/prefix`);
  return { bucket: match[1] ?? '', prefix: normalizePrefix(match[2] ?? '') };
}

/** '' for the bucket root, else the prefix without leading and with one trailing `/`. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/**
 * A client for the standard AWS environment. A custom endpoint (AWS_ENDPOINT_URL_S3, e.g. s3rver)
 * gets path-style addressing and checksums only where an operation requires them: the SDK's
 * default trailing CRC32 (aws-chunked) is not understood by such servers.
 */
export function defaultS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  const custom = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return new S3Client(
    custom === undefined
      ? {}
      : {
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        },
  );
}

export class S3Store implements ObjectStore {
  readonly location: string;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly uploadConcurrency: number;
  private readonly listPageSize: number;

  constructor(
    private readonly target: S3Location,
    private readonly client: S3Client = defaultS3Client(),
    options: S3StoreOptions = {},
  ) {
    this.location = `s3://${target.bucket}/${target.prefix}`;
    this.multipartThreshold = positive(
      options.multipartThresholdBytes,
      DEFAULT_MULTIPART_THRESHOLD_BYTES,
      'multipartThresholdBytes',
    );
    this.partSize = positive(options.partSizeBytes, DEFAULT_PART_SIZE_BYTES, 'partSizeBytes');
    this.uploadConcurrency = positive(options.uploadConcurrency, 4, 'uploadConcurrency');
    this.listPageSize = positive(options.listPageSize, 1000, 'listPageSize');
  }

  url(key: string): string {
    return `${this.location}${key}`;
  }

  /**
   * Region and credentials resolve locally (environment, profile files, instance metadata): their
   * absence is configuration, told at once rather than after every request's retries.
   */
  async checkConfigured(): Promise<void> {
    try {
      await this.client.config.region();
    } catch (cause) {
      throw new ConfigError(
        `${this.location}: no AWS region is configured: set AWS_REGION (or a region for AWS_PROFILE)`,
        { cause },
      );
    }
    try {
      await this.client.config.credentials();
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      throw new ConfigError(
        `${this.location}: no AWS credentials (${reason}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
        { cause },
      );
    }
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    return { created: await this.upload(key, body, ABSENT) };
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.upload(key, body, undefined);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getVersioned(key))?.body;
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key), ChecksumMode: 'ENABLED' }),
      );
      const body =
        response.Body === undefined ? new Uint8Array() : await response.Body.transformToByteArray();
      return { body, version: response.ETag ?? '' };
    } catch (error) {
      if (statusOf(error) === 404 && nameOf(error) !== 'NoSuchBucket') return undefined;
      throw this.wrap(error, 'get', key);
    }
  }

  async replaceIfVersion(key: string, body: Uint8Array, version: string): Promise<boolean> {
    return this.upload(key, body, { IfMatch: version });
  }

  async deleteIfVersion(key: string, version: string): Promise<boolean> {
    const condition = { IfMatch: version };
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key), ...condition }),
      );
      return true;
    } catch (error) {
      if (isLostCondition(error, condition)) return false;
      throw this.wrap(error, 'delete', key);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key) }),
      );
      return { key, size: response.ContentLength ?? 0, lastModified: response.LastModified ?? new Date(0) };
    } catch (error) {
      // A HEAD answer has no body: a missing key and a missing bucket both read as 404 NotFound.
      if (statusOf(error) === 404 && nameOf(error) !== 'NoSuchBucket') return undefined;
      throw this.wrap(error, 'head', key);
    }
  }

  /** Lists without a delimiter: the keys come back flat, in S3's (byte) order. */
  async list(prefix: string): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    let token: string | undefined;
    do {
      let response: ListObjectsV2CommandOutput;
      try {
        response = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.target.bucket,
            Prefix: this.keyOf(prefix, true),
            MaxKeys: this.listPageSize,
            ContinuationToken: token,
          }),
        );
      } catch (error) {
        throw this.wrap(error, 'list', prefix);
      }
      for (const object of response.Contents ?? []) {
        if (object.Key === undefined) continue;
        found.push({
          key: object.Key.slice(this.target.prefix.length),
          size: object.Size ?? 0,
          lastModified: object.LastModified ?? new Date(0),
        });
      }
      token = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (token !== undefined);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key) }));
    } catch (error) {
      if (statusOf(error) !== 404 || nameOf(error) === 'NoSuchBucket') throw this.wrap(error, 'delete', key);
    }
  }

  /** DeleteObjects, at most 1,000 keys a request (S3 API reference, DeleteObjects). */
  async deleteAll(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let errors: { Key?: string; Code?: string; Message?: string }[];
      try {
        const response = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.target.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.keyOf(key) })), Quiet: true },
          }),
        );
        errors = response.Errors ?? [];
      } catch (error) {
        throw this.wrap(error, 'delete', `${batch[0]} and ${batch.length - 1} more`);
      }
      const [failed] = errors;
      if (failed !== undefined) {
        throw new StoreError(
          `S3 could not delete ${failed.Key ?? '?'} in ${this.location}: ${failed.Code ?? '?'}: ${failed.Message ?? ''} (${errors.length} of ${batch.length} keys failed)`,
        );
      }
    }
  }

  async putStreamIfAbsent(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    return { created: await this.uploadStream(key, body, ABSENT, this.partSize, this.multipartThreshold) };
  }

  /** True when the object was written; false when `condition` did not hold (nothing written). */
  private async upload(
    key: string,
    body: Uint8Array,
    condition: WriteCondition | undefined,
  ): Promise<boolean> {
    if (body.byteLength <= this.multipartThreshold) return this.putObject(key, body, condition);
    const partSize = Math.max(this.partSize, Math.ceil(body.byteLength / S3_MAX_PARTS));
    return this.uploadStream(key, [body], condition, partSize, 0);
  }

  private async putObject(
    key: string,
    body: Uint8Array,
    condition: WriteCondition | undefined,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: this.keyOf(key),
          Body: body,
          ContentLength: body.byteLength,
          ChecksumSHA256: sha256Base64(body),
          ...condition,
        }),
      );
      return true;
    } catch (error) {
      if (condition !== undefined && isLostCondition(error, condition)) return false;
      throw this.wrap(error, 'put', key);
    }
  }

  /**
   * A body of at most `singlePutBytes` goes up as one PutObject; a longer one as a multipart upload
   * of `partSize` parts, sent while the body is still being read, with at most `uploadConcurrency`
   * parts in flight (so about that many parts in memory, plus one being filled). Only the
   * completion publishes the object, and with a `condition` only if it holds; any failure
   * aborts the upload. The body's own errors pass through unchanged.
   */
  private async uploadStream(
    key: string,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    condition: WriteCondition | undefined,
    partSize: number,
    singlePutBytes: number,
  ): Promise<boolean> {
    const objectKey = this.keyOf(key);
    const pending = new ByteQueue();
    let upload: PartUploads | undefined;
    try {
      for await (const chunk of body) {
        pending.push(chunk);
        if (upload === undefined && pending.size > singlePutBytes) upload = await this.startUpload(key);
        while (upload !== undefined && pending.size >= partSize) await upload.send(pending.take(partSize));
      }
      if (upload === undefined) return await this.putObject(key, pending.take(pending.size), condition);
      if (pending.size > 0) await upload.send(pending.take(pending.size));
      if (await this.complete(upload, condition, key)) return true;
      await this.abort(objectKey, upload.uploadId);
      return false;
    } catch (error) {
      if (upload !== undefined) {
        // Every part settles before the abort, so no part lands after it.
        await upload.settle();
        await this.abort(objectKey, upload.uploadId);
      }
      throw error;
    }
  }

  /** False when the `condition` no longer held at the completion. */
  private async complete(
    upload: PartUploads,
    condition: WriteCondition | undefined,
    key: string,
  ): Promise<boolean> {
    const parts = await upload.finish();
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          ...upload.target,
          MultipartUpload: { Parts: parts },
          ...condition,
        }),
      );
      return true;
    } catch (error) {
      if (condition !== undefined && isLostCondition(error, condition)) return false;
      throw this.wrap(error, 'upload', key);
    }
  }

  private async startUpload(key: string): Promise<PartUploads> {
    const objectKey = this.keyOf(key);
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.target.bucket,
          Key: objectKey,
          ChecksumAlgorithm: 'SHA256',
        }),
      );
      uploadId = created.UploadId;
    } catch (error) {
      throw this.wrap(error, 'upload', key);
    }
    if (uploadId === undefined) throw new StoreError(`S3 returned no UploadId for ${this.location}${key}`);
    return new PartUploads(
      this.client,
      { Bucket: this.target.bucket, Key: objectKey, UploadId: uploadId },
      this.uploadConcurrency,
      (error) => this.wrap(error, 'upload', key),
    );
  }

  /** Best effort: an upload left behind is removed by the bucket's AbortIncompleteMultipartUpload rule. */
  private async abort(objectKey: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: objectKey, UploadId: uploadId }),
      );
    } catch {
      // The original failure is what the caller needs; a failed abort only leaves an upload to expire.
    }
  }

  private keyOf(key: string, allowEmpty = false): string {
    if ((!allowEmpty && key === '') || key.startsWith('/') || key.split('/').includes('..')) {
      throw new StoreError(`Invalid object key "${key}"`);
    }
    return `${this.target.prefix}${key}`;
  }

  /**
   * Permissions and a missing bucket are configuration: retrying cannot fix them. Everything else
   * (throttling, 5xx, a reset connection, a conditional-write conflict) may pass on a retry.
   */
  private wrap(error: unknown, action: string, key: string): Error {
    const name = nameOf(error);
    const status = statusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    const what = `${action} ${this.location}${key}`;
    const bucket = this.target.bucket;
    if (name === 'NoSuchBucket') {
      return new ConfigError(`Could not ${what}: bucket "${bucket}" does not exist (check the lake bucket)`, {
        cause: error,
      });
    }
    if (ACCESS_ERRORS.has(name) || status === 403) {
      return new AccessDeniedError(
        `Could not ${what}: access to bucket "${bucket}" denied (${name}); grant s3:GetObject, s3:PutObject, ` +
          `s3:DeleteObject and s3:ListBucket on it`,
        { cause: error },
      );
    }
    if (CREDENTIAL_ERRORS.has(name)) {
      return new ConfigError(
        `Could not ${what}: no usable AWS credentials for bucket "${bucket}" (${name})`,
        {
          cause: error,
        },
      );
    }
    const code = status === undefined ? name : `${name} ${status}`;
    return new StoreError(`Could not ${what}: ${code}: ${message}`, { cause: error });
  }
}

type WriteCondition = { readonly IfNoneMatch: '*' } | { readonly IfMatch: string };
const ABSENT: WriteCondition = { IfNoneMatch: '*' };

/**
 * The condition did not hold: 412 PreconditionFailed (the key is taken, or has another ETag). For
 * `IfMatch` also 404 NoSuchKey (the key is gone) and 409 ConditionalRequestConflict (another write
 * to the key was in flight: S3 asks the caller to read the ETag again, which a compare-and-swap's
 * caller does anyway). A 409 on `IfNoneMatch` stays an error, retried like any other.
 */
function isLostCondition(error: unknown, condition: WriteCondition): boolean {
  const status = statusOf(error);
  if (status === 412) return true;
  if ('IfNoneMatch' in condition) return false;
  return status === 409 || (status === 404 && nameOf(error) !== 'NoSuchBucket');
}

interface UploadTarget {
  readonly Bucket: string;
  readonly Key: string;
  readonly UploadId: string;
}

/** The parts of one multipart upload, sent as they are filled, at most `concurrency` at a time. */
class PartUploads {
  private readonly parts: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { readonly error: Error } | undefined;

  constructor(
    private readonly client: S3Client,
    readonly target: UploadTarget,
    private readonly concurrency: number,
    private readonly wrap: (error: unknown) => Error,
  ) {}

  get uploadId(): string {
    return this.target.UploadId;
  }

  /** Resolves once the part is under way and fewer than `concurrency` parts are in flight. */
  async send(chunk: Uint8Array): Promise<void> {
    this.throwIfFailed();
    const partNumber = this.parts.length + 1;
    if (partNumber > S3_MAX_PARTS) {
      throw new StoreError(`${this.target.Key}: more than ${S3_MAX_PARTS} parts; raise partSizeBytes`);
    }
    this.parts.length = partNumber;
    const checksum = sha256Base64(chunk);
    const upload = async () => {
      try {
        const response = await this.client.send(
          new UploadPartCommand({
            ...this.target,
            PartNumber: partNumber,
            Body: chunk,
            ContentLength: chunk.byteLength,
            ChecksumSHA256: checksum,
          }),
        );
        this.parts[partNumber - 1] = {
          PartNumber: partNumber,
          ETag: response.ETag,
          ChecksumSHA256: checksum,
        };
      } catch (error) {
        this.failure ??= { error: this.wrap(error) };
      }
    };
    const task: Promise<void> = upload().finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  async finish(): Promise<CompletedPart[]> {
    await this.settle();
    this.throwIfFailed();
    return this.parts;
  }

  async settle(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}

/** Chunks of a body in arrival order, taken out in parts of a chosen size. */
class ByteQueue {
  private readonly chunks: Uint8Array[] = [];
  size = 0;

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
  }

  /** The next `count` bytes (at most `size`); a view when one chunk holds them all. */
  take(count: number): Uint8Array {
    const head = this.chunks[0];
    if (head !== undefined && head.byteLength >= count) {
      this.chunks[0] = head.subarray(count);
      if (this.chunks[0].byteLength === 0) this.chunks.shift();
      this.size -= count;
      return head.subarray(0, count);
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0] as Uint8Array;
      const used = Math.min(chunk.byteLength, count - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.byteLength) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.size -= count;
    return out;
  }
}

const ACCESS_ERRORS = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem', 'InvalidBucketName']);
const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
]);

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`S3Store ${what} must be a positive integer, got ${value}`);
  }
  return value;
}

const sha256Base64 = (data: Uint8Array) => createHash('sha256').update(data).digest('base64');

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
