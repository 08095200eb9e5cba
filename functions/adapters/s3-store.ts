/** The lake on S3: immutable parts are written with `IfNoneMatch: '*'`, so a retry never overwrites. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ConfigError, StoreError } from '../core/errors.js';
import type { ObjectStore, PutResult, StoredObject } from '../core/ports.js';

export interface S3Location {
  readonly bucket: string;
  /** Key prefix of the lake root, '' or ending with '/'. */
  readonly prefix: string;
}

export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (match === null) throw new ConfigError(`--out ${url}: expected s3://bucket or s3://bucket/prefix`);
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: match[1] ?? '', prefix: prefix === '' ? '' : `${prefix}/` };
}

/** A client for the standard AWS environment; a custom endpoint (AWS_ENDPOINT_URL_S3) gets path-style addressing. */
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

  constructor(
    private readonly target: S3Location,
    private readonly client: S3Client = defaultS3Client(),
  ) {
    this.location = `s3://${target.bucket}/${target.prefix}`;
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: this.keyOf(key),
          Body: body,
          IfNoneMatch: '*',
        }),
      );
      return { created: true };
    } catch (error) {
      // 412: someone wrote it first; 409: a concurrent conditional write is in flight for the same key.
      if (statusOf(error) === 412 || statusOf(error) === 409) return { created: false };
      throw this.wrap(error, 'put', key);
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key), Body: body }),
      );
    } catch (error) {
      throw this.wrap(error, 'put', key);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key) }),
      );
      return response.Body === undefined ? new Uint8Array() : await response.Body.transformToByteArray();
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.wrap(error, 'get', key);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key) }),
      );
      return { key, size: response.ContentLength ?? 0 };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.wrap(error, 'head', key);
    }
  }

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
            ContinuationToken: token,
          }),
        );
      } catch (error) {
        throw this.wrap(error, 'list', prefix);
      }
      for (const object of response.Contents ?? []) {
        if (object.Key === undefined) continue;
        found.push({ key: object.Key.slice(this.target.prefix.length), size: object.Size ?? 0 });
      }
      token = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (token !== undefined);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: this.keyOf(key) }));
    } catch (error) {
      if (statusOf(error) !== 404) throw this.wrap(error, 'delete', key);
    }
  }

  private keyOf(key: string, allowEmpty = false): string {
    if ((!allowEmpty && key === '') || key.startsWith('/') || key.split('/').includes('..')) {
      throw new StoreError(`Invalid object key "${key}"`);
    }
    return `${this.target.prefix}${key}`;
  }

  private wrap(error: unknown, action: string, key: string): Error {
    const name = error instanceof Error ? error.name : 'Error';
    return new StoreError(
      `Could not ${action} ${this.location}${key}: ${name} ${(error as Error).message ?? ''}`.trim(),
      {
        cause: error,
      },
    );
  }
}

function statusOf(error: unknown): number | undefined {
  if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode;
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
