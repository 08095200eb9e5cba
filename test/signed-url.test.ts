/**
 * Plot data answered with `{url}`: followed without the token, CSV and JSON read whole, anything
 * else no table; the body capped after decompression, and a table holding the token refused.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlutoNoTableError, PlutoUnsafeResponseError } from '../functions/core/errors.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import { LosslessNumber } from '../functions/core/pluto/model.js';
import { readSignedTable } from '../functions/core/pluto/signed-url.js';
import { fixedSecret } from './support/secrets.js';

const TOKEN = 'Zq3VwYS81VP7Hb1DX8pPd5khxE3pyIgKpaUnArl6';
const CAP = 64 * 1024;
/** A CSV of about 200 KiB: over the cap as sent. */
const OVERSIZED_CSV = `gene,value\r\n${'GENE_WITH_A_LONG_NAME,1.5\r\n'.repeat(8_000)}`;
/** 8 MiB of CSV that gzip sends in a few KiB: over the cap only once decompressed. */
const EXPANDING_CSV = gzipSync(Buffer.from(`gene,value\r\n${'A,1\r\n'.repeat(2 * 1024 * 1024)}`));

const BODIES: Record<string, [string, string]> = {
  '/table.csv': [
    'text/csv; charset=utf-8',
    'gene,"note, quoted",value\r\nTP53,"says ""hi""\nover two lines",1.5\r\nMYC,,12345678901234567891\r\n',
  ],
  '/table.json': ['application/json', '[{"gene":"TP53","value":1.5},{"gene":"MYC","value":null}]'],
  '/page.json': [
    'application/json',
    '{"count":2,"headers":["gene","value"],"items":[["TP53","MYC"],[1.5,2]]}',
  ],
  '/plot.html': ['text/html', '<html>a plot</html>'],
  '/oversized.csv': ['text/csv', OVERSIZED_CSV],
  '/echo.csv': ['text/csv', `gene,note\r\nTP53,${TOKEN}\r\n`],
  '/escaped.json': ['application/json', `[{"gene":"TP53","note":"\\u005a${TOKEN.slice(1)}"}]`],
};
const bodiesSent: Record<string, number> = {};

let server: Server;
let base: string;
/** Headers of the requests to signed URLs. */
const seen: IncomingHttpHeaders[] = [];
let apiRequests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url.endsWith('/data/?limit=1000&offset=0')) {
      apiRequests++;
      // The Pluto API: answers plot data with a signed URL on this same server.
      const target = url.includes('expanding') ? '/expanding.csv' : '/oversized.csv';
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ url: `${base}${target}` }));
      return;
    }
    seen.push(req.headers);
    if (url === '/expanding.csv') {
      bodiesSent[url] = EXPANDING_CSV.byteLength;
      res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Encoding': 'gzip' });
      res.end(EXPANDING_CSV);
      return;
    }
    const [type, body] = BODIES[url] ?? ['text/plain', 'missing'];
    bodiesSent[url] = Buffer.byteLength(body);
    res.writeHead(body === 'missing' ? 404 : 200, { 'Content-Type': type });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const read = (path: string) =>
  readSignedTable({ url: `${base}${path}` }, 'lab/experiments/PLX1/plots/p/data/', {
    timeoutMs: 5000,
    userAgent: 'pluto-export/test',
    maxBytes: CAP,
    holdsSecret: (text) => text.includes(TOKEN),
  });

describe('a signed URL', () => {
  it('reads CSV whole: quoted commas, doubled quotes, line breaks, empty cells as null, exact big integers', async () => {
    const page = await read('/table.csv');
    expect(page).toMatchObject({ count: 2, rowCount: 2, offset: 0, whole: true });
    expect(page.headers).toEqual(['gene', 'note, quoted', 'value']);
    expect(page.columns).toEqual([
      ['TP53', 'MYC'],
      ['says "hi"\nover two lines', null],
      [1.5, new LosslessNumber('12345678901234567891')],
    ]);
  });

  it('reads JSON as row objects or as a column-major page', async () => {
    expect((await read('/table.json')).columns).toEqual([
      ['TP53', 'MYC'],
      [1.5, null],
    ]);
    const page = await read('/page.json');
    expect(page).toMatchObject({ count: 2, layout: 'columns', whole: true });
    expect(page.columns).toEqual([
      ['TP53', 'MYC'],
      [1.5, 2],
    ]);
  });

  it('names the content type when it is not a table', async () => {
    const error = await read('/plot.html').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlutoNoTableError);
    expect((error as Error).message).toBe(
      'The data of lab/experiments/PLX1/plots/p/data/ is text/html, not a table',
    );
  });

  it('never sends an Authorization header', () => {
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(seen.filter((headers) => 'authorization' in headers)).toEqual([]);
  });

  it('refuses a table holding the API token, sent as is or spelled with JSON escapes, naming no value', async () => {
    for (const path of ['/echo.csv', '/escaped.json']) {
      const error = await read(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PlutoUnsafeResponseError);
      expect((error as Error).message).toBe(
        'The signed URL that Pluto gave for lab/experiments/PLX1/plots/p/data/ served the API token; it was refused and nothing of it was kept',
      );
    }
  });
});

describe('a signed table larger than maxResponseBytes', () => {
  const fetchPlot = (plotId: string) =>
    createPlutoClient({
      baseUrl: base,
      secrets: fixedSecret(TOKEN),
      version: 'test',
      maxResponseBytes: CAP,
      sleep: async () => undefined,
    })
      .getDataPage({ kind: 'results', experimentId: 'PLX1', plotId }, 0, 1000)
      .catch((e: unknown) => e);

  it('is abandoned at the cap as sent, a bad response that names the setting and is not retried', async () => {
    const before = { api: apiRequests, signed: seen.length };
    const error = await fetchPlot('oversized');
    expect(OVERSIZED_CSV.length).toBeGreaterThan(3 * CAP);
    expect(error).toBeInstanceOf(PlutoUnsafeResponseError);
    expect((error as Error).message).toBe(
      `The signed URL that Pluto gave for lab/experiments/PLX1/plots/oversized/data/?limit=1000&offset=0 served more than ${CAP} bytes (setting maxResponseBytes); it was not read further`,
    );
    // One request to the API, one to the signed URL: nothing retried.
    expect({ api: apiRequests - before.api, signed: seen.length - before.signed }).toEqual({
      api: 1,
      signed: 1,
    });
  });

  it('is abandoned at the cap counted after decompression, though a few KiB were sent', async () => {
    const error = await fetchPlot('expanding');
    expect(bodiesSent['/expanding.csv']).toBeLessThan(CAP);
    expect(error).toBeInstanceOf(PlutoUnsafeResponseError);
    expect((error as Error).message).toMatch(/served more than 65536 bytes \(setting maxResponseBytes\)/);
  });
});
