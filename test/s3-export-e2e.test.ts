/**
 * The whole export into S3 (s3rver over HTTP): simulator -> workflow -> S3Store with its catalog
 * in the same bucket; the lake is then downloaded and read with DuckDB and compared with the
 * simulator's ground truth.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompleteMultipartUploadCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { S3Store } from '../functions/adapters/s3-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import { LosslessNumber } from '../functions/core/pluto/model.js';
import type { ObjectStore } from '../functions/core/ports.js';
import { CODE_VERSION } from '../functions/core/version.js';
import type { FinalizeOutput } from '../functions/core/workflow/messages.js';
import { runLocalExport } from '../functions/local/local-export.js';
import { type RunningSimulator, SIMULATOR_TOKEN, startSimulator } from '../functions/simulator/index.js';
import { queryLake } from './support/lake-query.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';
import { fixedSecret } from './support/secrets.js';

const BUCKET = 'acme-data-lake';
const PREFIX = 'exports/pluto/';
const RUN_ID = 'run-e2e-1';
const MULTIPART_THRESHOLD = 4 * 1024;
const multipartKeys = new Set<string>();
const putKeys = new Set<string>();

let sim: RunningSimulator;
let s3rver: RunningS3rver;
let store: S3Store;

/** Sums of doubles differ in the last bits with the order of addition. */
function expectSum(actual: unknown, expected: number | undefined): void {
  expect(typeof actual).toBe('number');
  expect(Math.abs((actual as number) - (expected ?? Number.NaN))).toBeLessThanOrEqual(
    1e-9 * Math.max(1, Math.abs(expected ?? 0)),
  );
}

const finite = (cell: unknown): number | null =>
  typeof cell === 'number' && Number.isFinite(cell) ? cell : null;

function exportRun(runId: string): Promise<FinalizeOutput> {
  return runLocalExport({
    input: { runId },
    store,
    catalog: new StoreCatalog(store),
    pluto: createPlutoClient({
      baseUrl: sim.url,
      secrets: fixedSecret(SIMULATOR_TOKEN),
      version: CODE_VERSION,
      pageSize: 50,
    }),
    settings: {
      rowsPerPart: 400,
      pageSize: 40,
      rowGroupRows: 131_072,
      prefetchPages: 1,
      leaseTtlMs: 600_000,
      supersededRunGraceMs: 7 * 86_400_000,
      codeVersion: CODE_VERSION,
    },
    experimentConcurrency: 2,
    slotConcurrency: 2,
    retryDelayScale: 0,
  });
}

/** Every object of the lake with its SHA-256: what a run wrote, byte for byte. */
async function snapshot(lake: ObjectStore): Promise<Map<string, string>> {
  const objects = new Map<string, string>();
  for (const { key } of await lake.list('')) {
    const body = (await lake.get(key)) ?? new Uint8Array();
    objects.set(key, createHash('sha256').update(body).digest('hex'));
  }
  return objects;
}

async function download(lake: ObjectStore, root: string): Promise<void> {
  const local = new FolderStore(root);
  for (const { key } of await lake.list('')) {
    if (key.startsWith('data/') || key.startsWith('_catalog/'))
      await local.put(key, (await lake.get(key)) ?? new Uint8Array());
  }
}

