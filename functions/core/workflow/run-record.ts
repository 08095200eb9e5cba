/**
 * A run's record: the export_log partition, the report and the manifest, written from the commit
 * records of its experiments, by FinalizeRun or, for a run that ended otherwise, by closeEndedRun.
 */
import { mapConcurrent } from '../concurrency.js';
import { EXPERIMENT_TABLES, TABLE_NAMES } from '../contract.js';
import { type KnownParts, publishCurrentLists } from '../current-list.js';
import {
  commitRecordKey,
  exportLogPartKey,
  itemsKey,
  manifestKey,
  partitionLocation,
  reportKey,
} from '../layout.js';
import { TableRows } from '../melt.js';
import { tableSchemaFingerprint } from '../parquet.js';
import { replacePart } from '../publish-part.js';
import {
  type CommitRecord,
  commitRecordSchema,
  type ErrorInfo,
  type ExperimentCounts,
  encodeJson,
  encodeText,
  type Manifest,
  type PartInfo,
  readJson,
} from '../records.js';
import type { StepDeps } from './deps.js';
import { type ExperimentItem, experimentItemSchema } from './messages.js';
import { renderRunReport } from './report.js';

const RECORD_READS_IN_FLIGHT = 32;
export const NO_COUNTS: ExperimentCounts = { exported: 0, partial: 0, unchanged: 0, skipped: 0, failed: 0 };

/** What publishing a run's record needs: no Pluto, so the failure guard can do it too. */
export type RecordDeps = Pick<StepDeps, 'store' | 'catalog' | 'clock' | 'settings'>;

export interface RunOutcome {
  readonly status: Manifest['status'];
  readonly error?: ErrorInfo;
  readonly startedAt: string;
}

export function readItems(deps: RecordDeps, runId: string): Promise<ExperimentItem[] | undefined> {
  return readJson(deps.store, itemsKey(runId), experimentItemSchema.array());
}

/** The commit record of each item; `absent` decides what an item without one becomes. */
export async function readOutcomes(
  deps: RecordDeps,
  runId: string,
  items: readonly ExperimentItem[],
  absent: (item: ExperimentItem) => CommitRecord | undefined,
): Promise<CommitRecord[]> {
  // One object per experiment: read many at once, or 10,000 experiments take minutes on S3.
  const records = await mapConcurrent(items, RECORD_READS_IN_FLIGHT, async (item) => {
    const record = await readJson(deps.store, commitRecordKey(runId, item.experimentId), commitRecordSchema);
    return record ?? absent(item);
  });
  return records.filter((record): record is CommitRecord => record !== undefined);
}

/**
 * The export_log partition, the report and the manifest of a run, from its commit records. A
 * failed or interrupted run gets them too, so that what it committed (published experiment by
 * experiment) is on record; a resumed run replaces them when it ends.
 */
export async function publishRunRecord(
  runId: string,
  records: readonly CommitRecord[],
  outcome: RunOutcome,
  deps: RecordDeps,
): Promise<Manifest> {
  const exportLog = await writeExportLog(runId, records, deps);
  const counts = { ...NO_COUNTS };
  for (const record of records) counts[record.status]++;
  const manifest: Manifest = {
    runId,
    codeVersion: deps.settings.codeVersion,
    status: outcome.status,
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
    startedAt: outcome.startedAt,
    finishedAt: deps.clock.now().toISOString(),
    schemaFingerprints: Object.fromEntries(
      TABLE_NAMES.map((table) => [table, tableSchemaFingerprint(table)]),
    ),
    counts,
    exportLog,
    experiments: [...records],
  };
  // Before the manifest: a retried FinalizeRun that finds the manifest does nothing more.
  await publishCurrentLists(deps, publishedBy(runId, records, exportLog));
  await deps.store.put(reportKey(runId), encodeText(renderRunReport(manifest)));
  await deps.store.put(manifestKey(runId), encodeJson(manifest));
  return manifest;
}

/** The folders this run's commits pointed at, with every part in them, and its export_log part. */
function publishedBy(runId: string, records: readonly CommitRecord[], exportLog: PartInfo): KnownParts {
  const committed = records.filter(
    (record) => record.runId === runId && (record.status === 'exported' || record.status === 'partial'),
  );
  return {
    folders: new Set([
      partitionLocation('export_log', runId),
      ...committed.flatMap((record) =>
        EXPERIMENT_TABLES.map((table) => partitionLocation(table, record.experimentId, runId)),
      ),
    ]),
    parts: [exportLog, ...committed.flatMap((record) => record.datasets.flatMap((dataset) => dataset.parts))],
  };
}

async function writeExportLog(
  runId: string,
  records: readonly CommitRecord[],
  deps: RecordDeps,
): Promise<PartInfo> {
  const rows = new TableRows('export_log');
  for (const record of records) {
    const started = Date.parse(record.startedAt);
    const finished = Date.parse(record.finishedAt);
    const datasets = record.datasets.length > 0 ? record.datasets : [undefined];
    for (const dataset of datasets) {
      const error = dataset?.error ?? record.error;
      rows.appendRow({
        experiment_id: record.experimentId,
        dataset: dataset?.dataset ?? 'experiment',
        plot_id: dataset?.plotId ?? null,
        // The experiment's own row carries the experiment's status: exported or partial.
        status: dataset === undefined || dataset.dataset === 'experiment' ? record.status : dataset.status,
        api_count: dataset?.apiCount ?? null,
        rows_written: dataset?.rowsWritten ?? 0,
        parts: dataset?.parts.length ?? 0,
        bytes: dataset?.parts.reduce((sum, part) => sum + part.bytes, 0) ?? 0,
        error_code: error ? (error.code ?? error.name) : null,
        error_detail: error ? (error.detail ?? error.message) : null,
        error_details: error?.details ?? null,
        started_at: started,
        finished_at: finished,
      });
    }
  }
  const part = await replacePart(deps.store, exportLogPartKey(runId), rows);
  await deps.catalog.putPartitions([
    { table: 'export_log', partitionValue: runId, runId, location: partitionLocation('export_log', runId) },
  ]);
  return part;
}
