import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { S3Store } from '../functions/adapters/s3-store.js';
import { ConfigError, StoreError } from '../functions/core/errors.js';
import type { ObjectStore } from '../functions/core/ports.js';
import { MemoryStore } from './support/memory-store.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';

const BUCKET = 'stream-lake';
const KEY = 'data/assay/experiment_id=PLX1/run_id=r1/part-assay-00000.parquet';
const CHUNK_BYTES = 50 * 1024;
const PART_BYTES = 64 * 1024;
const digest = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

class BodyFailedError extends Error {
  override readonly name = 'BodyFailedError';
}

/** A body of `count` random chunks that records what the store let happen while it was read. */
function chunkedBody(
  count: number,
  options: { failAt?: number; onChunk?: (index: number) => Promise<void> } = {},
) {
  const chunks = Array.from({ length: count }, () => new Uint8Array(randomBytes(CHUNK_BYTES)));
  const state = { read: 0, finished: false };
  async function* body() {
    try {
      for (const [index, chunk] of chunks.entries()) {
        if (index === options.failAt) throw new BodyFailedError(`chunk ${index} could not be made`);
        await options.onChunk?.(index);
        state.read++;
        yield chunk;
      }
    } finally {
      state.finished = true;
    }
  }
  return { body: body(), whole: Buffer.concat(chunks), state };
}

interface StoreCase {
  readonly name: string;
  open(): Promise<{ store: ObjectStore; leftovers(): string[] }>;
}

let root: string;
let s3rver: RunningS3rver;
let s3rverClient: S3Client;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'streamed-put-'));
  s3rver = await startS3rver([BUCKET], { conditionalWrites: true });
  s3rverClient = s3rver.client();
});
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  await s3rver.stop();
});

let prefixes = 0;
const CASES: StoreCase[] = [
  {
    name: 'FolderStore',
    open: async () => {
      const folder = join(root, `lake-${prefixes++}`);
      const store = new FolderStore(folder);
      const partFolder = join(folder, 'data/assay/experiment_id=PLX1/run_id=r1');
      return { store, leftovers: () => readdirSafe(partFolder).filter((name) => name.startsWith('.tmp-')) };
    },
  },
  {
    name: 'S3Store on s3rver',
    open: async () => ({
      store: new S3Store({ bucket: BUCKET, prefix: `lake-${prefixes++}/` }, s3rverClient, {
        partSizeBytes: PART_BYTES,
        multipartThresholdBytes: PART_BYTES,
      }),
      // Multipart uploads in progress are not objects: ListObjects never shows them.
      leftovers: () => [],
    }),
  },
  { name: 'MemoryStore', open: async () => ({ store: new MemoryStore(), leftovers: () => [] }) },
];

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

describe.each(CASES)('putStreamIfAbsent on $name', ({ open }) => {
  it('stores every chunk in order, and nothing is visible at the key until the body has ended', async () => {
    const { store } = await open();
    const seen: { head: boolean; listed: number }[] = [];
    const { body, whole } = chunkedBody(8, {
      onChunk: async () => {
        seen.push({
          head: (await store.head(KEY)) !== undefined,
          listed: (await store.list('data/')).length,
        });
      },
    });

    expect(await store.putStreamIfAbsent(KEY, body)).toEqual({ created: true });

    expect(seen).toEqual(Array.from({ length: 8 }, () => ({ head: false, listed: 0 })));
    const stored = await store.get(KEY);
    expect(stored?.byteLength).toBe(8 * CHUNK_BYTES);
    expect(digest(stored ?? new Uint8Array())).toBe(digest(whole));
    expect((await store.list('data/')).map((o) => [o.key, o.size])).toEqual([[KEY, 8 * CHUNK_BYTES]]);
  });

  it('keeps what is at the key and answers created: false, for a body long or short', async () => {
    const { store } = await open();
    const first = chunkedBody(3);
    await store.putStreamIfAbsent(KEY, first.body);

    const longer = chunkedBody(5);
    expect(await store.putStreamIfAbsent(KEY, longer.body)).toEqual({ created: false });
    expect(longer.state.read).toBe(5);
    const short = chunkedBody(1);
    expect(await store.putStreamIfAbsent(KEY, short.body)).toEqual({ created: false });

    expect(digest((await store.get(KEY)) ?? new Uint8Array())).toBe(digest(first.whole));
  });

  it("passes the body's own error through unchanged and publishes nothing", async () => {
    const { store, leftovers } = await open();
    const { body, state } = chunkedBody(6, { failAt: 4 });

    const error = await store.putStreamIfAbsent(KEY, body).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BodyFailedError);
    expect((error as Error).message).toBe('chunk 4 could not be made');
    expect(state.read).toBe(4);
    expect(await store.head(KEY)).toBeUndefined();
    expect(await store.list('data/')).toEqual([]);
    expect(leftovers()).toEqual([]);
  });
});

