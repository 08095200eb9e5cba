import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type JS } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { TABLES } from '../functions/core/contract.js';
import { ObjectConflictError, StoreError } from '../functions/core/errors.js';
import { partKey, receiptKey } from '../functions/core/layout.js';
import { TableRows } from '../functions/core/melt.js';
import type { DataPage, DatasetRef } from '../functions/core/pluto/model.js';
import type { ObjectStore, PlutoApi } from '../functions/core/ports.js';
import { prefetched } from '../functions/core/prefetch.js';
import { PartStream } from '../functions/core/publish-part.js';
import { headersDigestOf, sha256 } from '../functions/core/records.js';
import { exportSettings } from '../functions/core/settings.js';
import type { StepDeps } from '../functions/core/workflow/deps.js';
import { exportSlot } from '../functions/core/workflow/export-slot.js';
import type { ExportSlotInput } from '../functions/core/workflow/messages.js';
import { FaultyStore } from './support/faulty-store.js';

const RUN = 'run-stream';
const EXPERIMENT = 'PLX000001';
const GENES = 2_500;
const SAMPLES = 8;
const PAGE = 300;
const HEADERS = ['gene_symbol', ...Array.from({ length: SAMPLES }, (_, s) => `S${s + 1}`)];
const cellValue = (row: number, sample: number) => row * 1000 + sample + 0.5;

