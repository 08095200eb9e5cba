/**
 * Wide API pages to the tidy rows of the lake contract (design.md, Lake contract). Every cell of a page lands in
 * exactly one row; a cell the contract cannot hold is a ContractError, never a skip.
 */
import { type CellValue, type ColumnarRows, TABLES, type TableName } from './contract.js';
import { ContractError } from './errors.js';
import { type BuiltRows, type ColumnBuilder, columnBuilders } from './parquet.js';
import {
  type DataPage,
  LosslessNumber,
  type PlutoAnalysis,
  type PlutoExperiment,
  type PlutoFile,
  type PlutoPlot,
  type PlutoProject,
} from './pluto/model.js';

/** One row of a contract table: exactly the contract's columns. */
export type ContractRow = Readonly<Record<string, CellValue>>;

function checkRow(table: TableName, row: ContractRow): void {
  const columns = TABLES[table].columns;
  for (const column of columns) {
    if (row[column.name] === undefined) throw new ContractError(`${table}: row has no ${column.name}`);
  }
  if (Object.keys(row).length !== columns.length) {
    const known = new Set(columns.map((c) => c.name));
    const extra = Object.keys(row).filter((name) => !known.has(name));
    throw new ContractError(`${table}: ${extra.join(', ')} not columns of the contract`);
  }
}

/**
 * The rows of one contract table, melted straight into typed column builders. A slot keeps one per
 * table and `clear`s it after each batch is encoded, so its arrays serve every batch.
 */
export class TableRows implements BuiltRows {
  readonly table: TableName;
  private readonly columnBuilders: readonly ColumnBuilder[];
  private readonly byName = new Map<string, ColumnBuilder>();

  constructor(table: TableName) {
    this.table = table;
    this.columnBuilders = columnBuilders(table);
    for (const builder of this.columnBuilders) this.byName.set(builder.ctx.column, builder);
  }

  /** The builder of a contract column, for appending in bulk. */
  column(name: string): ColumnBuilder {
    const builder = this.byName.get(name);
    if (builder === undefined)
      throw new ContractError(`${this.table}: ${name} is not a column of the contract`);
    return builder;
  }

  /** Appends one row given as { column: cell }; every contract column must be present. */
  appendRow(row: ContractRow): void {
    checkRow(this.table, row);
    for (const builder of this.columnBuilders) builder.push(row[builder.ctx.column] as CellValue);
  }

  get rowCount(): number {
    return this.columnBuilders[0]?.length ?? 0;
  }

  builders(): readonly ColumnBuilder[] {
    return this.columnBuilders;
  }

  /** The cells of every column, as values. */
  columns(): ColumnarRows {
    const rowCount = this.rowCount;
    const out: ColumnarRows = {};
    for (const builder of this.columnBuilders) {
      if (builder.length !== rowCount) {
        throw new ContractError(
          `${this.table}.${builder.ctx.column}: ${builder.length} cells for ${rowCount} rows`,
        );
      }
      out[builder.ctx.column] = builder.cells();
    }
    return out;
  }

