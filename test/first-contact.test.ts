/**
 * A new user's first mistakes, each against a real server on 127.0.0.1 or a real folder, through
 * the CLI as a user runs it: the answer comes at the first request, in one line, with the right
 * exit code.
 */

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';
import { snapshotFiles } from './support/lake-files.js';

const TOKEN = 'a'.repeat(40);
let lake: string;
let server: Server | undefined;
let requests: string[] = [];

beforeAll(async () => {
  lake = await mkdtemp(join(tmpdir(), 'pluto-first-contact-'));
});
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
  requests = [];
});
afterAll(async () => {
  await rm(lake, { recursive: true, force: true });
});

/** A server standing where Pluto should be; it records each request path. */
async function answering(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const exportFrom = (apiUrl: string, ...more: string[]) =>
  runCli(['export', '--api-url', apiUrl, '--out', lake, ...more], { PLUTO_API_TOKEN: TOKEN });

describe('first contact with a server that is not Pluto', () => {
  it('exits 2 after one request when a web page answers, naming its status, type and title', async () => {
    const url = await answering((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><head><title>Pluto Bio | Home</title></head><body>hi</body></html>');
    });
    const result = await exportFrom(url);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `pluto-export: ${url} is not Pluto's API: lab/projects/?limit=1000&offset=0 answered 200 (text/html, "Pluto Bio | Home") instead of Pluto's JSON; check the API URL (Pluto's is https://api.pluto.bio/)`,
    );
    expect(requests).toEqual(['/lab/projects/?limit=1000&offset=0']);
    expect(await snapshotFiles(lake)).toEqual({});
  });

  it.each([
    { what: 'the list endpoint is a 404, whatever its type', status: 404, type: 'application/json' },
    { what: 'JSON comes back as another content type', status: 200, type: 'text/plain' },
  ])('exits 2 after one request when $what', async ({ status, type }) => {
    const url = await answering((_req, res) => {
      res.writeHead(status, { 'Content-Type': type });
      res.end('{"count":0,"items":[],"detail":"Not found."}');
    });
    const result = await exportFrom(url);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`answered ${status} (${type}) instead of Pluto's JSON`);
    expect(requests).toHaveLength(1);
  });

  it('exits 2 when https:// points at a port that speaks plain HTTP', async () => {
    const url = (await answering((_req, res) => res.end('{}'))).replace('http://', 'https://');
    const result = await exportFrom(url);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `pluto-export: ${url} does not speak HTTPS (the TLS handshake got a plain answer): check the API URL; if that port serves plain HTTP, use http://`,
    );
  });
});

describe('first contact with a Pluto that fails', () => {
  it('shows each retry of a 500 and gives up with exit 1 after the fixed number of attempts', async () => {
    const url = await answering((_req, res) => {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end('{"detail":"Internal error."}');
    });
    // Attempts of 2 s each: a loaded machine's slow first connection must not turn a 500 into a timeout.
    const result = await exportFrom(url, '--connect-timeout', '12');
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    const answer = 'Pluto answered 500 for lab/projects/?limit=1000&offset=0: Internal error.';
    expect(lines).toEqual([
      `${answer}: retrying (2 of 4) after 400 ms`,
      `${answer}: retrying (3 of 4) after 800 ms`,
      `${answer}: retrying (4 of 4) after 1.6 s`,
      `pluto-export: Pluto did not answer lab/projects/?limit=1000&offset=0 after 4 attempt(s): ${answer}; try again later`,
    ]);
    expect(requests).toHaveLength(4);
  });

  it('times out each attempt at a sixth of the budget and gives up with exit 1', async () => {
    const url = await answering(() => {});
    const result = await exportFrom(url, '--connect-timeout', '6');
    expect(result.code).toBe(1);
    const timeout = 'Pluto did not answer lab/projects/?limit=1000&offset=0 within 1000 ms';
    expect(result.stderr).toContain(`${timeout}: retrying (2 of 4) after 200 ms\n`);
    expect(result.stderr).toContain(`${timeout}: retrying (4 of 4) after 800 ms\n`);
    expect(result.stderr).toContain(`after 4 attempt(s): ${timeout}; try again later\n`);
  });

  it('rejects a --connect-timeout that is not a positive number of seconds', async () => {
    const result = await exportFrom('http://127.0.0.1:9/', '--connect-timeout', '0');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^pluto-export: --connect-timeout: /);
  });
});

