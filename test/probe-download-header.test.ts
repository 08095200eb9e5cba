/**
 * The probe compares a plot's download with its data pages by the download's header line alone:
 * the CSV behind the signed URL is abandoned after its first line, so a download far larger than
 * `maxResponseBytes` is still compared, and a server streaming one sends little of it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import { runProbe } from '../functions/core/probe/probe.js';
import { startSimulator } from '../functions/simulator/index.js';
import { DOWNLOAD_EXTRA_HEADERS } from '../functions/simulator/world.js';
import { fixedSecret } from './support/secrets.js';

const TOKEN = 'Zq3VwYS81VP7Hb1DX8pPd5khxE3pyIgKpaUnArl6';
const HEADER = 'gene,"log2 fold change, shrunk",p_value';
const CHUNK = Buffer.from(`${'GENE_WITH_A_LONG_NAME,1.5,0.01\r\n'.repeat(32 * 1024)}`);
/** 64 chunks of 1 MiB: what the server would send if the client read the body to its end. */
const CHUNKS = 64;

let server: Server;
let base: string;
const written: number[] = [];
let downloadAnswers = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/lab/experiments/PLX1/plots/P1/download/') {
      downloadAnswers++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ url: `${base}/signed/P1.csv` }));
      return;
    }
    // Streamed without Content-Length, each chunk only once the client took the one before.
    const index = written.push(0) - 1;
    res.writeHead(200, { 'Content-Type': 'text/csv' });
    let sent = 0;
    const pump = () => {
      while (!res.destroyed && sent < CHUNKS) {
        const chunk = sent === 0 ? Buffer.concat([Buffer.from(`${HEADER}\r\n`), CHUNK]) : CHUNK;
        sent++;
        written[index] = (written[index] ?? 0) + chunk.byteLength;
        if (sent === CHUNKS) res.end(chunk);
        else if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const client = () =>
  createPlutoClient({
    baseUrl: `${base}/`,
    secrets: fixedSecret(TOKEN),
    version: 'test',
    maxResponseBytes: 4 * 1024 * 1024,
  });

describe("a download's header line", () => {
  it('is all the probe reads of a signed CSV: the answer holds the first line, and the server sent a fraction of the body', async () => {
    const answer = await client().getSignedFirstLine(`${base}/signed/P1.csv`, 'the download of P1');
    expect(answer).toMatchObject({ status: 200, contentType: 'text/csv', text: HEADER });
    expect(written).toHaveLength(1);
    expect(written[0]).toBeLessThan((CHUNKS * CHUNK.byteLength) / 4);
  });

  it('is all auto reads to compare: one download answer, one signed request, the body abandoned', async () => {
    written.length = 0;
    downloadAnswers = 0;
    const headers = await client().getDownloadHeaders({
      kind: 'results',
      experimentId: 'PLX1',
      plotId: 'P1',
    });
    expect(headers).toEqual(['gene', 'log2 fold change, shrunk', 'p_value']);
    expect(downloadAnswers).toBe(1);
    expect(written).toHaveLength(1);
    expect(written[0]).toBeLessThan((CHUNKS * CHUNK.byteLength) / 4);
  });

  it('compares downloads larger than maxResponseBytes: each asked once, none read whole', async () => {
    const simulator = await startSimulator({
      seed: 31,
      experiments: 3,
      genes: [2000, 2400],
      samples: [4, 5],
      variants: ['download-more-columns'],
    });
    try {
      const probing = createPlutoClient({
        baseUrl: simulator.url,
        secrets: fixedSecret(simulator.truth.token),
        version: 'test',
        maxResponseBytes: 64 * 1024,
      });
      const report = await runProbe(probing, { sample: 3 });
      const de = simulator.truth.exportable
        .slice(0, 3)
        .flatMap((e) => e.plots)
        .filter((p) => p.analysis_type === 'differential_expression');
      expect(de.length).toBeGreaterThan(0);
      const check = report.checks.find((c) => c.assumption.includes('has no more columns than'));
      expect(check).toMatchObject({
        verdict: 'DIFFERENT',
        seen: `volcano_plot_v2: download ${5 + DOWNLOAD_EXTRA_HEADERS.length} columns, data 5 ×${de.length} (auto reads the download)`,
      });
      const withDownload = simulator.truth.exportable.slice(0, 3).reduce((n, e) => n + e.downloads.size, 0);
      expect(simulator.requests.byEndpoint['signed-download']).toBe(withDownload);
    } finally {
      await simulator.close();
    }
  });
});