describe('putStreamIfAbsent on S3', () => {
  function spyOnSends(client: S3Client) {
    const send = vi.spyOn(client, 'send');
    return (type: abstract new (...args: never[]) => unknown) =>
      send.mock.calls.map(([command]) => command).filter((command) => command instanceof type);
  }

  it('sends parts while the body is still being read and completes with IfNoneMatch "*"', async () => {
    const client = s3rver.client();
    const store = new S3Store({ bucket: BUCKET, prefix: 'parts-early/' }, client, {
      partSizeBytes: PART_BYTES,
      multipartThresholdBytes: PART_BYTES,
      uploadConcurrency: 2,
    });
    const sent = spyOnSends(client);
    const partsSentBefore: number[] = [];
    const { body, whole } = chunkedBody(10, {
      onChunk: async () => {
        partsSentBefore.push(sent(UploadPartCommand).length);
      },
    });

    expect(await store.putStreamIfAbsent(KEY, body)).toEqual({ created: true });

    // 10 chunks of 50 KiB make 7 parts of 64 KiB and a last one of 52 KiB; the first part goes
    // out once a second chunk fills it, long before the body ends.
    expect(partsSentBefore).toEqual([0, 0, 1, 2, 3, 3, 4, 5, 6, 7]);
    const parts = sent(UploadPartCommand) as UploadPartCommand[];
    expect(parts.map((p) => p.input.ContentLength)).toEqual([...Array(7).fill(PART_BYTES), 52 * 1024]);
    expect(
      (sent(CompleteMultipartUploadCommand) as CompleteMultipartUploadCommand[])[0]?.input.IfNoneMatch,
    ).toBe('*');
    expect(sent(PutObjectCommand)).toHaveLength(0);
    expect(digest((await store.get(KEY)) ?? new Uint8Array())).toBe(digest(whole));
  });

  it('sends a body no longer than one part as a single PutObject with IfNoneMatch "*"', async () => {
    const client = s3rver.client();
    const store = new S3Store({ bucket: BUCKET, prefix: 'single/' }, client, {
      partSizeBytes: PART_BYTES,
      multipartThresholdBytes: PART_BYTES,
    });
    const sent = spyOnSends(client);
    const { body, whole } = chunkedBody(1);

    expect(await store.putStreamIfAbsent(KEY, body)).toEqual({ created: true });

    expect((sent(PutObjectCommand) as PutObjectCommand[]).map((p) => p.input.IfNoneMatch)).toEqual(['*']);
    expect(sent(CreateMultipartUploadCommand)).toHaveLength(0);
    expect(digest((await store.get(KEY)) ?? new Uint8Array())).toBe(digest(whole));
  });

  it('aborts the upload when the body fails after parts went up, and the key stays free', async () => {
    const client = s3rver.client();
    const store = new S3Store({ bucket: BUCKET, prefix: 'body-fails/' }, client, {
      partSizeBytes: PART_BYTES,
      multipartThresholdBytes: PART_BYTES,
    });
    const sent = spyOnSends(client);
    const { body } = chunkedBody(8, { failAt: 6 });

    await expect(store.putStreamIfAbsent(KEY, body)).rejects.toBeInstanceOf(BodyFailedError);

    expect(sent(UploadPartCommand).length).toBeGreaterThan(0);
    expect(
      (sent(AbortMultipartUploadCommand) as AbortMultipartUploadCommand[]).map((c) => c.input.Key),
    ).toEqual([`body-fails/${KEY}`]);
    expect(sent(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(await store.head(KEY)).toBeUndefined();
    const retry = chunkedBody(2);
    expect(await store.putStreamIfAbsent(KEY, retry.body)).toEqual({ created: true });
  });

  it('stops reading the body when the store fails, with the error that names what to fix', async () => {
    const store = new S3Store({ bucket: 'no-such-lake', prefix: '' }, s3rver.client(), {
      partSizeBytes: PART_BYTES,
      multipartThresholdBytes: PART_BYTES,
    });
    const { body, state } = chunkedBody(10);

    const error = await store.putStreamIfAbsent(KEY, body).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('bucket "no-such-lake" does not exist');
    expect(state.read).toBe(2);
    expect(state.finished).toBe(true);
  });

  it('stops reading the body once a part fails, waits for the parts in flight, then aborts', async () => {
    const client = new S3Client({ region: 'eu-west-1' });
    const s3 = mockClient(client);
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-9' });
    s3.on(UploadPartCommand)
      .resolves({ ETag: '"e"' })
      .on(UploadPartCommand, { PartNumber: 2 })
      .rejects(
        new S3ServiceException({
          name: 'SlowDown',
          $fault: 'server',
          $metadata: { httpStatusCode: 503 },
          message: 'Please reduce your request rate.',
        }),
      );
    const store = new S3Store({ bucket: BUCKET, prefix: '' }, client, {
      partSizeBytes: PART_BYTES,
      multipartThresholdBytes: PART_BYTES,
      uploadConcurrency: 1,
    });
    const { body, state } = chunkedBody(20);

    const error = await store.putStreamIfAbsent(KEY, body).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).retryable).toBe(true);
    expect((error as Error).message).toBe(
      `Could not upload s3://${BUCKET}/${KEY}: SlowDown 503: Please reduce your request rate.`,
    );
    expect(state.read).toBe(3);
    expect(state.finished).toBe(true);
    expect(s3.commandCalls(UploadPartCommand).map((c) => c.args[0].input.PartNumber)).toEqual([1, 2]);
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((c) => c.args[0].input.UploadId)).toEqual([
      'u-9',
    ]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });
});
