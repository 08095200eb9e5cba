/**
 * The simulated organisation: projects, experiments, plots and their datasets, all derived from
 * one seed. Structure comes from a seeded stream; every cell is a hash of (seed, dataset, row,
 * column), computed when served, so a 30,000 × 48 matrix is never held in memory.
 */
import {
  LosslessNumber,
  type PlutoAnalysis,
  type PlutoExperiment,
  type PlutoPlot,
  type PlutoProject,
} from '../core/pluto/model.js';
import { analysisOf, filesOf, projectDetail, type SimulatedFile } from './catalogue.js';
import { hash4, pick, randomInt, seededRandom, seededUuid, unit } from './random.js';

/**
 * Behaviours of the real API that Pluto's clients show but do not pin down, each switchable:
 * - `paging-ignored`: column-major plot data answers every row whatever `limit`/`offset` ask;
 * - `signed-url-csv` / `signed-url-json`: the PCA plot's data answers `{url}`, a signed URL (on
 *   this server, refusing any Authorization header as S3 does) serving the table as CSV or JSON;
 * - `image-plot`: every experiment has one more plot, an image analysis whose `{url}` serves a PNG;
 * - `shared-analysis`: every experiment has one more plot showing the differential expression
 *   analysis again (same analysis uuid, same rows);
 * - `pending-analysis`: every experiment has one more plot whose analysis is still pending
 *   (`pipeline_status` and `status` `pending`); its data endpoint answers a page without columns;
 * - `external-plot`: every experiment has one more plot uploaded from outside Pluto (analysis type
 *   `external`, as Pluto's R client creates them) without a results file; its data endpoint answers
 *   a page without columns;
 * - `plot-data-without-count`: plot data pages leave out `count` (Pluto's R client history says
 *   the endpoint once did), while still honouring `limit` and `offset`;
 * - `analysis-detail-missing`: `analyses/{uuid}/` answers 404 (only the plot carries the analysis);
 * - `project-detail-refused`: `lab/projects/{id}/` answers 403 (Pluto's Python SDK tests say the
 *   API may not give it);
 * - `files-paged`: the files answer holds one item per data type, the rest paged by `data_type`;
 * - `files-without-size`: file items carry no size;
 * - `download-more-columns`: the complete results download of each differential expression plot
 *   holds two columns more than its data pages (Pluto's R client tests ask the download only to
 *   include the columns of the data pages);
 * - `qc-report-signed-url`: `lab/experiments/{id}/qc-report/` answers `{url}`, the report's signed
 *   URL, instead of its file record (neither client shows the endpoint's answer).
 */
export const SIMULATOR_VARIANTS = [
  'paging-ignored',
  'signed-url-csv',
  'signed-url-json',
  'image-plot',
  'shared-analysis',
  'pending-analysis',
  'external-plot',
  'plot-data-without-count',
  'analysis-detail-missing',
  'project-detail-refused',
  'files-paged',
  'files-without-size',
  'download-more-columns',
  'qc-report-signed-url',
] as const;
export type SimulatorVariant = (typeof SIMULATOR_VARIANTS)[number];

export interface WorldOptions {
  readonly variants?: readonly SimulatorVariant[];
  readonly seed: number;
  readonly experiments: number;
  readonly projects: number;
  readonly genes: readonly [min: number, max: number];
  readonly samples: readonly [min: number, max: number];
  /** False: no experiment has a plot, as in a lab that has only uploaded data. Default true. */
  readonly plots?: boolean;
}

/** One dataset as the API serves it; `row(i)` gives the cells in header order. */
export interface DatasetTruth {
  readonly headers: readonly string[];
  readonly rowCount: number;
  /** `columns`: served column-major (display type `volcano_plot_v2`); `rows`: row objects. */
  readonly layout: 'rows' | 'columns';
  row(i: number): unknown[];
  cell(row: number, column: number): unknown;
}

export interface ProjectTruth {
  /** The project's `pluto_id`, the id its experiments are listed under. */
  readonly id: string;
  /** As `lab/projects/` lists it. */
  readonly object: PlutoProject;
  /** As `lab/projects/{id}/` answers. */
  readonly detail: PlutoProject;
}

