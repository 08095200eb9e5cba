/**
 * File copy end to end into S3 (s3rver with conditional writes, as S3 answers `If-None-Match: *`):
 * every requested file of the inventory streamed from its signed URL into the bucket, SHA-256
 * identical to what the simulator served, a large one as a multipart upload; the `files` table
 * points at the copies; a second run asks for no file and uploads nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { S3Store } from '../functions/adapters/s3-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { sha256 } from '../functions/core/records.js';
import { safeFileName } from '../functions/core/safe-file-name.js';
import type { ExportSettings } from '../functions/core/settings.js';
import type { FinalizeOutput } from '../functions/core/workflow/messages.js';
import {
  fileBytes,
  type RunningSimulator,
  type SimulatedFile,
  startSimulator,
} from '../functions/simulator/index.js';
import { exportWith, SMALL_ORGANISATION } from './support/fault-harness.js';
import { queryLakeJson } from './support/lake-query.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';

const BUCKET = 'file-copy-lake';
const PREFIX = 'lake/';
const COPY: Partial<ExportSettings> = { copyFileTypes: ['attachment', 'qc_report'] };
const PART_BYTES = 8 * 1024;
const LARGE_FILE_BYTES = 200_003;

let simulator: RunningSimulator;
let s3rver: RunningS3rver;
let client: S3Client;
let store: S3Store;
let large: { experiment: string; file: SimulatedFile };
let first: FinalizeOutput;
let firstUploads: string[];

const describeTarget = ({ Key, IfNoneMatch }: { Key: string; IfNoneMatch?: string }) =>
  IfNoneMatch === undefined ? Key : `${Key} (If-None-Match: ${IfNoneMatch})`;

/** Keys of the objects the run put or completed, and of the uploads it began. */
async function runRecordingUploads(runId: string): Promise<{ output: FinalizeOutput; uploads: string[] }> {
  const send: MockInstance = vi.spyOn(client, 'send');
  try {
    const output = await exportWith({
      simulator,
      store,
      catalog: new StoreCatalog(store),
      runId,
      settings: COPY,
    });
    const uploads = send.mock.calls.flatMap(([command]) =>
      command instanceof PutObjectCommand ||
      command instanceof CreateMultipartUploadCommand ||
      command instanceof CompleteMultipartUploadCommand
        ? [
            `${command.constructor.name} ${describeTarget(command.input as { Key: string; IfNoneMatch?: string })}`,
          ]
        : [],
    );
    return { output, uploads };
  } finally {
    send.mockRestore();
  }
}

const wantedFiles = () =>
  simulator.truth.exportable.flatMap((e) =>
    e.files
      .filter((f) => f.dataType !== 'bam')
      .map((file) => ({
        experiment: e.id,
        file,
        key: `files/experiment_id=${e.id}/${file.uuid}/${safeFileName(file.fileName)}`,
      })),
  );

beforeAll(async () => {
  [simulator, s3rver] = await Promise.all([
    startSimulator({ seed: 41, ...SMALL_ORGANISATION }),
    startS3rver([BUCKET], { conditionalWrites: true }),
  ]);
  client = s3rver.client();
  store = new S3Store({ bucket: BUCKET, prefix: PREFIX }, client, {
    multipartThresholdBytes: 2 * PART_BYTES,
    partSizeBytes: PART_BYTES,
  });
  const experiment = simulator.truth.exportable[0];
  if (experiment === undefined) throw new Error('no experiment');
  large = {
    experiment: experiment.id,
    file: simulator.truth.addFile(experiment.id, 'attachment', 'Imaging protocol (v2).pdf', LARGE_FILE_BYTES),
  };
  ({ output: first, uploads: firstUploads } = await runRecordingUploads('run-1'));
});

afterAll(async () => {
  await Promise.all([simulator?.close(), s3rver?.stop()]);
});

describe('file copy into S3 (s3rver, conditional writes)', () => {
  it('copies every requested file SHA-256-identical to what the simulator served', async () => {
    expect(first).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
    const wanted = wantedFiles();
    expect(wanted.length).toBeGreaterThan(1);
    const stored = (await store.list('files/')).map((o) => o.key);
    expect(stored).toEqual(wanted.map((w) => w.key).sort());
    for (const { file, key } of wanted) {
      const body = await store.get(key);
      expect(body?.byteLength, key).toBe(file.size);
      expect(sha256(body ?? new Uint8Array()), key).toBe(sha256(fileBytes(file)));
    }
    expect(simulator.requests.byEndpoint['signed-file']).toBe(wanted.length);
  });

  it('streams a file larger than a part as one multipart upload, completed once and only if absent', () => {
    const key = `${PREFIX}files/experiment_id=${large.experiment}/${large.file.uuid}/Imaging protocol (v2).pdf`;
    expect(firstUploads.filter((upload) => upload.includes(` ${key}`))).toEqual([
      `CreateMultipartUploadCommand ${key}`,
      `CompleteMultipartUploadCommand ${key} (If-None-Match: *)`,
    ]);
  });

  it('records each copy in the files table with its key in the bucket', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pluto-export-s3-files-'));
    try {
      const local = new FolderStore(root);
      for (const { key } of await store.list('')) {
        if (key.startsWith('data/') || key.startsWith('_catalog/')) {
          await local.put(key, (await store.get(key)) ?? new Uint8Array());
        }
      }
      const rows = await queryLakeJson(
        root,
        "select file_id, size_bytes, lake_key from files where copy_status = 'copied' order by file_id",
      );
      expect(rows).toEqual(
        wantedFiles()
          .map(({ file, key }) => ({ file_id: file.uuid, size_bytes: file.size, lake_key: key }))
          .sort((a, b) => (a.file_id < b.file_id ? -1 : 1)),
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a second run asks for no file and uploads nothing under files/', async () => {
    simulator.requests.reset();
    const { output, uploads } = await runRecordingUploads('run-2');
    expect(output.experiments).toMatchObject({ exported: 0, unchanged: simulator.truth.exportable.length });
    expect(simulator.requests.byEndpoint['file-download'] ?? 0).toBe(0);
    expect(simulator.requests.byEndpoint['signed-file'] ?? 0).toBe(0);
    expect(uploads.filter((upload) => upload.includes(` ${PREFIX}files/`))).toEqual([]);
    expect((await store.list('files/')).map((o) => o.key)).toEqual(
      wantedFiles()
        .map((w) => w.key)
        .sort(),
    );
  });
});
