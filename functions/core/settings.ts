/**
 * Every tunable of an export, with its default and upper bound. The CLI options, the deploy
 * configuration and the Lambda environment are all parsed against these, so a default has one home.
 */
import { z } from 'zod';
import { idSchema } from './ids.js';
import type { ExportLimits } from './limits.js';
import { CODE_VERSION } from './version.js';

export const SETTINGS = {
  /** Target Parquet rows per part; a slot covers as many API rows as give about this many tidy rows. */
  rowsPerPart: { default: 1_000_000, max: 50_000_000 },
  /** `limit` of each data page request (Pluto's R client uses 10,000). */
  pageSize: { default: 10_000, max: 100_000 },
  /**
   * Rows per Parquet row group: a part is written a row group at a time, and readers (Athena,
   * DuckDB) skip row groups by their statistics and split work by them.
   */
  rowGroupRows: { default: 131_072, max: 1_048_576 },
  /** Data pages requested ahead of the one being melted and encoded (0: fetch only when needed). */
  prefetchPages: { default: 1, max: 8 },
  /** How long a run's lease keeps other runs out if the run dies without releasing it. */
  leaseTtlSeconds: { default: 12 * 3600, max: 7 * 24 * 3600 },
  /** Days a superseded run's data stays after the run that replaced it (readers may still hold it). */
  supersededRunGraceDays: { default: 7, max: 3650 },
  /** Bytes of one file to copy; a bigger file is recorded as skipped (S3's own ceiling is 5 TiB). */
  maxFileBytes: { default: 5 * 1024 ** 3, max: 5 * 1024 ** 4 },
} as const;

export const DEFAULT_PLUTO_API_URL = 'https://api.pluto.bio/';

/** What a deployed export copies unless configured otherwise; the CLI copies only what `--files` names. */
export const DEFAULT_COPY_FILE_TYPES: readonly string[] = ['attachment', 'qc_report'];

/**
 * Where a plot's `results` come from: `data` pages through `plots/{id}/data/`, `download` reads the
 * complete CSV behind `plots/{id}/download/`, `auto` reads the download when its header line shows
 * more columns than the data pages (Pluto's R client tests allow the download more columns).
 */
export const RESULTS_SOURCES = ['auto', 'data', 'download'] as const;
export type ResultsSource = (typeof RESULTS_SOURCES)[number];
export const DEFAULT_RESULTS_SOURCE: ResultsSource = 'auto';
export const resultsSourceSchema = z.enum(RESULTS_SOURCES);

/** A data type of Pluto's file inventory: `attachment`, `qc_report`, `bam`, `seurat`, ... */
export const fileTypeSchema = z
  .string()
  .regex(
    /^[a-z0-9_-]{1,64}$/,
    'expected data types such as attachment,qc_report (lowercase letters, digits, _ and -)',
  );

/** `a, b,,c` as `['a', 'b', 'c']`: the lists of options and environment variables. */
export const commaListSchema = z.string().transform((text) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== ''),
);

/** `attachment,qc_report`: the data types whose files are copied. */
export const fileTypeListSchema = commaListSchema.pipe(z.array(fileTypeSchema));

/** Ids given as a comma-separated list, as `--experiments` and `--projects` take them. */
export const idListSchema = commaListSchema.pipe(z.array(idSchema).min(1));

export interface ExportSettings {
  readonly rowsPerPart: number;
  readonly pageSize: number;
  readonly rowGroupRows: number;
  readonly prefetchPages: number;
  readonly leaseTtlMs: number;
  readonly supersededRunGraceMs: number;
  readonly codeVersion: string;
  /** Ceilings on what Pluto's counts may ask for; each missing one takes its default. */
  readonly limits?: Partial<ExportLimits>;
  /** Data types of the file inventory whose files are copied into the lake; none when absent. */
  readonly copyFileTypes?: readonly string[];
  /** Files bigger than this are not copied; `SETTINGS.maxFileBytes.default` when absent. */
  readonly maxFileBytes?: number;
  /** `DEFAULT_RESULTS_SOURCE` when absent. */
  readonly resultsSource?: ResultsSource;
}

export interface SettingsInput {
  readonly rowsPerPart?: number;
  readonly pageSize?: number;
  readonly rowGroupRows?: number;
  readonly prefetchPages?: number;
  readonly leaseTtlSeconds?: number;
  readonly supersededRunGraceDays?: number;
  readonly limits?: Partial<ExportLimits>;
  readonly copyFileTypes?: readonly string[];
  readonly maxFileBytes?: number;
  readonly resultsSource?: ResultsSource;
}

/** The settings a run uses: what was given, the default for the rest. */
export function exportSettings(input: SettingsInput = {}): ExportSettings {
  return {
    rowsPerPart: input.rowsPerPart ?? SETTINGS.rowsPerPart.default,
    pageSize: input.pageSize ?? SETTINGS.pageSize.default,
    rowGroupRows: input.rowGroupRows ?? SETTINGS.rowGroupRows.default,
    prefetchPages: input.prefetchPages ?? SETTINGS.prefetchPages.default,
    leaseTtlMs: (input.leaseTtlSeconds ?? SETTINGS.leaseTtlSeconds.default) * 1000,
    supersededRunGraceMs:
      (input.supersededRunGraceDays ?? SETTINGS.supersededRunGraceDays.default) * 86_400_000,
    codeVersion: CODE_VERSION,
    ...(input.limits === undefined ? {} : { limits: input.limits }),
    ...(input.copyFileTypes === undefined ? {} : { copyFileTypes: input.copyFileTypes }),
    ...(input.maxFileBytes === undefined ? {} : { maxFileBytes: input.maxFileBytes }),
    ...(input.resultsSource === undefined ? {} : { resultsSource: input.resultsSource }),
  };
}