export interface ListedExperiment {
  readonly id: string;
  /** Project it is listed under; null for an experiment outside every project. */
  readonly projectId: string | null;
  /** Listed, but every experiment endpoint answers 403. */
  readonly forbidden: boolean;
  readonly metadata: PlutoExperiment;
}

export interface ExperimentTruth extends ListedExperiment {
  readonly plots: readonly PlutoPlot[];
  /** Plots whose data is an image (variant `image-plot`): no table, exported as `no_data`. */
  readonly images: ReadonlySet<string>;
  /**
   * Plots without a table whose data endpoint answers a page without columns (variants
   * `pending-analysis` and `external-plot`): exported as `no_data`.
   */
  readonly tableless: ReadonlySet<string>;
  readonly samples: DatasetTruth;
  readonly assay: DatasetTruth;
  /** By plot uuid. */
  readonly results: ReadonlyMap<string, DatasetTruth>;
  /** By plot uuid: the CSV behind `plots/{id}/download/`, the complete results. */
  readonly downloads: ReadonlyMap<string, DatasetTruth>;
  /** By analysis uuid: what `analyses/{uuid}/` serves. */
  readonly analyses: ReadonlyMap<string, PlutoAnalysis>;
  /** The file inventory, in listing order. */
  readonly files: readonly SimulatedFile[];
}

/** `samples`, `assay`, or a plot uuid (its results). */
export type DatasetName = 'samples' | 'assay' | (string & {});

export interface SimulatorTruth {
  readonly seed: number;
  readonly token: string;
  readonly projects: readonly ProjectTruth[];
  /** Every listed experiment, in the order `lab/experiments/` lists them. */
  readonly experiments: readonly ListedExperiment[];
  readonly forbiddenExperimentIds: readonly string[];
  /** The experiments whose endpoints answer 200, with their data. */
  readonly exportable: readonly ExperimentTruth[];
  /** An exportable experiment; throws for any other id. */
  experiment(id: string): ExperimentTruth;
  /** Changes one served cell from now on (`column` indexes the headers, 0 = the key column). */
  setCell(experimentId: string, dataset: DatasetName, row: number, column: number, value: unknown): void;
  setPlotStatus(experimentId: string, plotId: string, status: string): void;
  /** The experiment disappears: no longer listed, and its endpoints answer as for an unknown id. */
  removeExperiment(experimentId: string): void;
  /** Uploads a file to the experiment's inventory from now on. */
  addFile(experimentId: string, dataType: string, fileName: string, size: number): SimulatedFile;
}

/** Columns a results download may hold beyond the data pages: DESeq2's standard error and statistic. */
export const DOWNLOAD_EXTRA_HEADERS = ['Log2_Fold_Change_SE', 'Stat'];

/** A dataset's cells and, after them, `DOWNLOAD_EXTRA_HEADERS` drawn from the seed. */
class WiderDataset implements DatasetTruth {
  readonly headers: readonly string[];

  constructor(
    private readonly base: DatasetTruth,
    private readonly seed: number,
  ) {
    this.headers = [...base.headers, ...DOWNLOAD_EXTRA_HEADERS];
  }

  get rowCount(): number {
    return this.base.rowCount;
  }

  get layout(): 'rows' | 'columns' {
    return this.base.layout;
  }

  cell(row: number, column: number): unknown {
    if (column < this.base.headers.length) return this.base.cell(row, column);
    return Math.round(unit(hash4(this.seed, row, column, 0xd0)) * 1e6) / 1e4;
  }

  row(i: number): unknown[] {
    return this.headers.map((_, c) => this.cell(i, c));
  }
}

export class GeneratedDataset implements DatasetTruth {
  private readonly overrides = new Map<number, unknown>();

  constructor(
    readonly headers: readonly string[],
    readonly rowCount: number,
    readonly layout: 'rows' | 'columns',
    private readonly generate: (row: number, column: number) => unknown,
  ) {}

  cell(row: number, column: number): unknown {
    if (this.overrides.size > 0) {
      const key = row * this.headers.length + column;
      if (this.overrides.has(key)) return this.overrides.get(key);
    }
    return this.generate(row, column);
  }

