/**
 * Ceilings on the work that Pluto's answers can ask for. A count is Pluto's word, and a count of
 * 10^12 would otherwise plan a million slots; each default sits far above any real organisation
 * (a large assay has about a million features; a lab has thousands of experiments), so only a
 * broken or hostile answer reaches one.
 */
import { LimitExceededError } from './errors.js';

export interface ExportLimits {
  /** Experiments one run may list (a large organisation has a few thousand). */
  readonly maxExperimentsPerRun: number;
  /** Rows Pluto may count for one dataset (a genome-wide assay has under a million). */
  readonly maxRowsPerDataset: number;
  /** Slots one experiment may plan: each is a Map child and a Parquet part per table. */
  readonly maxSlotsPerExperiment: number;
  /** Pages of one list, so a count that keeps growing cannot page forever. */
  readonly maxListPages: number;
  /**
   * Bytes of one response body, decompressed. A request for `limit` rows may use 1 MiB plus 64 KiB
   * per row up to this ceiling, so a one-row probe never reads megabytes.
   */
  readonly maxResponseBytes: number;
}

export const MIB = 1024 * 1024;
/** The highest response cap a configuration may set, in MiB: a body is held in memory once read. */
export const MAX_RESPONSE_MIB_SETTING = 4096;

export const DEFAULT_LIMITS: ExportLimits = {
  maxExperimentsPerRun: 100_000,
  maxRowsPerDataset: 50_000_000,
  maxSlotsPerExperiment: 20_000,
  /** With 1,000 items a page, ten million projects or experiments. */
  maxListPages: 10_000,
  /**
   * A slot's page holds at most about `rowsPerPart` cells (1,000,000 by default), some 30 MB of
   * JSON; four times that leaves room for wide text cells while bounding a Lambda's memory.
   */
  maxResponseBytes: 128 * MIB,
};

/** Throws `LimitExceededError` naming the ceiling and the setting that raises it. */
export function checkLimit(value: number, limit: number, what: string, setting: string): void {
  if (value > limit) {
    throw new LimitExceededError(`${what}: ${value} is more than the limit of ${limit} (setting ${setting})`);
  }
}
