/**
 * FinalizeRun: turns the experiments' commit records into export_log rows and the run manifest
 * (written last: its presence means the run is over), then releases the lease.
 */
import { mapConcurrent } from '../concurrency.js';
import { EXPERIMENT_TABLES, TABLE_NAMES } from '../contract.js';
import { SKIPPING_ERROR_NAMES } from '../errors.js';
import {
  commitRecordKey,
  exportLogPartKey,
  itemsKey,
  manifestKey,
  partitionLocation,
  reportKey,
} from '../layout.js';
import { releaseLease } from '../lease.js';
import { TableRows } from '../melt.js';
import { tableSchemaFingerprint } from '../parquet.js';
import { publishPart } from '../publish-part.js';
import {
  type CommitRecord,
  commitRecordSchema,
  encodeJson,
  type Manifest,
  manifestSchema,
  type PartInfo,
  parseCause,
  readJson,
} from '../records.js';
import { removeSupersededRuns } from '../retention.js';
import type { StepDeps } from './deps.js';
import { experimentItemSchema, type FinalizeInput, type FinalizeOutput } from './messages.js';
import { renderRunReport } from './report.js';
import { endIfRunAborted } from './run-abort.js';

const RECORD_READS_IN_FLIGHT = 32;
const NO_COUNTS = { exported: 0, unchanged: 0, skipped: 0, failed: 0 };

export async function finalizeRun(input: FinalizeInput, deps: StepDeps): Promise<FinalizeOutput> {
  const { runId } = input;
  if (input.status === 'leased') return { runId, status: 'leased', experiments: NO_COUNTS };

  const existing = await readJson(deps.store, manifestKey(runId), manifestSchema);
  if (existing !== undefined) {
    // A retry after the manifest was written may find the lease still held.
    await releaseLease(deps.store, runId);
    return summary(existing);
  }
  await endIfRunAborted(runId, deps);

  const items = (await readJson(deps.store, itemsKey(runId), experimentItemSchema.array())) ?? [];
  // One object per experiment: read many at once, or 10,000 experiments take minutes on S3.
  const records: CommitRecord[] = await mapConcurrent(items, RECORD_READS_IN_FLIGHT, async (item) => {
    const record = await readJson(deps.store, commitRecordKey(runId, item.experimentId), commitRecordSchema);
    return record ?? missingRecord(runId, item.experimentId, item.projectId, deps.clock.now());
  });

  records.push(...(await settleMissingExperiments(input, records, deps)));

  const exportLog = await writeExportLog(runId, records, deps);
  const counts = { ...NO_COUNTS };
  for (const record of records) counts[record.status]++;
  // Set when the ExportExperiments map itself failed: what committed stays, but the run failed.
  const failure =
    input.failure === undefined ? undefined : parseCause(input.failure.Error, input.failure.Cause);
  const manifest: Manifest = {
    runId,
    codeVersion: deps.settings.codeVersion,
    status: failure === undefined ? 'committed' : 'failed',
    ...(failure === undefined ? {} : { error: failure }),
    startedAt: input.startedAt,
    finishedAt: deps.clock.now().toISOString(),
    schemaFingerprints: Object.fromEntries(
      TABLE_NAMES.map((table) => [table, tableSchemaFingerprint(table)]),
    ),
    counts,
    exportLog,
    experiments: records,
  };
  await deps.store.put(reportKey(runId), new TextEncoder().encode(renderRunReport(manifest)));
  await deps.store.putIfAbsent(manifestKey(runId), encodeJson(manifest));
  // Still under the lease, so no other run repoints while superseded folders are judged.
  await removeSupersededRuns({
    store: deps.store,
    catalog: deps.catalog,
    clock: deps.clock,
    graceMs: deps.settings.supersededRunGraceMs,
  });
  await releaseLease(deps.store, runId);
  return summary(manifest);
}

function summary(manifest: Manifest): FinalizeOutput {
  return {
    runId: manifest.runId,
    status: manifest.status,
    manifestKey: manifestKey(manifest.runId),
    experiments: manifest.counts,
  };
}

/**
 * Committed experiments that Pluto no longer lists (only knowable when the listing was not
 * filtered) are recorded as skipped; with `retire`, they and refused ones lose their pointers.
 */
async function settleMissingExperiments(
  input: FinalizeInput,
  records: CommitRecord[],
  deps: StepDeps,
): Promise<CommitRecord[]> {
  const now = deps.clock.now().toISOString();
  const retire = input.missingExperiments === 'retire';
  const listed = new Set(records.map((record) => record.experimentId));
  const missing: CommitRecord[] = [];
  for (const pointer of input.listedAll ? await deps.catalog.listPartitions('experiments') : []) {
    if (listed.has(pointer.partitionValue)) continue;
    const record: CommitRecord = {
      runId: input.runId,
      experimentId: pointer.partitionValue,
      projectId: null,
      status: 'skipped',
      startedAt: now,
      finishedAt: now,
      datasets: [],
      ...(retire ? { retired: true } : {}),
      error: {
        name: 'ExperimentNotListedError',
        message: retire
          ? `Pluto no longer lists this experiment for the token; retired (its last commit, run ${pointer.runId}, is no longer queryable)`
          : `Pluto no longer lists this experiment for the token; its last commit (run ${pointer.runId}) is kept`,
      },
    };
    await deps.store.putIfAbsent(commitRecordKey(input.runId, record.experimentId), encodeJson(record));
    missing.push(record);
  }
  if (retire) {
    const refused = records.filter(
      (r) =>
        r.status === 'skipped' &&
        r.error &&
        (SKIPPING_ERROR_NAMES as readonly string[]).includes(r.error.name),
    );
    for (const record of [...missing, ...refused]) {
      if ((await deps.catalog.getPartition('experiments', record.experimentId)) === undefined) continue;
      for (const table of EXPERIMENT_TABLES)
        await deps.catalog.deletePartitions(table, [record.experimentId]);
      record.retired = true;
    }
  }
  return missing;
}

/** An experiment whose child execution ended without any record still gets a row: nothing vanishes. */
function missingRecord(
  runId: string,
  experimentId: string,
  projectId: string | null,
  now: Date,
): CommitRecord {
  return {
    runId,
    experimentId,
    projectId,
    status: 'failed',
    startedAt: now.toISOString(),
    finishedAt: now.toISOString(),
    datasets: [],
    error: {
      name: 'MissingCommitRecordError',
      message: 'The experiment ended without a commit or failure record',
    },
  };
}

async function writeExportLog(
  runId: string,
  records: readonly CommitRecord[],
  deps: StepDeps,
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
        status: dataset?.status ?? record.status,
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
  const { part } = await publishPart(deps.store, exportLogPartKey(runId), rows);
  await deps.catalog.putPartitions([
    { table: 'export_log', partitionValue: runId, runId, location: partitionLocation('export_log', runId) },
  ]);
  return part;
}