  /** No rows any more; the builders keep their arrays for the next batch. */
  clear(): void {
    for (const builder of this.columnBuilders) builder.reset();
  }
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function unstorable(dataset: string, rowNumber: number, header: string, cell: object): ContractError {
  const kind = Array.isArray(cell) ? 'array' : 'object';
  return new ContractError(
    `${dataset} row ${rowNumber}, header "${header}": an ${kind} cannot be stored in the lake contract`,
  );
}

/**
 * The cell as text: strings as returned, numbers as their JSON text, booleans as true/false.
 * A header missing from a row object (undefined) reads as JSON null.
 */
function cellText(cell: unknown, dataset: string, rowNumber: number, header: string): string | null {
  switch (typeof cell) {
    case 'string':
      return cell;
    case 'number':
      return String(cell);
    case 'boolean':
      return cell ? 'true' : 'false';
    case 'undefined':
      return null;
    case 'object':
      if (cell === null) return null;
      if (cell instanceof LosslessNumber) return cell.text;
      throw unstorable(dataset, rowNumber, header, cell);
    default:
      throw new ContractError(
        `${dataset} row ${rowNumber}, header "${header}": a ${typeof cell} is not JSON`,
      );
  }
}

/** The cell as a finite double (JSON number, LosslessNumber or decimal string), else null. */
function cellNumber(cell: unknown): number | null {
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell : null;
  let n: number;
  if (typeof cell === 'string') {
    if (!DECIMAL.test(cell)) return null;
    n = Number(cell);
  } else if (cell instanceof LosslessNumber) {
    n = Number(cell.text);
  } else {
    return null;
  }
  return Number.isFinite(n) ? n : null;
}

/**
 * Splits a cell into (value, value_text) for `assay` and `results`: value is the finite number,
 * value_text the original text whenever value does not give back that text exactly.
 */
function pushMeasured(
  cell: unknown,
  values: ColumnBuilder,
  texts: ColumnBuilder,
  dataset: string,
  rowNumber: number,
  header: string,
): void {
  if (typeof cell === 'number') {
    if (Number.isFinite(cell)) {
      values.push(cell);
      texts.push(null);
    } else {
      values.push(null);
      texts.push(String(cell));
    }
    return;
  }
  const text = cellText(cell, dataset, rowNumber, header);
  if (text === null) {
    values.push(null);
    texts.push(null);
    return;
  }
  const n = cellNumber(cell);
  values.push(n);
  texts.push(n !== null && typeof cell === 'string' && String(n) === text ? null : text);
}

function checkShape(page: DataPage, dataset: string): void {
  if (page.columns.length !== page.headers.length) {
    throw new ContractError(`${dataset}: ${page.columns.length} columns for ${page.headers.length} headers`);
  }
  if (page.headers.length === 0 && page.rowCount > 0) {
    throw new ContractError(`${dataset}: ${page.rowCount} rows without headers`);
  }
  page.columns.forEach((cells, i) => {
    if (cells.length !== page.rowCount) {
      throw new ContractError(
        `${dataset}: header "${page.headers[i]}" has ${cells.length} cells for ${page.rowCount} rows`,
      );
    }
  });
}

function expectTable(out: TableRows, table: TableName): void {
  if (out.table !== table) throw new ContractError(`melting into ${out.table}, expected ${table}`);
}

/** The first header's cells as text: the row ids (sample_id / feature_id) of a page. */
function rowIds(page: DataPage, dataset: string): (string | null)[] {
  const header = page.headers[0] as string;
  const cells = page.columns[0] ?? [];
  return cells.map((cell, r) => cellText(cell, dataset, page.offset + r, header));
}

/** `samples`: one row per (sample row, attribute); value is the text, value_number the number. */
export function meltSamples(page: DataPage, out: TableRows): void {
  const dataset = 'samples';
  expectTable(out, 'samples');
  checkShape(page, dataset);
  const ids = rowIds(page, dataset);
  const rowNumber = out.column('row_number');
  const sampleId = out.column('sample_id');
  const attribute = out.column('attribute');
  const value = out.column('value');
  const valueNumber = out.column('value_number');
  for (let r = 0; r < page.rowCount; r++) {
    const n = page.offset + r;
    const id = ids[r] as string | null;
    for (let h = 1; h < page.headers.length; h++) {
      const header = page.headers[h] as string;
      const cell = (page.columns[h] as readonly unknown[])[r];
      rowNumber.push(n);
      sampleId.push(id);
      attribute.push(header);
      value.push(cellText(cell, dataset, n, header));
      valueNumber.push(cellNumber(cell));
    }
  }
}

/** `assay`: one row per (feature, sample). */
export function meltAssay(page: DataPage, out: TableRows): void {
  const dataset = 'assay';
  expectTable(out, 'assay');
  checkShape(page, dataset);
  const ids = rowIds(page, dataset);
  const kind = page.headers[0] ?? null;
  const rowNumber = out.column('row_number');
  const featureId = out.column('feature_id');
  const featureKind = out.column('feature_kind');
  const sampleId = out.column('sample_id');
  const value = out.column('value');
  const valueText = out.column('value_text');
  for (let r = 0; r < page.rowCount; r++) {
    const n = page.offset + r;
    const id = ids[r] as string | null;
    for (let h = 1; h < page.headers.length; h++) {
      const header = page.headers[h] as string;
      rowNumber.push(n);
      featureId.push(id);
      featureKind.push(kind);
      sampleId.push(header);
      pushMeasured((page.columns[h] as readonly unknown[])[r], value, valueText, dataset, n, header);
    }
  }
}

type DeField = 'gene_symbol' | 'average_expression' | 'log2_fold_change' | 'p_value' | 'adj_p_value';

/** Result column names (normalized: lowercase, alphanumerics only) that map to a DE field. */
const DE_ALIASES: Readonly<Record<DeField, readonly string[]>> = {
  gene_symbol: ['genesymbol', 'gene', 'genename', 'symbol'],
  average_expression: ['averageexpression', 'aveexpr', 'basemean', 'avgexpr', 'avgexpression'],
  log2_fold_change: ['log2foldchange', 'log2fc', 'logfc', 'lfc'],
  p_value: ['pvalue', 'pval'],
  adj_p_value: ['adjpvalue', 'padj', 'adjpval', 'pvaladj', 'fdr', 'qvalue', 'qval'],
};

const DE_FIELD_BY_ALIAS = new Map<string, DeField>(
  (Object.entries(DE_ALIASES) as [DeField, readonly string[]][]).flatMap(([field, aliases]) =>
    aliases.map((alias) => [alias, field] as const),
  ),
);

function deField(header: string): DeField | undefined {
  return DE_FIELD_BY_ALIAS.get(header.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

/** True when the result headers hold a log2 fold change column: the page is differential expression. */
export function isDifferentialExpression(headers: readonly string[]): boolean {
  return headers.some((h) => deField(h) === 'log2_fold_change');
}

function deColumns(headers: readonly string[], dataset: string): Map<DeField, number> {
  const found = new Map<DeField, number>();
  headers.forEach((header, i) => {
    const field = deField(header);
    if (field === undefined) return;
    const previous = found.get(field);
    if (previous !== undefined) {
      throw new ContractError(
        `${dataset}: headers "${headers[previous]}" and "${header}" both map to differential_expression.${field}`,
      );
    }
    found.set(field, i);
  });
  return found;
}

export interface ResultsContext {
  readonly plotId: string;
  readonly analysisId: string | null;
  readonly analysisType: string | null;
  readonly pipelineVersion: string | null;
}

/**
 * `results`: one row per (result row, column). With `outDe`, a page whose headers hold a log2 fold
 * change column also yields one `differential_expression` row per result row.
 */
export function meltResults(
  page: DataPage,
  ctx: ResultsContext,
  outResults: TableRows,
  outDe?: TableRows,
): void {
  const dataset = `plot:${ctx.plotId}`;
  expectTable(outResults, 'results');
  checkShape(page, dataset);
  const ids = rowIds(page, dataset);
  // Checked first: ambiguous DE headers refuse the page before any of its rows is appended.
  const deMapping =
    outDe !== undefined && isDifferentialExpression(page.headers)
      ? deColumns(page.headers, dataset)
      : undefined;
  if (outDe !== undefined) expectTable(outDe, 'differential_expression');
  const plotId = outResults.column('plot_id');
  const analysisId = outResults.column('analysis_id');
  const analysisType = outResults.column('analysis_type');
  const rowNumber = outResults.column('row_number');
  const featureId = outResults.column('feature_id');
  const columnName = outResults.column('column_name');
  const value = outResults.column('value');
  const valueText = outResults.column('value_text');
  for (let r = 0; r < page.rowCount; r++) {
    const n = page.offset + r;
    const id = ids[r] as string | null;
    for (let h = 1; h < page.headers.length; h++) {
      const header = page.headers[h] as string;
      plotId.push(ctx.plotId);
      analysisId.push(ctx.analysisId);
      analysisType.push(ctx.analysisType);
      rowNumber.push(n);
      featureId.push(id);
      columnName.push(header);
      pushMeasured((page.columns[h] as readonly unknown[])[r], value, valueText, dataset, n, header);
    }
  }
  if (outDe !== undefined && deMapping !== undefined) meltDe(page, ctx, ids, deMapping, dataset, outDe);
}

function meltDe(
  page: DataPage,
  ctx: ResultsContext,
  ids: readonly (string | null)[],
  mapped: ReadonlyMap<DeField, number>,
  dataset: string,
  out: TableRows,
): void {
  const cellsOf = (field: DeField) => {
    const i = mapped.get(field);
    return i === undefined ? undefined : (page.columns[i] as readonly unknown[]);
  };
  const numberColumn = (field: Exclude<DeField, 'gene_symbol'>) => {
    const cells = cellsOf(field);
    const target = out.column(field);
    for (let r = 0; r < page.rowCount; r++) target.push(cells === undefined ? null : cellNumber(cells[r]));
  };
  const genes = cellsOf('gene_symbol');
  const geneHeader = page.headers[mapped.get('gene_symbol') ?? 0] as string;
  const plotId = out.column('plot_id');
  const analysisId = out.column('analysis_id');
  const analysisType = out.column('analysis_type');
  const featureId = out.column('feature_id');
  const geneSymbol = out.column('gene_symbol');
  const pipelineVersion = out.column('pipeline_version');
  for (let r = 0; r < page.rowCount; r++) {
    plotId.push(ctx.plotId);
    analysisId.push(ctx.analysisId);
    analysisType.push(ctx.analysisType);
    featureId.push(ids[r] as string | null);
    geneSymbol.push(genes === undefined ? null : cellText(genes[r], dataset, page.offset + r, geneHeader));
    pipelineVersion.push(ctx.pipelineVersion);
  }
  numberColumn('average_expression');
  numberColumn('log2_fold_change');
  numberColumn('p_value');
  numberColumn('adj_p_value');
}

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?$/i;

/**
 * Epoch milliseconds (UTC) of an ISO 8601 date or date-time; no zone designator means UTC.
 * Absent or blank gives null; any other text that is not a valid instant is a ContractError.
 */
export function parseTimestamp(text: string | null | undefined, what: string): number | null {
  if (text === null || text === undefined || text.trim() === '') return null;
  const m = ISO_TIMESTAMP.exec(text.trim());
  const invalid = () => new ContractError(`${what}: "${text}" is not an ISO 8601 timestamp`);
  if (m === null) throw invalid();
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((part) =>
    part === undefined ? 0 : Number(part),
  ) as [number, number, number, number, number, number];
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  const exact =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  if (!exact) throw invalid();
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (hours > 23 || minutes > 59) throw invalid();
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
  }
  return date.getTime() - offsetMinutes * 60_000;
}

/** JSON text of an API object as returned; LosslessNumbers keep their exact digits. */
function rawJson(value: unknown): string {
  if (value instanceof LosslessNumber) return value.text;
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined || typeof item === 'function' ? 'null' : rawJson(item))).join(',')}]`;
  }
  if (value !== null && typeof value === 'object' && !('toJSON' in value)) {
    const members = Object.entries(value)
      .filter(([, item]) => item !== undefined && typeof item !== 'function')
      .map(([key, item]) => `${JSON.stringify(key)}:${rawJson(item)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

type Person = { first_name?: string | null; last_name?: string | null } | null | undefined;

function personName(person: Person): string | null {
  const name = [person?.first_name, person?.last_name]
    .map((part) => part?.trim() ?? '')
    .filter((part) => part !== '')
    .join(' ');
  return name === '' ? null : name;
}

function contractRow(table: TableName, row: ContractRow): ContractRow {
  checkRow(table, row);
  return row;
}

export interface ExperimentExtras {
  readonly projectId: string | null;
  readonly sampleRows: number;
  readonly assayRows: number;
  readonly runId: string;
  readonly exportedAt: Date;
}

/** The `experiments` row of an experiment, for `TableRows.appendRow`. */
export function experimentRow(experiment: PlutoExperiment, extras: ExperimentExtras): ContractRow {
  return contractRow('experiments', {
    project_id: extras.projectId,
    name: experiment.name ?? null,
    uuid: experiment.uuid ?? null,
    description: experiment.description ?? null,
    is_archived: experiment.is_archived ?? null,
    organism: experiment.organism?.shortname ?? null,
    genome_build: experiment.organism?.genome_build ?? null,
    experiment_type: experiment.type?.shortname ?? null,
    status: experiment.status ?? null,
    share_level: experiment.share_level ?? null,
    assay_data_units: experiment.assay_data_units?.units?.shortname ?? null,
    plot_count: experiment.plot_count ?? null,
    owner_name: personName(experiment.experiment_owner),
    created_by_name: personName(experiment.created_by),
    created_at: parseTimestamp(experiment.created_at, `experiment ${experiment.pluto_id} created_at`),
    sample_rows: extras.sampleRows,
    assay_rows: extras.assayRows,
    run_id: extras.runId,
    exported_at: extras.exportedAt.getTime(),
    raw_json: rawJson(experiment),
  });
}

function idText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value instanceof LosslessNumber) return value.text;
  return null;
}

