/**
 * The lake contract (design.md, Lake contract), defined once. The Parquet writer, the Glue tables of the stack,
 * the DuckDB views and the README tables are all derived from this module.
 */
export type ColumnType = 'string' | 'double' | 'bigint' | 'int' | 'boolean' | 'timestamp';

export interface ColumnDefinition {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
}

export interface TableDefinition {
  readonly name: TableName;
  readonly description: string;
  readonly columns: readonly ColumnDefinition[];
  /** Hive-style partition key; its value is in the path, not in the Parquet file. */
  readonly partitionKey: 'experiment_id' | 'project_id' | 'run_id';
}

export const TABLE_NAMES = [
  'projects',
  'experiments',
  'samples',
  'assay',
  'plots',
  'results',
  'differential_expression',
  'analyses',
  'files',
  'export_log',
] as const;
export type TableName = (typeof TABLE_NAMES)[number];

const col = (name: string, type: ColumnType, description: string): ColumnDefinition => ({
  name,
  type,
  description,
});

export const TABLES: Readonly<Record<TableName, TableDefinition>> = {
  projects: {
    name: 'projects',
    description: 'One row per project: its metadata as Pluto returned it.',
    // By project: each project's row is replaced on its own, by one pointer flip, only when it changed.
    partitionKey: 'project_id',
    columns: [
      col('uuid', 'string', 'Project uuid'),
      col('name', 'string', 'Project name'),
      col('description', 'string', 'Project description'),
      col('owner_name', 'string', 'owner first and last name'),
      col('share_level', 'string', 'Share level'),
      col('is_archived', 'boolean', 'is_archived'),
      col('experiments_count', 'int', 'experiments_count as reported by Pluto (non-archived experiments)'),
      col('created_at', 'timestamp', 'created_at (UTC)'),
      col('run_id', 'string', 'Run that exported this version'),
      col('exported_at', 'timestamp', 'When the run read this project (UTC)'),
      col('raw_json', 'string', 'The project object exactly as returned, as JSON'),
    ],
  },
  experiments: {
    name: 'experiments',
    description: 'One row per exported experiment: its metadata as Pluto returned it.',
    partitionKey: 'experiment_id',
    columns: [
      col(
        'project_id',
        'string',
        'Project the experiment was listed under; null when listed outside any project',
      ),
      col('name', 'string', 'Experiment name'),
      col('uuid', 'string', 'Experiment uuid'),
      col('description', 'string', 'Experiment description'),
      col('is_archived', 'boolean', 'is_archived'),
      col('organism', 'string', 'organism.shortname'),
      col('genome_build', 'string', 'organism.genome_build, where Pluto gives one'),
      col('experiment_type', 'string', 'type.shortname'),
      col('status', 'string', 'Experiment status'),
      col('share_level', 'string', 'Share level'),
      col('assay_data_units', 'string', 'assay_data_units.units.shortname'),
      col('plot_count', 'int', 'plot_count as reported by Pluto'),
      col('owner_name', 'string', 'experiment_owner first and last name'),
      col('created_by_name', 'string', 'created_by first and last name'),
      col('created_at', 'timestamp', 'created_at (UTC)'),
      col('sample_rows', 'bigint', 'Rows of sample data reported by the API (count)'),
      col('assay_rows', 'bigint', 'Rows of assay data reported by the API (count)'),
      col('run_id', 'string', 'Run that exported this version'),
      col('exported_at', 'timestamp', 'When the run planned this experiment (UTC)'),
      col('raw_json', 'string', 'The experiment object exactly as returned, as JSON'),
    ],
  },
  samples: {
    name: 'samples',
    description: 'Sample metadata, one row per (sample, attribute).',
    partitionKey: 'experiment_id',
    columns: [
      col('row_number', 'bigint', '0-based position of the sample row in API order'),
      col('sample_id', 'string', "Value of the first header (the sample's id)"),
      col('attribute', 'string', 'Header name exactly as returned'),
      col('value', 'string', 'Cell text as returned; null for JSON null'),
      col('value_number', 'double', 'The cell as a number when it is one'),
    ],
  },
  assay: {
    name: 'assay',
    description: 'Assay matrix, one row per (feature, sample).',
    partitionKey: 'experiment_id',
    columns: [
      col('row_number', 'bigint', '0-based position of the feature row in API order'),
      col('feature_id', 'string', 'Value of the first header (e.g. the gene symbol)'),
      col('feature_kind', 'string', 'Name of the first header (e.g. gene_symbol)'),
      col('sample_id', 'string', 'Header name (sample id) exactly as returned'),
      col('value', 'double', 'The cell when it is a finite number'),
      col(
        'value_text',
        'string',
        'The original text whenever value does not hold it exactly (NA, NaN, Inf, text)',
      ),
    ],
  },
  plots: {
    name: 'plots',
    description: 'One row per plot (analysis) of the experiment.',
    partitionKey: 'experiment_id',
    columns: [
      col('plot_id', 'string', 'Plot uuid'),
      col('analysis_id', 'string', 'analysis.uuid (or id) when present'),
      col('analysis_type', 'string', 'analysis_type'),
      col('analysis_name', 'string', 'analysis.name'),
      col('display_type', 'string', 'display.display_type'),
      col('plot_title', 'string', 'display.plot_title'),
      col('status', 'string', 'Plot status'),
      col('pipeline_status', 'string', 'analysis.pipeline_status'),
      col('pipeline_version', 'string', 'analysis.pipeline_version'),
      col('share_level', 'string', 'Share level'),
      col('is_archived', 'boolean', 'display.is_archived'),
      col('result_rows', 'bigint', 'Rows of result data reported by the API (count); null when not exported'),
      col('raw_json', 'string', 'The plot object exactly as returned, as JSON'),
    ],
  },
  results: {
    name: 'results',
    description: 'Analysis results behind every plot, one row per (result row, column).',
    partitionKey: 'experiment_id',
    columns: [
      col('plot_id', 'string', 'Plot uuid'),
      col(
        'analysis_id',
        'string',
        'analysis.uuid of the plot: several plots can show one analysis, so its rows can arrive once per plot',
      ),
      col('analysis_type', 'string', 'analysis_type of the plot'),
      col('row_number', 'bigint', '0-based position of the result row in API order'),
      col('feature_id', 'string', 'Value of the first header'),
      col('column_name', 'string', 'Header name exactly as returned'),
      col('value', 'double', 'The cell when it is a finite number'),
      col('value_text', 'string', 'The original text whenever value does not hold it exactly'),
    ],
  },
  differential_expression: {
    name: 'differential_expression',
    description: 'Differential expression (and binding) results, one row per feature, typed.',
    partitionKey: 'experiment_id',
    columns: [
      col('plot_id', 'string', 'Plot uuid'),
      col(
        'analysis_id',
        'string',
        'analysis.uuid of the plot: several plots can show one analysis, so its rows can arrive once per plot',
      ),
      col('analysis_type', 'string', 'analysis_type of the plot'),
      col('feature_id', 'string', 'Value of the first header (peak_id for differential binding)'),
      col('gene_symbol', 'string', 'Gene symbol'),
      col('average_expression', 'double', 'Average expression'),
      col('log2_fold_change', 'double', 'log2 fold change'),
      col('p_value', 'double', 'p-value'),
      col('adj_p_value', 'double', 'Adjusted p-value'),
      col('pipeline_version', 'string', 'analysis.pipeline_version of the plot'),
    ],
  },
  analyses: {
    name: 'analyses',
    description:
      "One row per analysis behind the experiment's plots: what produced the results, with its parameters.",
    partitionKey: 'experiment_id',
    columns: [
      col('analysis_id', 'string', 'Analysis uuid (plots.analysis_id, results.analysis_id)'),
      col('analysis_type', 'string', 'analysis_type'),
      col('name', 'string', 'Analysis name'),
      col('pipeline_version', 'string', 'pipeline_version'),
      col('pipeline_status', 'string', 'pipeline_status'),
      col('methods', 'string', 'Methods text'),
      col('parameters', 'string', 'Parameters as JSON'),
      col('created_at', 'timestamp', 'created_at (UTC)'),
      col('plot_ids', 'string', 'The plots showing this analysis, as a JSON array'),
      col(
        'source',
        'string',
        'analysis: the analysis object; plot: Pluto did not serve it, so only what the plot carries',
      ),
      col('raw_json', 'string', "The analysis object exactly as returned (or the plot's analysis), as JSON"),
    ],
  },
  files: {
    name: 'files',
    description:
      "The experiment's file inventory, one row per file; lake_key is set when the file was copied.",
    partitionKey: 'experiment_id',
    columns: [
      col('file_id', 'string', 'File uuid'),
      col(
        'data_type',
        'string',
        'The inventory group the file is listed in (attachment, qc_report, bam, seurat, ...)',
      ),
      col('file_name', 'string', 'File name exactly as Pluto gives it'),
      col('size_bytes', 'bigint', 'Size in bytes, where Pluto gives it'),
      col('checksum', 'string', 'Checksum, where Pluto gives one'),
      col('created_at', 'timestamp', 'created_at (UTC)'),
      col(
        'copy_status',
        'string',
        'copied; skipped (over --max-file-bytes, or refused) or failed, with copy_detail; not_requested (its data type was not asked for)',
      ),
      col('copy_detail', 'string', 'Why the file was not copied'),
      col('lake_key', 'string', 'Key of the copy under the lake root, when copied'),
      col('raw_json', 'string', 'The inventory item exactly as returned, as JSON'),
    ],
  },
  export_log: {
    name: 'export_log',
    description: 'One row per (experiment, dataset) per run: what happened and why.',
    partitionKey: 'run_id',
    columns: [
      col('experiment_id', 'string', 'Experiment id'),
      col('dataset', 'string', 'experiment, samples, assay, plots or plot-<uuid> (the results of one plot)'),
      col('plot_id', 'string', 'Plot uuid for result datasets'),
      col(
        'status',
        'string',
        'experiment row: exported, partial, unchanged, skipped or failed; dataset rows: exported, unchanged, no_data, skipped or failed',
      ),
      col('api_count', 'bigint', 'count reported by the API'),
      col('rows_written', 'bigint', 'Parquet rows written'),
      col('parts', 'int', 'Parquet parts written'),
      col('bytes', 'bigint', 'Parquet bytes written'),
      col('error_code', 'string', 'Error class name, or Pluto code'),
      col('error_detail', 'string', "Pluto's detail or the error message"),
      col('error_details', 'string', "Pluto's details (JSON), when its error body had them"),
      col('started_at', 'timestamp', 'When work on the experiment started (UTC)'),
      col('finished_at', 'timestamp', 'When work on the experiment ended (UTC)'),
    ],
  },
};

/** JavaScript value of a cell, by column type. Timestamps are epoch milliseconds (UTC). */
export type CellValue = string | number | bigint | boolean | null;

/** Columnar data for one table: one array per contract column, all the same length. */
export type ColumnarRows = Record<string, CellValue[]>;

/** The tables partitioned by experiment (all but projects and export_log). */
export const EXPERIMENT_TABLES: readonly TableName[] = TABLE_NAMES.filter(
  (table) => TABLES[table].partitionKey === 'experiment_id',
);