describe('retries after first contact', () => {
  let simulator: RunningSimulator;
  let failed = 0;
  beforeAll(async () => {
    simulator = await startSimulator({
      seed: 3,
      experiments: 2,
      genes: [40, 40],
      samples: [3, 3],
      faults: ({ endpoint }) => {
        if (endpoint !== 'assay-data' || failed >= 1) return undefined;
        failed++;
        return { kind: 'status', status: 503, body: { detail: 'Try later.' } };
      },
    });
  });
  afterAll(() => simulator.close());

  it('are shown on the terminal as they happen, and the run still commits', async () => {
    const result = await runCli(['export', '--api-url', simulator.url, '--out', lake], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(result.code).toBe(0);
    expect(failed).toBe(1);
    expect(result.stderr).toMatch(
      /Pluto answered 503 for lab\/experiments\/\w+\/assay-data\/\?limit=\d+&offset=\d+: Try later\.: retrying \(attempt 2\) after \d+ ms\n/,
    );
  });
});

describe('an --out folder that cannot hold a lake', () => {
  const refused = (out: string, launcher: readonly string[] = []) =>
    runCli(
      ['export', '--api-url', 'http://127.0.0.1:9/', '--out', out],
      { PLUTO_API_TOKEN: TOKEN },
      launcher,
    );

  it('exits 2 at once when --out is a file, or a file stands in its path, and leaves the file alone', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'pluto-out-file-'));
    const file = join(folder, 'notes.txt');
    await writeFile(file, 'mine');
    const direct = await refused(file);
    expect(direct.code).toBe(2);
    expect(direct.stderr.trim()).toBe(`pluto-export: --out ${file} is a file, not a folder`);
    const below = await refused(join(file, 'lake'));
    expect(below.code).toBe(2);
    expect(below.stderr.trim()).toBe(
      `pluto-export: --out ${join(file, 'lake')}: ${file} is a file, not a folder`,
    );
    expect(await readdir(folder)).toEqual(['notes.txt']);
    expect(await readFile(file, 'utf8')).toBe('mine');
    await rm(folder, { recursive: true });
  });

  it('exits 2 at once when --out is inside /proc', async () => {
    const result = await refused('/proc/pluto-lake');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'pluto-export: --out /proc/pluto-lake is on proc, a kernel pseudo-filesystem that cannot hold a lake',
    );
  });

  it('exits 2 at once when --out is on a read-only filesystem', async () => {
    const mountPoint = await mkdtemp(join(tmpdir(), 'pluto-readonly-'));
    // A private mount namespace: the read-only mount exists only for the CLI process.
    const readOnly = [
      'unshare',
      '--mount',
      'sh',
      '-c',
      `mount -t tmpfs -o ro,size=1m tmpfs ${mountPoint} && exec "$@"`,
      'sh',
    ];
    const result = await refused(join(mountPoint, 'lake'), readOnly);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `pluto-export: --out ${join(mountPoint, 'lake')} is on a read-only filesystem`,
    );
    await rm(mountPoint, { recursive: true });
  });

  it('exits 2 at once when the user may not write to --out', async () => {
    const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const result = await refused(join(lake, 'lake'), asNobody);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `pluto-export: --out ${join(lake, 'lake')} is not writable (permission denied)`,
    );
  });
});

describe('an s3:// --out without AWS configuration', () => {
  const noAws = {
    PLUTO_API_TOKEN: TOKEN,
    AWS_REGION: undefined,
    AWS_DEFAULT_REGION: undefined,
    AWS_PROFILE: undefined,
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_SESSION_TOKEN: undefined,
    AWS_CONFIG_FILE: join(tmpdir(), 'pluto-no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(tmpdir(), 'pluto-no-aws-credentials'),
    // Not on EC2: nothing may be asked of an instance metadata address.
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const toS3 = (env: Record<string, string | undefined>) =>
    runCli(['export', '--api-url', 'http://127.0.0.1:9/', '--out', 's3://pluto-lake/exports'], env);

  it('exits 2 at once naming AWS_REGION when no region is configured', async () => {
    const result = await toS3(noAws);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'pluto-export: s3://pluto-lake/exports/: no AWS region is configured: set AWS_REGION (or a region for AWS_PROFILE)',
    );
  });

  it('exits 2 at once naming the variables to set when there are no credentials', async () => {
    const result = await toS3({ ...noAws, AWS_REGION: 'eu-west-1' });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'pluto-export: s3://pluto-lake/exports/: no AWS credentials (Could not load credentials from any providers): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  });
});