let dir: string;
let folders = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'streaming-slot-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** DuckDB reading the part files themselves: a fresh in-memory database per question. */
async function sql(query: string): Promise<Record<string, JS>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const connection = await instance.connect();
    try {
      return (await connection.runAndReadAll(query)).getRowObjectsJS();
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

interface FakeAssay {
  readonly pluto: PlutoApi;
  /** Offsets of the data page requests, in the order they were made. */
  readonly requested: number[];
}

/**
 * Pluto serving one assay of GENES rows × SAMPLES samples. `brokenAt`: the page at that offset
 * carries a cell no table can hold; `driftAt`: the page at that offset reports one more row.
 */
function fakeAssay(options: { brokenAt?: number; driftAt?: number } = {}): FakeAssay {
  const requested: number[] = [];
  const unsupported = async () => {
    throw new Error('not used by ExportSlot');
  };
  const pluto: PlutoApi = {
    listProjects: unsupported as never,
    listProjectExperiments: unsupported as never,
    listExperiments: unsupported as never,
    getExperiment: unsupported,
    getProject: unsupported,
    getAnalysis: unsupported,
    listFiles: unsupported,
    downloadFile: unsupported as never,
    listPlots: unsupported as never,
    getDownloadHeaders: unsupported,
    getQcReport: unsupported,
    async getDataPage(_ref: DatasetRef, offset: number, limit: number): Promise<DataPage> {
      requested.push(offset);
      const rows = Math.max(0, Math.min(limit, GENES - offset));
      const columns: unknown[][] = [Array.from({ length: rows }, (_, i) => `GENE${offset + i}`)];
      for (let s = 0; s < SAMPLES; s++) {
        columns.push(Array.from({ length: rows }, (_, i) => cellValue(offset + i, s)));
      }
      if (offset === options.brokenAt) (columns[1] as unknown[])[0] = { nested: true };
      const count = offset === options.driftAt ? GENES + 1 : GENES;
      return { count, headers: HEADERS, offset, rowCount: rows, columns, layout: 'rows' };
    },
  };
  return { pluto, requested };
}

const SLOT_INPUT: ExportSlotInput = {
  runId: RUN,
  experimentId: EXPERIMENT,
  slot: {
    dataset: 'assay',
    kind: 'assay',
    slot: 0,
    offset: 0,
    limit: GENES,
    expectedCount: GENES,
    headersDigest: headersDigestOf(HEADERS),
  },
};
const PART = partKey('assay', EXPERIMENT, RUN, 'assay', 0);

function depsFor(
  store: ObjectStore,
  pluto: PlutoApi,
  settings: { rowGroupRows?: number; prefetchPages?: number } = {},
): StepDeps {
  return {
    store,
    catalog: new StoreCatalog(store),
    pluto,
    clock: { now: () => new Date('2026-12-02T06:00:00Z') },
    settings: exportSettings({ pageSize: PAGE, rowGroupRows: 3_000, ...settings }),
  };
}

async function newFolder(): Promise<{ root: string; store: FolderStore }> {
  const root = join(dir, `lake-${folders++}`);
  return { root, store: new FolderStore(root) };
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}

describe('ExportSlot streams its part', () => {
  it('writes one part of several row groups that DuckDB reads back cell for cell', async () => {
    const { root, store } = await newFolder();
    const receipt = await exportSlot(SLOT_INPUT, depsFor(store, fakeAssay().pluto));

    const cells = GENES * SAMPLES;
    const file = join(root, PART);
    const bytes = new Uint8Array(await readFile(file));
    expect(receipt.apiRows).toBe(GENES);
    expect(receipt.parts).toEqual([
      {
        table: 'assay',
        key: PART,
        rows: cells,
        bytes: bytes.byteLength,
        sha256: sha256(bytes),
        schemaFingerprint: expect.any(String),
      },
    ]);

    const [totals] = await sql(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT feature_id)::INTEGER AS genes, sum(value) AS total,
              min(row_number)::INTEGER AS first, max(row_number)::INTEGER AS last
       FROM read_parquet('${file}')`,
    );
    let total = 0;
    for (let g = 0; g < GENES; g++) for (let s = 0; s < SAMPLES; s++) total += cellValue(g, s);
    expect(totals).toEqual({ n: cells, genes: GENES, total, first: 0, last: GENES - 1 });
    const sample = await sql(
      `SELECT row_number::INTEGER AS row_number, feature_id, feature_kind, sample_id, value, value_text
       FROM read_parquet('${file}') WHERE feature_id IN ('GENE0', 'GENE1234', 'GENE2499') AND sample_id IN ('S1', 'S8')
       ORDER BY row_number, sample_id`,
    );
    expect(sample).toEqual(
      [0, 1234, 2499].flatMap((row) =>
        [0, 7].map((s) => ({
          row_number: row,
          feature_id: `GENE${row}`,
          feature_kind: 'gene_symbol',
          sample_id: `S${s + 1}`,
          value: cellValue(row, s),
          value_text: null,
        })),
      ),
    );

    // 20,000 cells in row groups of 3,000: six full ones and the rest; each with its own statistics.
    const groups = await sql(
      `SELECT row_group_id::INTEGER AS id, row_group_num_rows::INTEGER AS rows,
              stats_min_value AS min, stats_max_value AS max
       FROM parquet_metadata('${file}') WHERE path_in_schema = 'row_number' ORDER BY row_group_id`,
    );
    expect(groups.map((g) => g.rows)).toEqual([3000, 3000, 3000, 3000, 3000, 3000, 2000]);
    expect(groups.map((g) => [g.min, g.max])).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => [String(i * 375), String(Math.min(GENES - 1, i * 375 + 374))]),
    );
    const strings = await sql(
      `SELECT DISTINCT path_in_schema AS column_name, encodings, dictionary_page_offset IS NOT NULL AS dictionary
       FROM parquet_metadata('${file}') WHERE path_in_schema IN ('feature_id', 'sample_id') ORDER BY 1`,
    );
    expect(strings).toEqual([
      { column_name: 'feature_id', encodings: expect.stringContaining('DICTIONARY'), dictionary: true },
      { column_name: 'sample_id', encodings: expect.stringContaining('DICTIONARY'), dictionary: true },
    ]);
  });

  it('writes a slot without rows as a part DuckDB reads with the contract columns', async () => {
    const { root, store } = await newFolder();
    const empty: ExportSlotInput = { ...SLOT_INPUT, slot: { ...SLOT_INPUT.slot, limit: 0 } };
    const pluto: PlutoApi = {
      ...fakeAssay().pluto,
      getDataPage: async (_ref, offset) => ({
        count: 0,
        headers: HEADERS,
        offset,
        rowCount: 0,
        columns: HEADERS.map(() => []),
        layout: 'rows',
      }),
    };
    const receipt = await exportSlot(
      { ...empty, slot: { ...empty.slot, expectedCount: 0 } },
      depsFor(store, pluto),
    );

    expect(receipt.parts.map((p) => p.rows)).toEqual([0]);
    const columns = await sql(
      `DESCRIBE SELECT * FROM read_parquet('${join(root, PART)}', hive_partitioning = false)`,
    );
    expect(columns.map((c) => c.column_name)).toEqual(TABLES.assay.columns.map((c) => c.name));
    expect(await sql(`SELECT count(*)::INTEGER AS n FROM read_parquet('${join(root, PART)}')`)).toEqual([
      { n: 0 },
    ]);
  });

  it('keeps the part an earlier attempt stored, and refuses one with other rows', async () => {
    const { store } = await newFolder();
    const first = await exportSlot(SLOT_INPUT, depsFor(store, fakeAssay().pluto));
    await store.delete(receiptKey(RUN, EXPERIMENT, 'assay', 0));

    const again = await exportSlot(SLOT_INPUT, depsFor(store, fakeAssay().pluto, { rowGroupRows: 7_000 }));
    expect(again.parts).toEqual(first.parts);

    const other = new PartStream(store, PART, 'assay', 1_000);
    const rows = new TableRows('assay');
    rows.appendRow({
      row_number: 0,
      feature_id: 'GENE0',
      feature_kind: 'gene_symbol',
      sample_id: 'S1',
      value: 1,
      value_text: null,
    });
    await other.write(rows);
    await expect(other.finish()).rejects.toBeInstanceOf(ObjectConflictError);
  });

  it('publishes nothing when Pluto drifts mid-slot, and leaves no temporary file', async () => {
    const { root, store } = await newFolder();
    const assay = fakeAssay({ driftAt: 1_800 });

    const receipt = await exportSlot(SLOT_INPUT, depsFor(store, assay.pluto));

    expect(receipt.parts).toEqual([]);
    expect(receipt.error).toEqual({
      name: 'PageDriftError',
      message: `${EXPERIMENT} assay at offset 1800: count changed from ${GENES} to ${GENES + 1} while paging; the experiment will be re-exported whole`,
    });
    expect(await store.head(PART)).toBeUndefined();
    expect(
      (await filesUnder(join(root, 'data'))).filter(
        (name) => name.endsWith('.parquet') || name.startsWith('.tmp-'),
      ),
    ).toEqual([]);
  });

  it('fails with the store error when the part cannot be written, without waiting on the encoder', async () => {
    const { store: folder } = await newFolder();
    const store = new FaultyStore(folder, [{ key: /part-/, fault: 'fail' }]);

    const error = await exportSlot(SLOT_INPUT, depsFor(store, fakeAssay().pluto)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toBe(`Injected store fault (fail) on putIfAbsent ${PART}`);
    expect(await folder.head(PART)).toBeUndefined();
  });
});

describe('pages fetched ahead', () => {
  it('asks for the next pages before the current one is melted, as many as prefetchPages', async () => {
    // The first page holds a cell the contract cannot store: melting it fails. Whatever was
    // requested by then was requested ahead of the melt.
    for (const [prefetchPages, expected] of [
      [0, [0]],
      [1, [0, 300]],
      [2, [0, 300, 600]],
    ] as const) {
      const { store } = await newFolder();
      const assay = fakeAssay({ brokenAt: 0 });
      const receipt = await exportSlot(SLOT_INPUT, depsFor(store, assay.pluto, { prefetchPages }));
      expect(receipt.error).toEqual({
        name: 'ContractError',
        message: 'assay row 0, header "S1": an object cannot be stored in the lake contract',
      });
      expect(assay.requested, `prefetchPages ${prefetchPages}`).toEqual(expected);
    }
  });

  it('requests every page once and in order, whatever the depth', async () => {
    for (const prefetchPages of [0, 1, 3]) {
      const { store } = await newFolder();
      const assay = fakeAssay();
      await exportSlot(SLOT_INPUT, depsFor(store, assay.pluto, { prefetchPages }));
      expect(assay.requested).toEqual([0, 300, 600, 900, 1200, 1500, 1800, 2100, 2400]);
    }
  });

  it('overlaps the source and the consumer step by step', async () => {
    const log: string[] = [];
    async function* source() {
      for (let page = 0; page < 4; page++) {
        log.push(`fetch ${page}`);
        await Promise.resolve();
        log.push(`fetched ${page}`);
        yield page;
      }
    }
    for await (const page of prefetched(source(), 1)) {
      log.push(`melt ${page}`);
      await new Promise((resolve) => setImmediate(resolve));
      log.push(`melted ${page}`);
    }
    // While page N is melted, page N+1 is fetched, and no page beyond it.
    const at = (event: string) => log.indexOf(event);
    for (let page = 0; page < 3; page++) {
      expect(at(`fetch ${page + 1}`), `fetch ${page + 1}`).toBeLessThan(at(`melted ${page}`));
      if (page < 2)
        expect(at(`fetch ${page + 2}`), `fetch ${page + 2}`).toBeGreaterThan(at(`melted ${page}`));
    }
    expect(log.filter((event) => event.startsWith('melted'))).toEqual([
      'melted 0',
      'melted 1',
      'melted 2',
      'melted 3',
    ]);
  });
});
