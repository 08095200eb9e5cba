/**
 * The benchmark's input: JSON page text exactly as the simulator serves it (same generator, same
 * serializer), cut into the 10,000-row pages the exporter requests.
 */
import { SIMULATOR_TOKEN } from '../functions/simulator/index.js';
import { dataPageBytes } from '../functions/simulator/server.js';
import { type DatasetTruth, World } from '../functions/simulator/world.js';

export const PAGE_ROWS = 10_000;
/** Seed 1 serves `tpm` units: decimal values, the heavier case for JSON parsing than integer counts. */
export const BENCH_SEED = 1;

export interface PageText {
  readonly offset: number;
  readonly limit: number;
  readonly text: string;
}

export interface PlotInfo {
  readonly plotId: string;
  readonly analysisId: string | null;
  readonly analysisType: string | null;
  readonly pipelineVersion: string | null;
}

export interface Shape {
  readonly name: 'assay' | 'differential_expression';
  readonly label: string;
  readonly layout: 'rows' | 'columns';
  readonly headers: readonly string[];
  readonly apiRows: number;
  /** Tidy rows of the long table (`assay` or `results`): one per API cell outside the key column. */
  readonly tidyRows: number;
  /** Every Parquet row written: the long table plus `differential_expression` for the DE shape. */
  readonly rowsOut: number;
  readonly pageBytes: number;
  readonly pages: readonly PageText[];
  readonly plot?: PlotInfo;
}

function pagesOf(dataset: DatasetTruth): PageText[] {
  const pages: PageText[] = [];
  for (let offset = 0; offset < dataset.rowCount; offset += PAGE_ROWS) {
    const limit = Math.min(PAGE_ROWS, dataset.rowCount - offset);
    pages.push({ offset, limit, text: dataPageBytes(dataset, offset, limit).toString('utf8') });
  }
  return pages;
}

/** The two shapes of the encode section: an assay matrix and a column-major DE result. */
export function encodeShapes(genes: number, samples: number): Shape[] {
  const world = new World(SIMULATOR_TOKEN, {
    seed: BENCH_SEED,
    experiments: 1,
    projects: 1,
    genes: [genes, genes],
    samples: [samples, samples],
  });
  const experiment = world.exportable[0];
  if (experiment === undefined) throw new Error('the simulator built no exportable experiment');
  const assayPages = pagesOf(experiment.assay);
  const dePlot = experiment.plots.find((plot) => plot.display?.display_type === 'volcano_plot_v2');
  const de = dePlot === undefined ? undefined : experiment.results.get(dePlot.uuid);
  if (dePlot === undefined || de === undefined) throw new Error('the simulated experiment has no DE plot');
  const dePages = pagesOf(de);
  const bytes = (pages: PageText[]) => pages.reduce((sum, p) => sum + Buffer.byteLength(p.text), 0);
  const deWidth = de.headers.length - 1;
  const version = dePlot.analysis?.pipeline_version;
  return [
    {
      name: 'assay',
      label: `assay ${genes.toLocaleString('en-US')} genes × ${samples} samples`,
      layout: 'rows',
      headers: experiment.assay.headers,
      apiRows: experiment.assay.rowCount,
      tidyRows: experiment.assay.rowCount * samples,
      rowsOut: experiment.assay.rowCount * samples,
      pageBytes: bytes(assayPages),
      pages: assayPages,
    },
    {
      name: 'differential_expression',
      label: `DE ${de.rowCount.toLocaleString('en-US')} rows (volcano_plot_v2, column-major)`,
      layout: 'columns',
      headers: de.headers,
      apiRows: de.rowCount,
      tidyRows: de.rowCount * deWidth,
      rowsOut: de.rowCount * deWidth + de.rowCount,
      pageBytes: bytes(dePages),
      pages: dePages,
      plot: {
        plotId: dePlot.uuid,
        analysisId: dePlot.analysis?.uuid ?? null,
        analysisType: dePlot.analysis_type ?? null,
        pipelineVersion: version === undefined || version === null ? null : String(version),
      },
    },
  ];
}
