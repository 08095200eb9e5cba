/**
 * The CloudWatch metrics the functions emit and the dashboard and alarms read: one list, so
 * neither side can name a metric the other does not know.
 */
import type { ExperimentStatus } from './records.js';

export const METRICS_NAMESPACE = 'PlutoExport';

export const EXPORT_METRICS = [
  'RowsExported',
  'PartsWritten',
  'BytesWritten',
  'PlutoRetries',
  'ExperimentsExported',
  'ExperimentsUnchanged',
  'ExperimentsSkipped',
  'ExperimentsFailed',
] as const;
export type ExportMetricName = (typeof EXPORT_METRICS)[number];

/** What FinalizeRun reports for each experiment outcome of a run. */
export const OUTCOME_METRICS: Readonly<Partial<Record<ExperimentStatus, ExportMetricName>>> = {
  exported: 'ExperimentsExported',
  unchanged: 'ExperimentsUnchanged',
  skipped: 'ExperimentsSkipped',
  failed: 'ExperimentsFailed',
};
