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
  'ExperimentsPartial',
  'ExperimentsUnchanged',
  'ExperimentsSkipped',
  'ExperimentsFailed',
] as const;
export type ExportMetricName = (typeof EXPORT_METRICS)[number];

/** What a finished run reports for each experiment outcome: every outcome has its metric. */
export const OUTCOME_METRICS: Readonly<Record<ExperimentStatus, ExportMetricName>> = {
  exported: 'ExperimentsExported',
  partial: 'ExperimentsPartial',
  unchanged: 'ExperimentsUnchanged',
  skipped: 'ExperimentsSkipped',
  failed: 'ExperimentsFailed',
};
