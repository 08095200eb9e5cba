/**
 * Both signed-URL paths open the URL the same way (`openSigned`: no token, the exporter's user
 * agent, the headers bounded) and differ only in the body: a table is one body bounded as a whole,
 * a file streams for as long as it keeps arriving.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlutoUpstreamError } from '../functions/core/errors.js';
import { downloadSigned } from '../functions/core/pluto/file-download.js';
import { fetchSigned } from '../functions/core/pluto/signed-url.js';

const STEPS = 10;
const STEP_BYTES = 1000;
/** Longer than a bound's budget in all: the body of /slow-body takes STEPS × STEP_MS. */
const STEP_MS = 60;
const BOUND_MS = 200;

let server: Server;
let base: string;
const seen: IncomingHttpHeaders[] = [];
const timers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    if (req.url === '/slow-headers') {
      const timer = setTimeout(() => res.end('late'), 10 * BOUND_MS);
      timers.add(timer);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/csv' });
    let sent = 0;
    const step = () => {
      if (res.destroyed) return;
      sent++;
      if (sent === STEPS) res.end('x'.repeat(STEP_BYTES));
      else {
        res.write('x'.repeat(STEP_BYTES));
        const timer = setTimeout(step, STEP_MS);
        timers.add(timer);
      }
    };
    step();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const timer of timers) clearTimeout(timer);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const tableOf = (path: string) =>
  fetchSigned(`${base}${path}`, 'plot P1', {
    timeoutMs: BOUND_MS,
    userAgent: 'pluto-export/test',
    maxBytes: 1e6,
  });

async function fileOf(path: string): Promise<number> {
  let bytes = 0;
  for await (const chunk of downloadSigned(`${base}${path}`, {
    what: 'file F1',
    userAgent: 'pluto-export/test',
    timeoutMs: BOUND_MS,
    maxBytes: 1e6,
    expectedBytes: STEPS * STEP_BYTES,
  })) {
    bytes += chunk.byteLength;
  }
  return bytes;
}

describe('a signed URL', () => {
  it('whose headers do not come within the bound fails both paths, retryable, naming what Pluto gave it for', async () => {
    await expect(tableOf('/slow-headers')).rejects.toThrow(
      new PlutoUpstreamError('The signed URL that Pluto gave for plot P1 did not answer'),
    );
    await expect(fileOf('/slow-headers')).rejects.toThrow(
      new PlutoUpstreamError('The signed URL that Pluto gave for file F1 did not answer'),
    );
  });

  it('whose body takes longer than the bound fails as a table, and streams whole as a file', async () => {
    await expect(tableOf('/slow-body')).rejects.toThrow(
      new PlutoUpstreamError('The signed URL that Pluto gave for plot P1 did not answer'),
    );
    expect(await fileOf('/slow-body')).toBe(STEPS * STEP_BYTES);
  });

  it('is asked without a token and with the user agent, on both paths', () => {
    expect(seen.length).toBe(4);
    for (const headers of seen) {
      expect(headers.authorization).toBeUndefined();
      expect(headers['user-agent']).toBe('pluto-export/test');
    }
  });
});
