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
}

export const DEFAULT_LIMITS: ExportLimits = {
  maxExperimentsPerRun: 100_000,
  maxRowsPerDataset: 50_000_000,
  maxSlotsPerExperiment: 20_000,
};

/** Throws `LimitExceededError` naming the ceiling and the setting that raises it. */
export function checkLimit(value: number, limit: number, what: string, setting: string): void {
  if (value > limit) {
    throw new LimitExceededError(`${what}: ${value} is more than the limit of ${limit} (setting ${setting})`);
  }
}