/** The analysis a plot shows; several plots can share one. */
export const analysisIdOf = (plot: PlutoPlot): string | null =>
  idText(plot.analysis?.uuid) ?? idText(plot.analysis?.id);

/** The `plots` row of a plot; `resultRows` is the API count of its data, null when not exported. */
export function plotRow(plot: PlutoPlot, resultRows: number | null): ContractRow {
  const analysis = plot.analysis;
  return contractRow('plots', {
    plot_id: plot.uuid,
    analysis_id: analysisIdOf(plot),
    analysis_type: plot.analysis_type ?? null,
    analysis_name: analysis?.name ?? null,
    display_type: plot.display?.display_type ?? null,
    plot_title: plot.display?.plot_title ?? null,
    status: plot.status ?? null,
    pipeline_status: analysis?.pipeline_status ?? null,
    pipeline_version: idText(analysis?.pipeline_version),
    share_level: plot.share_level ?? null,
    is_archived: plot.display?.is_archived ?? null,
    result_rows: resultRows,
    raw_json: rawJson(plot),
  });
}

export interface ProjectExtras {
  readonly runId: string;
  readonly exportedAt: Date;
}

/** The `projects` row of a project. */
export function projectRow(project: PlutoProject, extras: ProjectExtras): ContractRow {
  return contractRow('projects', {
    uuid: project.uuid ?? null,
    name: project.name ?? null,
    description: project.description ?? null,
    owner_name: personName(project.owner),
    share_level: project.share_level ?? null,
    is_archived: project.is_archived ?? null,
    experiments_count: project.experiments_count ?? null,
    created_at: parseTimestamp(project.created_at, `project ${project.pluto_id ?? project.uuid} created_at`),
    run_id: extras.runId,
    exported_at: extras.exportedAt.getTime(),
    raw_json: rawJson(project),
  });
}