  row(i: number): unknown[] {
    this.check(i, 0);
    return this.headers.map((_, c) => this.cell(i, c));
  }

  set(row: number, column: number, value: unknown): void {
    this.check(row, column);
    this.overrides.set(row * this.headers.length + column, value);
  }

  private check(row: number, column: number): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.rowCount) {
      throw new RangeError(`row ${row} is outside 0..${this.rowCount - 1}`);
    }
    if (!Number.isInteger(column) || column < 0 || column >= this.headers.length) {
      throw new RangeError(`column ${column} is outside 0..${this.headers.length - 1}`);
    }
  }
}

const DE_HEADERS = ['Gene_Symbol', 'Average_Expression', 'Log2_Fold_Change', 'P_Value', 'Adj_P_Value'];
const PCA_HEADERS = ['Sample_ID', 'PC1', 'PC2', 'PC3', 'PC4', 'PC5', 'group_id', 'group_name'];
export const SAMPLE_HEADERS = [
  'sample_id',
  'Cell Type',
  'treatment.dose',
  'RIN',
  'batch',
  'Sex',
  'library_barcode',
  'Notes',
] as const;
/**
 * Rows 1–4 of the first sample's assay column always hold these (beyond them they occur by hash,
 * ~1% of cells), so even a tiny simulated matrix has every kind of non-number. Likewise row 3 of
 * every DE/DB result has NA p-values and row 4 a null fold change.
 */
export const ASSAY_SPECIALS = ['NA', 'NaN', 'Inf', null] as const;
/** The one non-ASCII sample value: `Notes` of the first sample of every experiment. */
export const UNICODE_NOTE = 'Ausreißer? RIN < 7 — neu sequenziert (µ = 3,2 ng/µl) ✓';

const REAL_GENES = [
  'GAPDH',
  'ACTB',
  'TP53',
  'MYC',
  'EGFR',
  'BRCA1',
  'KRAS',
  'IL6',
  'TNF',
  'CD4',
  'CD8A',
  'FOXP3',
  'SOX2',
  'POU5F1',
  'NANOG',
  'ALB',
  'APOE',
  'MAPT',
  'SNCA',
  'GFAP',
  'VIM',
  'COL1A1',
  'MKI67',
  'XIST',
];
const GENE_PREFIXES = [
  'ZNF',
  'SLC',
  'KRT',
  'RPL',
  'RPS',
  'HOX',
  'NDUF',
  'DDX',
  'FAM',
  'TMEM',
  'LINC',
  'MIR',
  'OR',
];
const GROUPS = [
  ['Vehicle', 'Treated'],
  ['WT', 'KO'],
  ['Control', 'LPS'],
] as const;
const CELL_TYPES = ['iPSC-derived neuron', 'HEK293T', 'primary hepatocyte', 'CD4 T cell', 'microglia'];
const OWNERS = [
  { first_name: 'Zoë', last_name: 'Ångström' },
  { first_name: 'Kenji', last_name: 'Watanabe' },
  { first_name: 'Amara', last_name: 'Okafor' },
  { first_name: 'Lucía', last_name: 'Fernández' },
];
const PROJECT_NAMES = [
  'Neuroinflammation atlas',
  'Oncology target discovery',
  'Liver fibrosis',
  'Immune aging',
];

/** Dataset codes mixed into cell hashes so datasets of one experiment are independent. */
const CODE = { samples: 1, assay: 2, de: 3, pca: 4, binding: 5, gene: 6, level: 7, peak: 8 } as const;

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** Approximately standard normal, from one hash (sum of four 8-bit uniforms). */
function normal(h: number): number {
  return (((h & 0xff) + ((h >>> 8) & 0xff) + ((h >>> 16) & 0xff) + (h >>> 24)) / 255 - 2) * 1.73;
}

function isoMicros(ms: number, micros: number): string {
  return new Date(ms).toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
}

const organismOf = (shortname: string) => ({
  shortname,
  genome_build: shortname === 'human' ? 'GRCh38' : 'GRCm39',
});

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface BuiltExperiment extends ExperimentTruth {
  readonly plotObjects: Mutable<PlutoPlot>[];
  readonly downloads: Map<string, DatasetTruth>;
  readonly datasets: Map<DatasetName, GeneratedDataset>;
  readonly analyses: Map<string, PlutoAnalysis>;
  readonly files: SimulatedFile[];
}

