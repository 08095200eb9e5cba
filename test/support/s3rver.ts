import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';

export interface RunningS3rver {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** A client configured as s3rver needs: path style, checksums only when required. */
  client(): S3Client;
  stop(): Promise<void>;
}

const LAUNCHER = new URL('./s3rver-launcher.cjs', import.meta.url);

export interface S3rverOptions {
  /**
   * Conditional writes and deletes as Amazon S3 answers them, atomically: `If-None-Match: *` on a
   * taken key and `If-Match` with another ETag are 412 PreconditionFailed, `If-Match` on a missing
   * key 404 NoSuchKey. s3rver itself ignores both headers.
   */
  readonly conditionalWrites?: boolean;
  /** With `conditionalWrites`: answer `If-Match` on a missing key 412, as some S3-compatible stores do. */
  readonly ifMatchMissingPreconditionFailed?: boolean;
}

/** s3rver in a child process (it needs `--openssl-legacy-provider`), on a fresh folder, with `buckets` created. */
export async function startS3rver(
  buckets: readonly string[],
  options: S3rverOptions = {},
): Promise<RunningS3rver> {
  const directory = await mkdtemp(join(tmpdir(), 'pluto-export-s3rver-'));
  const flags = [
    ...(options.conditionalWrites === true ? ['--conditional-writes'] : []),
    ...(options.ifMatchMissingPreconditionFailed === true ? ['--if-match-missing=412'] : []),
  ];
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', LAUNCHER.pathname, directory, ...flags, ...buckets],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code} before listening`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  return {
    endpoint,
    client: () => {
      const client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      clients.push(client);
      return client;
    },
    stop: async () => {
      for (const client of clients) client.destroy();
      await stopChild(child);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.stdin?.end();
  });
}
