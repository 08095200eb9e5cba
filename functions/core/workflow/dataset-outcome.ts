/** How a failure while reading one dataset (sample data, assay data, a plot) bears on its experiment. */
import { FileTooLargeError, PlutoExportError, PlutoNoTableError, SKIPPING_ERROR_NAMES } from '../errors.js';
import type { DatasetKind } from '../pluto/model.js';
import { isRunFatal } from './run-abort.js';

/**
 * What an error while reading one dataset means for it: `no_data` when a plot has no table,
 * `skipped` when Pluto refuses a plot,
 * `failed` when it breaks for good (not retryable, not run-wide), and undefined when it is the
 * experiment's or the run's to handle: a transient fault (the workflow retries the step), a
 * run-fatal error, or a refusal of sample or assay data, which means the experiment itself is refused.
 */
export function datasetOutcomeOf(
  error: unknown,
  kind: DatasetKind,
): 'no_data' | 'skipped' | 'failed' | undefined {
  if (!(error instanceof PlutoExportError) || error.retryable || isRunFatal(error.name)) return undefined;
  if (error instanceof PlutoNoTableError) return kind === 'results' ? 'no_data' : 'failed';
  if (!(SKIPPING_ERROR_NAMES as readonly string[]).includes(error.name)) return 'failed';
  return kind === 'results' ? 'skipped' : undefined;
}

/**
 * What an error while copying one file means for it: `skipped` when it is over the size cap or
 * Pluto refuses it, `failed` when it breaks for good, undefined when the workflow should retry
 * (a broken download) or the run must stop.
 */
export function fileOutcomeOf(error: unknown): 'skipped' | 'failed' | undefined {
  if (!(error instanceof PlutoExportError) || error.retryable || isRunFatal(error.name)) return undefined;
  if (error instanceof FileTooLargeError) return 'skipped';
  return (SKIPPING_ERROR_NAMES as readonly string[]).includes(error.name) ? 'skipped' : 'failed';
}
