/** Plot data answered with `{url}`: followed without the token, CSV and JSON read whole, anything else no table. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlutoNoTableError } from '../functions/core/errors.js';
import { LosslessNumber } from '../functions/core/pluto/model.js';
import { readSignedTable } from '../functions/core/pluto/signed-url.js';

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
};

let server: Server;
let base: string;
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    const [type, body] = BODIES[req.url ?? ''] ?? ['text/plain', 'missing'];
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
});