describe('export into S3 (s3rver)', () => {
  let first: FinalizeOutput;
  let root: string;

  beforeAll(async () => {
    [sim, s3rver] = await Promise.all([
      startSimulator({ seed: 7, experiments: 3, genes: [150, 250], samples: [4, 6] }),
      startS3rver([BUCKET]),
    ]);
    const client = s3rver.client();
    const send = vi.spyOn(client, 'send');
    // A small threshold, so that most parts go up as multipart uploads.
    store = new S3Store({ bucket: BUCKET, prefix: PREFIX }, client, {
      multipartThresholdBytes: MULTIPART_THRESHOLD,
      partSizeBytes: 2 * 1024,
      listPageSize: 25,
    });
    first = await exportRun(RUN_ID);
    for (const [command] of send.mock.calls) {
      const key = (command.input as { Key?: string }).Key ?? '';
      if (command instanceof CompleteMultipartUploadCommand) multipartKeys.add(key);
      if (command instanceof PutObjectCommand) putKeys.add(key);
    }
    send.mockRestore();
    root = await mkdtemp(join(tmpdir(), 'pluto-export-s3-e2e-'));
    await download(store, root);
  });

  afterAll(async () => {
    await Promise.all([sim?.close(), s3rver?.stop(), root && rm(root, { recursive: true, force: true })]);
  });

  it('commits the run: every exportable experiment exported, the forbidden one skipped', () => {
    expect(sim.truth.exportable).toHaveLength(2);
    expect(first).toEqual({
      runId: RUN_ID,
      status: 'committed',
      manifestKey: `runs/${RUN_ID}/manifest.json`,
      experiments: { exported: 2, partial: 0, unchanged: 0, skipped: 1, failed: 0 },
    });
  });

  it('lays the lake out under the prefix, several parts per dataset', async () => {
    const root = new S3Store({ bucket: BUCKET, prefix: '' }, s3rver.client());
    const keys = (await root.list('')).map((o) => o.key);
    expect(keys.every((key) => key.startsWith(PREFIX))).toBe(true);
    const [experiment] = sim.truth.exportable;
    const assayParts = keys.filter((key) =>
      key.startsWith(`${PREFIX}data/assay/experiment_id=${experiment?.id}/run_id=${RUN_ID}/part-assay-`),
    );
    const width = (experiment?.assay.headers.length ?? 0) - 1;
    expect(assayParts).toHaveLength(Math.ceil((experiment?.assay.rowCount ?? 0) / Math.floor(400 / width)));
    expect(keys).toContain(`${PREFIX}runs/${RUN_ID}/manifest.json`);

    const parts = (await root.list(`${PREFIX}data/`)).filter((o) => o.key.endsWith('.parquet'));
    const large = parts.filter((o) => o.size > MULTIPART_THRESHOLD).map((o) => o.key);
    expect(large.length).toBeGreaterThan(parts.length / 2);
    expect(large.filter((key) => !multipartKeys.has(key) || putKeys.has(key))).toEqual([]);
    expect(parts.filter((o) => o.size <= MULTIPART_THRESHOLD).every((o) => putKeys.has(o.key))).toBe(true);
  });

  it('holds every assay cell: counts, numeric sums and non-numeric texts per experiment', async () => {
    const expected = sim.truth.exportable
      .map((e) => {
        let rows = 0;
        let sum = 0;
        let texts = 0;
        for (let i = 0; i < e.assay.rowCount; i++) {
          for (const cell of e.assay.row(i).slice(1)) {
            rows++;
            sum += finite(cell) ?? 0;
            if (typeof cell === 'string') texts++;
          }
        }
        return { experiment_id: e.id, n: rows, s: sum, t: texts };
      })
      .sort((a, b) => (a.experiment_id < b.experiment_id ? -1 : 1));

    const rows = await queryLake(
      root,
      'SELECT experiment_id, count(*) AS n, sum(value) AS s, count(value_text) AS t FROM assay GROUP BY 1 ORDER BY 1',
    );

    expect(rows.map(({ s: _, ...rest }) => rest)).toEqual(expected.map(({ s: _, ...rest }) => rest));
    rows.forEach((row, i) => {
      expectSum(row.s, expected[i]?.s);
    });
  });

  it('holds every sample attribute, its numbers and the barcodes beyond 2^53 as exact text', async () => {
    const expected = sim.truth.exportable
      .map((e) => {
        let rows = 0;
        let numbers = 0;
        let sum = 0;
        const barcodes: string[] = [];
        for (let i = 0; i < e.samples.rowCount; i++) {
          e.samples
            .row(i)
            .slice(1)
            .forEach((cell, c) => {
              rows++;
              if (cell instanceof LosslessNumber) barcodes.push(`${e.samples.row(i)[0]}=${cell.text}`);
              else if (finite(cell) !== null) {
                numbers++;
                sum += finite(cell) ?? 0;
              }
              expect(e.samples.headers[c + 1] === 'library_barcode').toBe(cell instanceof LosslessNumber);
            });
        }
        return { experiment_id: e.id, n: rows, k: numbers, s: sum, barcodes: barcodes.sort().join(',') };
      })
      .sort((a, b) => (a.experiment_id < b.experiment_id ? -1 : 1));

    const rows = await queryLake(
      root,
      `SELECT experiment_id, count(*) AS n,
              count(value_number) FILTER (WHERE attribute <> 'library_barcode') AS k,
              sum(value_number) FILTER (WHERE attribute <> 'library_barcode') AS s,
              string_agg(sample_id || '=' || value, ',' ORDER BY sample_id || '=' || value)
                FILTER (WHERE attribute = 'library_barcode') AS barcodes
         FROM samples GROUP BY 1 ORDER BY 1`,
    );

    expect(rows.map(({ s: _, ...rest }) => rest)).toEqual(expected.map(({ s: _, ...rest }) => rest));
    rows.forEach((row, i) => {
      expectSum(row.s, expected[i]?.s);
    });
  });

  it('holds every result cell and one typed differential_expression row per DE result row', async () => {
    const results: { plot_id: string; n: number; s: number }[] = [];
    const de: { plot_id: string; n: number; lfc: number }[] = [];
    for (const e of sim.truth.exportable) {
      for (const [plotId, data] of e.results) {
        let n = 0;
        let s = 0;
        let lfc = 0;
        const lfcColumn = data.headers.indexOf('Log2_Fold_Change');
        for (let i = 0; i < data.rowCount; i++) {
          const row = data.row(i);
          for (const cell of row.slice(1)) {
            n++;
            s += finite(cell) ?? 0;
          }
          if (lfcColumn >= 0) lfc += finite(row[lfcColumn]) ?? 0;
        }
        results.push({ plot_id: plotId, n, s });
        if (lfcColumn >= 0) de.push({ plot_id: plotId, n: data.rowCount, lfc });
      }
    }
    const byPlot = (a: { plot_id: string }, b: { plot_id: string }) => (a.plot_id < b.plot_id ? -1 : 1);

    const resultRows = await queryLake(
      root,
      'SELECT plot_id, count(*) AS n, sum(value) AS s FROM results GROUP BY 1 ORDER BY 1',
    );
    const deRows = await queryLake(
      root,
      'SELECT plot_id, count(*) AS n, sum(log2_fold_change) AS lfc FROM differential_expression GROUP BY 1 ORDER BY 1',
    );

    expect(resultRows.map((r) => [r.plot_id, r.n])).toEqual(
      results.sort(byPlot).map((r) => [r.plot_id, r.n]),
    );
    resultRows.forEach((row, i) => {
      expectSum(row.s, results[i]?.s);
    });
    expect(deRows.map((r) => [r.plot_id, r.n])).toEqual(de.sort(byPlot).map((r) => [r.plot_id, r.n]));
    deRows.forEach((row, i) => {
      expectSum(row.lfc, de[i]?.lfc);
    });
  });

  it('records the experiments, their plots and the export log', async () => {
    const experiments = await queryLake(
      root,
      'SELECT experiment_id, name, sample_rows, assay_rows, run_id FROM experiments ORDER BY 1',
    );
    expect(experiments).toEqual(
      [...sim.truth.exportable]
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map((e) => ({
          experiment_id: e.id,
          name: e.metadata.name,
          sample_rows: e.samples.rowCount,
          assay_rows: e.assay.rowCount,
          run_id: RUN_ID,
        })),
    );
    const plots = await queryLake(root, 'SELECT count(*) AS n FROM plots');
    expect(plots).toEqual([{ n: sim.truth.exportable.reduce((sum, e) => sum + e.plots.length, 0) }]);
    const log = await queryLake(
      root,
      "SELECT experiment_id, status FROM export_log WHERE dataset = 'experiment' OR status = 'skipped' ORDER BY 1",
    );
    const forbidden = sim.truth.forbiddenExperimentIds[0];
    expect(log).toEqual(
      sim.truth.experiments
        .map((e) => ({ experiment_id: e.id, status: e.id === forbidden ? 'skipped' : 'exported' }))
        .sort((a, b) => (a.experiment_id < b.experiment_id ? -1 : 1)),
    );
  });

  it('writes nothing when the same run is started again', async () => {
    const before = await snapshot(store);

    const again = await exportRun(RUN_ID);

    expect(again).toEqual(first);
    expect(await snapshot(store)).toEqual(before);
  });
});