export class World implements SimulatorTruth {
  readonly seed: number;
  readonly variants: ReadonlySet<SimulatorVariant>;
  readonly projects: ProjectTruth[] = [];
  readonly experiments: ListedExperiment[] = [];
  readonly forbiddenExperimentIds: string[] = [];
  readonly exportable: BuiltExperiment[] = [];
  private readonly byId = new Map<string, BuiltExperiment>();
  private readonly plotless: boolean;

  constructor(
    readonly token: string,
    options: WorldOptions,
  ) {
    this.seed = options.seed >>> 0;
    this.variants = new Set(options.variants ?? []);
    this.plotless = options.plots === false;
    const random = seededRandom(hash4(this.seed, 0x5eed, 0, 0));
    const usedIds = new Set<string>();
    const freshId = (prefix: string, digits: number) => {
      for (;;) {
        const id = `${prefix}${randomInt(random, 10 ** (digits - 1), 10 ** digits - 1)}`;
        if (!usedIds.has(id)) {
          usedIds.add(id);
          return id;
        }
      }
    };

    const listedProjects: { id: string; object: PlutoProject }[] = [];
    for (let p = 0; p < options.projects; p++) {
      // Pluto's R client documents project ids like PLXP02355 and experiment ids like PLX239843.
      const id = freshId('PLXP', 5);
      listedProjects.push({
        id,
        object: {
          pluto_id: id,
          uuid: seededUuid(random),
          name: PROJECT_NAMES[p % PROJECT_NAMES.length] ?? 'Project',
          description: `Experiments of the ${PROJECT_NAMES[p % PROJECT_NAMES.length]} programme`,
          created_at: isoMicros(
            Date.UTC(2021, 6, 1) + Math.floor(random() * 3e10),
            randomInt(random, 0, 999),
          ),
        },
      });
    }

    const count = options.experiments;
    const forbiddenIndex = count >= 2 ? randomInt(random, 1, count - 1) : -1;
    for (let e = 0; e < count; e++) {
      const id = freshId('PLX', 6);
      const outsideProjects = listedProjects.length === 0 || (count >= 3 && e === count - 1);
      const projectId = outsideProjects ? null : (listedProjects[e % listedProjects.length]?.id ?? null);
      const type = e % 3 === 2 ? (e % 2 === 1 ? 'chip-seq' : 'atac-seq') : 'rnaseq';
      const genes = randomInt(random, options.genes[0], options.genes[1]);
      const samples = randomInt(random, options.samples[0], options.samples[1]);
      const built = this.buildExperiment(
        random,
        e,
        id,
        projectId,
        type,
        genes,
        samples,
        e === forbiddenIndex,
      );
      this.addVariantPlots(built, e, [...this.variants]);
      for (const plot of built.plotObjects) {
        const data = built.results.get(plot.uuid);
        if (data === undefined) continue;
        const wider =
          this.variants.has('download-more-columns') && plot.analysis_type === 'differential_expression';
        built.downloads.set(plot.uuid, wider ? new WiderDataset(data, this.seed) : data);
      }
      for (const plot of built.plotObjects) {
        const uuid = plot.analysis?.uuid;
        if (typeof uuid === 'string' && !built.analyses.has(uuid))
          built.analyses.set(uuid, analysisOf(this.seed, e, plot));
      }
      built.files.push(...filesOf(this.seed, e, type));
      this.experiments.push({ id, projectId, forbidden: built.forbidden, metadata: built.metadata });
      if (built.forbidden) {
        this.forbiddenExperimentIds.push(id);
      } else {
        this.exportable.push(built);
        this.byId.set(id, built);
      }
    }
    listedProjects.forEach((project, p) => {
      const experimentsCount = this.experiments.filter((e) => e.projectId === project.id).length;
      this.projects.push({
        ...project,
        detail: projectDetail(this.seed, p, project.object, experimentsCount),
      });
    });
  }

