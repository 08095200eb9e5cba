/**
 * The exporter a user would write from Pluto's docs, as the benchmark's comparison: one request at
 * a time (`limit=10000` pages, like Pluto's R client), every row of an experiment collected in
 * memory as objects, each table written with parquetjs-lite. It writes the same long tables (and
 * the typed DE table) as the real exporter, without commit protocol, catalog or manifest.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { TableName } from '../functions/core/contract.js';
import {
  meltAssayRows,
  meltDeRows,
  meltResultRows,
  meltSampleRows,
  type ParsedPage,
  pageRowCount,
  parquetjsFile,
  type TidyRow,
} from './baseline.js';

export interface NaiveExportOptions {
  /** Base URL ending with `/`. */
  readonly baseUrl: string;
  readonly token: string;
  readonly outDir: string;
  /** No new experiment is started once this much time has passed (the rest is left out). */
  readonly budgetMs?: number;
}

export interface NaiveExportResult {
  readonly experimentsListed: number;
  readonly experimentsExported: number;
  readonly experimentsRefused: number;
  /** Listed experiments left out because the time budget ran out. */
  readonly experimentsLeftOut: number;
  /** Rows of samples, assay and results: one per API cell outside the key column. */
  readonly cells: number;
  readonly parquetRows: number;
  readonly parquetBytes: number;
  readonly files: number;
  readonly requests: number;
}

const PAGE_LIMIT = 10_000;

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`GET ${url} answered ${status}`);
  }
}

interface PlotObject {
  uuid: string;
  analysis_type?: string | null;
  analysis?: { pipeline_version?: string | number | null } | null;
}

export async function runNaiveExport(options: NaiveExportOptions): Promise<NaiveExportResult> {
  const started = performance.now();
  let requests = 0;
  const getJson = async (path: string): Promise<unknown> => {
    const url = `${options.baseUrl}${path}`;
    requests++;
    const response = await fetch(url, { headers: { Authorization: `Token ${options.token}` } });
    if (!response.ok) throw new HttpStatusError(response.status, url);
    return response.json();
  };
  const listAll = async <T>(path: string): Promise<T[]> => {
    const items: T[] = [];
    for (;;) {
      const page = (await getJson(`${path}?limit=${PAGE_LIMIT}&offset=${items.length}`)) as {
        count: number;
        items: T[];
      };
      items.push(...page.items);
      if (items.length >= page.count || page.items.length === 0) return items;
    }
  };
  const eachPage = async (path: string, visit: (page: ParsedPage, offset: number) => void) => {
    let offset = 0;
    for (;;) {
      const page = (await getJson(`${path}?limit=${PAGE_LIMIT}&offset=${offset}`)) as ParsedPage;
      const rows = pageRowCount(page);
      visit(page, offset);
      offset += rows;
      if (offset >= page.count || rows === 0) return;
    }
  };

  const experiments = await listAll<{ pluto_id: string }>('lab/experiments/');
  let exported = 0;
  let refused = 0;
  let cells = 0;
  let parquetRows = 0;
  let parquetBytes = 0;
  let files = 0;
  for (const experiment of experiments) {
    if (options.budgetMs !== undefined && performance.now() - started > options.budgetMs) break;
    const id = experiment.pluto_id;
    const base = `lab/experiments/${encodeURIComponent(id)}/`;
    const tables: Record<'samples' | 'assay' | 'results' | 'differential_expression', TidyRow[]> = {
      samples: [],
      assay: [],
      results: [],
      differential_expression: [],
    };
    try {
      await eachPage(`${base}sample-data/`, (page, offset) => meltSampleRows(page, offset, tables.samples));
      await eachPage(`${base}assay-data/`, (page, offset) => meltAssayRows(page, offset, tables.assay));
      for (const plot of await listAll<PlotObject>(`${base}plots/`)) {
        const version = plot.analysis?.pipeline_version;
        const context = {
          plotId: plot.uuid,
          analysisType: plot.analysis_type ?? null,
          pipelineVersion: version === undefined || version === null ? null : String(version),
        };
        await eachPage(`${base}plots/${plot.uuid}/data/`, (page, offset) => {
          meltResultRows(page, offset, context, tables.results);
          if (page.headers.includes('Log2_Fold_Change'))
            meltDeRows(page, context, tables.differential_expression);
        });
      }
    } catch (error) {
      if (error instanceof HttpStatusError && (error.status === 403 || error.status === 404)) {
        refused++;
        continue;
      }
      throw error;
    }
    for (const [table, rows] of Object.entries(tables) as [TableName, TidyRow[]][]) {
      if (rows.length === 0) continue;
      const folder = join(options.outDir, table, `experiment_id=${id}`);
      await mkdir(folder, { recursive: true });
      const file = join(folder, 'part-0.parquet');
      await parquetjsFile(table, rows, file);
      files++;
      parquetRows += rows.length;
      parquetBytes += (await stat(file)).size;
      if (table !== 'differential_expression') cells += rows.length;
    }
    exported++;
  }
  return {
    experimentsListed: experiments.length,
    experimentsExported: exported,
    experimentsRefused: refused,
    experimentsLeftOut: experiments.length - exported - refused,
    cells,
    parquetRows,
    parquetBytes,
    files,
    requests,
  };
}
