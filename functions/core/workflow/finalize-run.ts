/**
 * FinalizeRun: turns the experiments' commit records into export_log rows and the run manifest
 * (written last: its presence means the run is over), then releases the lease.
 */
import { EXPERIMENT_TABLES } from '../contract.js';
import { PlutoExportError, SKIPPING_ERROR_NAMES } from '../errors.js';
import { readManifest } from '../history.js';
import { commitRecordKey, manifestKey, rejectedItemsKey } from '../layout.js';
import { releaseLease } from '../lease.js';
import {
  type CommitRecord,
  encodeJson,
  type Manifest,
  parseCause,
  readJson,
  rejectedItemSchema,
} from '../records.js';
import { removeSupersededRuns } from '../retention.js';
import type { StepDeps } from './deps.js';
import type { FinalizeInput, FinalizeOutput } from './messages.js';
import { endIfRunAborted } from './run-abort.js';
import { NO_COUNTS, publishRunRecord, readItems, readOutcomes } from './run-record.js';

export async function finalizeRun(input: FinalizeInput, deps: StepDeps): Promise<FinalizeOutput> {
  const { runId, execution } = input;
  if (input.status === 'leased') return { runId, status: 'leased', experiments: NO_COUNTS };
  try {
    return await finalize(input, deps);
  } catch (error) {
    // A retry may still finish the run under its lease; anything else would keep the lake
    // blocked until the lease expires.
    if (!(error instanceof PlutoExportError && error.retryable)) {
      await releaseLease(deps.store, runId, execution).catch(() => undefined);
    }
    throw error;
  }
}

async function finalize(input: FinalizeInput, deps: StepDeps): Promise<FinalizeOutput> {
  const { runId, execution } = input;

  const existing = await readManifest(deps.store, runId);
  if (existing?.status === 'committed') {
    // A retry after the manifest was written may find the lease still held.
    await releaseLease(deps.store, runId, execution);
    return summary(existing, 'committed');
  }
  await endIfRunAborted(input, deps);

  const items = (await readItems(deps, runId)) ?? [];
  const records = await readOutcomes(deps, runId, items, (item) =>
    missingRecord(runId, item.experimentId, item.projectId, deps.clock.now()),
  );
  records.push(...(await rejectedRecords(runId, deps)));
  records.push(...(await settleMissingExperiments(input, records, deps)));

  // Set when the ExportExperiments map itself failed: what committed stays, but the run failed.
  const failure =
    input.failure === undefined ? undefined : parseCause(input.failure.Error, input.failure.Cause);
  const status = failure === undefined ? 'committed' : 'failed';
  const manifest = await publishRunRecord(
    runId,
    records,
    { status, ...(failure === undefined ? {} : { error: failure }), startedAt: input.startedAt },
    deps,
  );
  deps.progress?.runFinished?.({ runId, status, experiments: manifest.counts });
  // Still under the lease, so no other run repoints while superseded folders are judged.
  await removeSupersededRuns({
    store: deps.store,
    catalog: deps.catalog,
    clock: deps.clock,
    graceMs: deps.settings.supersededRunGraceMs,
  });
  await releaseLease(deps.store, runId, execution);
  return summary(manifest, status);
}

function summary(manifest: Manifest, status: FinalizeOutput['status']): FinalizeOutput {
  return {
    runId: manifest.runId,
    status,
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

/** Listed experiments whose ids could not be keys: failed, under their printable id. */
async function rejectedRecords(runId: string, deps: StepDeps): Promise<CommitRecord[]> {
  const rejected = (await readJson(deps.store, rejectedItemsKey(runId), rejectedItemSchema.array())) ?? [];
  const now = deps.clock.now().toISOString();
  return rejected.map((item) => ({
    runId,
    experimentId: item.shownId,
    projectId: item.projectId,
    status: 'failed',
    startedAt: now,
    finishedAt: now,
    datasets: [],
    error: item.error,
  }));
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