  addFile(experimentId: string, dataType: string, fileName: string, size: number): SimulatedFile {
    const built = this.experiment(experimentId);
    const random = seededRandom(hash4(this.seed, built.files.length, 0xadd, size));
    const file: SimulatedFile = {
      uuid: seededUuid(random),
      dataType,
      fileName,
      size,
      createdAt: new Date(Date.UTC(2025, 0, 1 + built.files.length)).toISOString(),
      contentSeed: hash4(this.seed, size, 0xc0de, built.files.length),
    };
    built.files.push(file);
    return file;
  }

  /** Variant plots draw from their own stream, so the rest of the organisation stays as without them. */
  private addVariantPlots(built: BuiltExperiment, e: number, variants: readonly SimulatorVariant[]): void {
    const random = seededRandom(hash4(this.seed, e, 0x7a71, 0));
    const de = built.plotObjects.find((plot) => plot.analysis_type === 'differential_expression');
    if (variants.includes('shared-analysis') && de !== undefined) {
      const uuid = seededUuid(random);
      built.plotObjects.push({
        ...de,
        uuid,
        display: {
          display_type: 'volcano_plot_v2',
          plot_title: 'Same analysis, second plot',
          is_archived: false,
        },
      });
      const data = built.results.get(de.uuid);
      if (data !== undefined)
        (built.results as Map<string, GeneratedDataset>).set(uuid, data as GeneratedDataset);
    }
    /** A plot of one analysis without a table; `pending` also marks the plot itself pending. */
    const plotWithoutTable = (
      into: ReadonlySet<string>,
      analysisType: string,
      displayType: string,
      title: string,
      pipelineStatus: 'completed' | 'pending',
      extra: Record<string, unknown> = {},
    ) => {
      const uuid = seededUuid(random);
      built.plotObjects.push({
        uuid,
        analysis_type: analysisType,
        analysis: { uuid: seededUuid(random), name: title, pipeline_status: pipelineStatus },
        display: { display_type: displayType, plot_title: title, is_archived: false },
        share_level: 'shareable',
        status: pipelineStatus === 'pending' ? 'pending' : 'published',
        ...extra,
      });
      (into as Set<string>).add(uuid);
    };
    if (variants.includes('image-plot')) {
      plotWithoutTable(built.images, 'image', 'image', 'Western blot', 'completed');
    }
    if (variants.includes('pending-analysis')) {
      plotWithoutTable(
        built.tableless,
        'differential_expression',
        'volcano_plot_v2',
        'Re-run with batch correction',
        'pending',
      );
    }
    if (variants.includes('external-plot')) {
      // Pluto's R client uploads such figures with analysis type `external` and its origin.
      plotWithoutTable(built.tableless, 'external', 'external', 'Figure made in R', 'completed', {
        origin: 'R',
      });
    }
    (built.metadata as Mutable<PlutoExperiment>).plot_count = built.plotObjects.length;
  }

  experiment(id: string): BuiltExperiment {
    const found = this.byId.get(id);
    if (found === undefined) throw new Error(`${id} is not an exportable experiment of this simulator`);
    return found;
  }

  isListed(id: string): boolean {
    return this.experiments.some((e) => e.id === id);
  }

  removeExperiment(experimentId: string): void {
    const index = this.experiments.findIndex((e) => e.id === experimentId);
    if (index < 0) throw new Error(`${experimentId} is not listed`);
    this.experiments.splice(index, 1);
  }

  setCell(experimentId: string, dataset: DatasetName, row: number, column: number, value: unknown): void {
    const target = this.experiment(experimentId).datasets.get(dataset);
    if (target === undefined) throw new Error(`${experimentId} has no dataset ${dataset}`);
    target.set(row, column, value);
  }

  setPlotStatus(experimentId: string, plotId: string, status: string): void {
    const plot = this.experiment(experimentId).plotObjects.find((p) => p.uuid === plotId);
    if (plot === undefined) throw new Error(`${experimentId} has no plot ${plotId}`);
    plot.status = status;
  }