/**
 * The `analyses` row of one analysis: from the analysis object when Pluto served it, else from
 * what the (first) plot showing it carries.
 */
export function analysisRow(
  analysisId: string,
  plots: readonly PlutoPlot[],
  analysis: PlutoAnalysis | undefined,
): ContractRow {
  const fromPlot = plots[0]?.analysis;
  const version = analysis === undefined ? fromPlot?.pipeline_version : analysis.pipeline_version;
  return contractRow('analyses', {
    analysis_id: analysisId,
    analysis_type: (analysis === undefined ? plots[0]?.analysis_type : analysis.analysis_type) ?? null,
    name: (analysis === undefined ? fromPlot?.name : analysis.name) ?? null,
    pipeline_version: idText(version),
    pipeline_status: (analysis === undefined ? fromPlot?.pipeline_status : analysis.pipeline_status) ?? null,
    methods: analysis?.methods ?? null,
    parameters:
      analysis?.parameters === undefined || analysis.parameters === null
        ? null
        : rawJson(analysis.parameters),
    created_at: parseTimestamp(analysis?.created_at, `analysis ${analysisId} created_at`),
    plot_ids: JSON.stringify(plots.map((plot) => plot.uuid)),
    source: analysis === undefined ? 'plot' : 'analysis',
    raw_json: rawJson(analysis ?? fromPlot ?? null),
  });
}

/** How a file of the inventory fared: copied to `lakeKey`, skipped or failed with a reason, or not asked for. */
export type FileCopy =
  | { readonly status: 'copied'; readonly lakeKey: string }
  | { readonly status: 'skipped' | 'failed'; readonly detail: string }
  | { readonly status: 'not_requested' };

export const fileNameOf = (file: PlutoFile): string | null =>
  file.item.filename ?? file.item.file_name ?? null;
export const fileSizeOf = (file: PlutoFile): number | null => file.item.file_size ?? file.item.size ?? null;

/** The `files` row of one inventory item. */
export function fileRow(file: PlutoFile, copy: FileCopy): ContractRow {
  return contractRow('files', {
    file_id: file.item.uuid,
    data_type: file.dataType,
    file_name: fileNameOf(file),
    size_bytes: fileSizeOf(file),
    checksum: file.item.checksum ?? file.item.md5 ?? null,
    created_at: parseTimestamp(file.item.created_at, `file ${file.item.uuid} created_at`),
    copy_status: copy.status,
    copy_detail: copy.status === 'skipped' || copy.status === 'failed' ? copy.detail : null,
    lake_key: copy.status === 'copied' ? copy.lakeKey : null,
    raw_json: rawJson(file.item),
  });
}
