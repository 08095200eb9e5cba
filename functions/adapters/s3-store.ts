/**
 * The lake on S3. Immutable parts are written with `IfNoneMatch: '*'` (on the PutObject, or on the
 * CompleteMultipartUpload of a large body), so a retry never overwrites; every upload carries a
 * SHA-256 checksum that S3 verifies before it stores the object.
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
import type { ObjectStore, PutResult, StoredObject } from '../core/ports.js';

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
    return { created: await this.upload(key, body, true) };
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.upload(key, body, false);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key), ChecksumMode: 'ENABLED' }),
      );
      return response.Body === undefined ? new Uint8Array() : await response.Body.transformToByteArray();
    } catch (error) {
      if (statusOf(error) === 404 && nameOf(error) !== 'NoSuchBucket') return undefined;
      throw this.wrap(error, 'get', key);
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

  /** True when the object was written; false when `exclusive` and something was already at the key. */
  private async upload(key: string, body: Uint8Array, exclusive: boolean): Promise<boolean> {
    const objectKey = this.keyOf(key);
    if (body.byteLength > this.multipartThreshold) return this.uploadInParts(key, objectKey, body, exclusive);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: objectKey,
          Body: body,
          ContentLength: body.byteLength,
          ChecksumSHA256: sha256Base64(body),
          ...(exclusive ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (exclusive && statusOf(error) === 412) return false;
      throw this.wrap(error, 'put', key);
    }
  }

  private async uploadInParts(
    key: string,
    objectKey: string,
    body: Uint8Array,
    exclusive: boolean,
  ): Promise<boolean> {
    const partSize = Math.max(this.partSize, Math.ceil(body.byteLength / S3_MAX_PARTS));
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
      if (uploadId === undefined) throw new StoreError(`S3 returned no UploadId for ${this.location}${key}`);
      const parts = await this.uploadParts(objectKey, uploadId, body, partSize);
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.target.bucket,
          Key: objectKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(exclusive ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (uploadId !== undefined) await this.abort(objectKey, uploadId);
      if (exclusive && statusOf(error) === 412) return false;
      throw error instanceof StoreError ? error : this.wrap(error, 'upload', key);
    }
  }

  private async uploadParts(
    objectKey: string,
    uploadId: string,
    body: Uint8Array,
    partSize: number,
  ): Promise<CompletedPart[]> {
    const count = Math.ceil(body.byteLength / partSize);
    const parts: CompletedPart[] = new Array(count);
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < count) {
        const index = next++;
        const chunk = body.subarray(index * partSize, Math.min(body.byteLength, (index + 1) * partSize));
        const checksum = sha256Base64(chunk);
        const response = await this.client.send(
          new UploadPartCommand({
            Bucket: this.target.bucket,
            Key: objectKey,
            UploadId: uploadId,
            PartNumber: index + 1,
            Body: chunk,
            ContentLength: chunk.byteLength,
            ChecksumSHA256: checksum,
          }),
        );
        parts[index] = { PartNumber: index + 1, ETag: response.ETag, ChecksumSHA256: checksum };
      }
    };
    // Every worker settles before the caller aborts, so no part lands after the abort.
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(this.uploadConcurrency, count) }, () =>
        worker().catch((error: unknown) => {
          failed = true;
          throw error;
        }),
      ),
    );
    const rejected = settled.find((result) => result.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
    return parts;
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