  private buildExperiment(
    random: () => number,
    e: number,
    id: string,
    projectId: string | null,
    type: string,
    genes: number,
    sampleCount: number,
    forbidden: boolean,
  ): BuiltExperiment {
    const seed = this.seed;
    const h = (code: number, row: number, column: number) => hash4(seed, e * 16 + code, row, column);
    const groups = pick(random, GROUPS);
    const units = pick(random, ['counts', 'tpm', 'normalized_counts']);
    const cellType = pick(random, CELL_TYPES);
    const samples = Array.from({ length: sampleCount }, (_, k) => {
      const group = k % 2;
      return { id: `${groups[group]}_${Math.floor(k / 2) + 1}`, group, name: groups[group] };
    });

    const geneSymbol = (row: number): string =>
      row < REAL_GENES.length
        ? (REAL_GENES[row] as string)
        : `${GENE_PREFIXES[h(CODE.gene, row, 0) % GENE_PREFIXES.length]}${row}`;

    const sampleData = new GeneratedDataset(SAMPLE_HEADERS, sampleCount, 'rows', (row, column) => {
      const sample = samples[row];
      const x = h(CODE.samples, row, column);
      switch (SAMPLE_HEADERS[column]) {
        case 'sample_id':
          return sample?.id;
        case 'Cell Type':
          return cellType;
        case 'treatment.dose':
          return sample?.group === 0 ? 'NA' : [0.5, 1, 10][x % 3];
        case 'RIN':
          return x % 8 === 0 ? null : round(6 + unit(x) * 4, 1);
        case 'batch':
          return x % 5 === 0 ? 'pilot' : 1 + (x % 3);
        case 'Sex':
          return x % 10 === 0 ? 'NA' : x % 2 === 0 ? 'F' : 'M';
        case 'library_barcode':
          // 19 digits: beyond 2^53, as some sequencing-core barcodes are.
          return new LosslessNumber(
            `9${String(x % 1e9).padStart(9, '0')}${String(h(CODE.samples, row, 99) % 1e9).padStart(9, '0')}`,
          );
        default:
          return row === 0 ? UNICODE_NOTE : x % 4 === 0 ? 'resequenced' : null;
      }
    });

    const integerCounts = units === 'counts';
    // Pages are served row by row: remembering the last row's expression level saves an exp() per cell.
    let levelRow = -1;
    let level = 0;
    const assay = new GeneratedDataset(
      ['gene_symbol', ...samples.map((s) => s.id)],
      genes,
      'rows',
      (row, column) => {
        if (column === 0) return geneSymbol(row);
        if (row !== levelRow) {
          levelRow = row;
          level = Math.exp(unit(h(CODE.level, row, 0)) * 11) - 1;
        }
        if (column === 1 && row >= 1 && row <= ASSAY_SPECIALS.length) return ASSAY_SPECIALS[row - 1];
        const x = h(CODE.assay, row, column);
        const special = x % 1000;
        if (special < 4) return 'NA';
        if (special < 6) return 'NaN';
        if (special < 7) return 'Inf';
        if (special < 8) return '-Inf';
        if (special < 10) return null;
        const value = level * (0.6 + 0.8 * unit((x >>> 3) ^ x));
        return integerCounts ? Math.round(value) : round(value, 3);
      },
    );

    const statistics = (code: number, row: number, column: number): unknown => {
      const x = h(code, row, column);
      const p = h(code, row, 3);
      const pNA = p % 100 < 3 || row === 3;
      if (row === 4 && column === 2) return null;
      switch (column) {
        case 1:
          return round(Math.exp(unit(x) * 10), 4);
        case 2:
          return x % 500 === 0 ? null : round(normal(x) * 1.5, 4);
        case 3:
          return pNA ? 'NA' : Number((unit(p) ** 3 + 1e-300).toPrecision(4));
        default:
          return pNA ? 'NA' : Number(Math.min(1, (unit(p) ** 3 + 1e-300) * 3.5).toPrecision(4));
      }
    };

    const plotObjects: Mutable<PlutoPlot>[] = [];
    const results = new Map<string, GeneratedDataset>();
    const addPlot = (
      analysisType: string,
      analysisName: string,
      displayType: string,
      title: string,
      data: (uuid: string) => GeneratedDataset,
    ) => {
      if (this.plotless) return;
      const uuid = seededUuid(random);
      plotObjects.push({
        uuid,
        analysis_type: analysisType,
        analysis: {
          uuid: seededUuid(random),
          name: analysisName,
          pipeline_status: 'completed',
          pipeline_version: pick(random, ['1.4.2', '2.0.1', '2.1.0']),
        },
        display: { display_type: displayType, plot_title: title, is_archived: false },
        share_level: 'shareable',
        status: 'published',
      });
      results.set(uuid, data(uuid));
    };

    addPlot(
      'differential_expression',
      `${groups[1]} vs ${groups[0]}`,
      'volcano_plot_v2',
      `Differential expression: ${groups[1]} vs ${groups[0]}`,
      () =>
        new GeneratedDataset(DE_HEADERS, genes, 'columns', (row, column) =>
          column === 0 ? geneSymbol(row) : statistics(CODE.de, row, column),
        ),
    );
    // Pluto's R client tests: a PCA plot has analysis type principal_components, display sample_scatter_plot.
    addPlot(
      'principal_components',
      'PCA of all samples',
      'sample_scatter_plot',
      'PCA',
      () =>
        new GeneratedDataset(PCA_HEADERS, sampleCount, 'rows', (row, column) => {
          const sample = samples[row];
          if (column === 0) return sample?.id;
          if (column <= 5)
            return round(normal(h(CODE.pca, row, column)) * (40 / column) + (sample?.group ?? 0) * 8, 4);
          return column === 6 ? (sample?.group ?? 0) + 1 : sample?.name;
        }),
    );
    if (type !== 'rnaseq') {
      const peaks = Math.max(1, randomInt(random, Math.floor(genes * 0.3), Math.floor(genes * 0.5)));
      addPlot(
        'differential_binding',
        `Differential binding: ${groups[1]} vs ${groups[0]}`,
        // Column-major like differential expression (Pluto's R client tests read both as volcano_plot_v2).
        'volcano_plot_v2',
        'Differential binding',
        () =>
          new GeneratedDataset(['peak_id', ...DE_HEADERS], peaks, 'columns', (row, column) => {
            const x = h(CODE.peak, row, 0);
            if (column === 0) {
              const start = 10_000 + (x % 200_000_000);
              return `chr${1 + (x % 22)}:${start}-${start + 200 + (x % 1800)}`;
            }
            if (column === 1) return x % 10 === 0 ? null : geneSymbol(x % genes);
            return statistics(CODE.binding, row, column - 1);
          }),
      );
    }

    const owner = pick(random, OWNERS);
    const creator = pick(random, OWNERS);
    const metadata: PlutoExperiment = {
      uuid: seededUuid(random),
      pluto_id: id,
      name: `${type === 'rnaseq' ? 'RNA-seq' : type === 'atac-seq' ? 'ATAC-seq' : 'ChIP-seq'} of ${cellType}: ${groups[1]} vs ${groups[0]}`,
      description: `${sampleCount} samples, ${groups[0]} and ${groups[1]}`,
      organism: organismOf(pick(random, ['human', 'mouse'])),
      is_archived: false,
      type: { shortname: type },
      // The share levels Pluto's R client documents.
      share_level: pick(random, ['private', 'shareable', 'public']),
      status: 'complete',
      assay_data_units: { units: { shortname: units } },
      plot_count: plotObjects.length,
      experiment_owner: {
        ...owner,
        email: `${owner.last_name
          .normalize('NFD')
          .replace(/[^A-Za-z]/g, '')
          .toLowerCase()}@example.org`,
      },
      created_by: { ...creator },
      created_at: isoMicros(Date.UTC(2022, 0, 1) + Math.floor(random() * 6e10), randomInt(random, 0, 999)),
      user_permissions: forbidden ? [] : ['can_view', 'can_edit', 'can_download'],
    };

    const datasets = new Map<DatasetName, GeneratedDataset>([
      ['samples', sampleData],
      ['assay', assay],
      ...results,
    ]);
    return {
      id,
      projectId,
      forbidden,
      metadata,
      images: new Set<string>(),
      tableless: new Set<string>(),
      plots: plotObjects,
      plotObjects,
      samples: sampleData,
      assay,
      results,
      downloads: new Map(),
      datasets,
      analyses: new Map(),
      files: [],
    };
  }
}
