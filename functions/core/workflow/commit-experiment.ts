/**
 * CommitExperiment: verifies that every planned slot has exactly one receipt and its parts, that
 * rows add up to Pluto's counts and that every part has the contract's schema; writes the
 * metadata parts and the commit record; then repoints the experiment's partitions to this run.
 */
import { EXPERIMENT_TABLES, type TableName } from '../contract.js';
import { CommitVerificationError } from '../errors.js';
import { commitRecordKey, partitionLocation, partKey, planKey, receiptKey, slotsKey } from '../layout.js';
import { experimentRow, plotRow, TableRows } from '../melt.js';
import { tableSchemaFingerprint } from '../parquet.js';
import { experimentSchema, type PlutoExperiment, type PlutoPlot, plotSchema } from '../pluto/model.js';
import type { PartitionPointer } from '../ports.js';
import { publishPart } from '../publish-part.js';
import {
  type CommitRecord,
  commitRecordSchema,
  type DatasetRecord,
  encodeJson,
  type PartInfo,
  type Plan,
  planSchema,
  readJson,
  receiptSchema,
} from '../records.js';
import type { StepDeps } from './deps.js';
import type { CommitInput, CommitOutput, Slot } from './messages.js';
import { slotSchema } from './messages.js';

export async function commitExperiment(input: CommitInput, deps: StepDeps): Promise<CommitOutput> {
  const { store } = deps;
  const { runId, experimentId } = input;
  const recordKey = commitRecordKey(runId, experimentId);
  const committed = await readJson(store, recordKey, commitRecordSchema);
  if (committed !== undefined) {
    await repoint(deps, committed);
    return { runId, experimentId, status: committed.status };
  }

  const plan = await readJson(store, planKey(runId, experimentId), planSchema);
  const slots = await readJson(store, slotsKey(runId, experimentId), slotSchema.array());
  if (plan === undefined || slots === undefined) {
    throw new CommitVerificationError(`${experimentId}: no plan for run ${runId}; it cannot be committed`);
  }

  await ensureStillCurrent(plan, deps);
  const datasets = await verifyDatasets(plan, slots, deps);
  const metadataParts = await writeMetadataParts(plan, deps);
  await removeStrayParts(plan, [...metadataParts, ...datasets.flatMap((d) => d.parts)], deps);

  const record: CommitRecord = {
    runId,
    experimentId,
    projectId: plan.projectId,
    status: 'exported',
    fingerprint: plan.fingerprint,
    ...(plan.previousRunId === undefined ? {} : { previousRunId: plan.previousRunId }),
    startedAt: plan.plannedAt,
    finishedAt: deps.clock.now().toISOString(),
    datasets: [
      ...metadataParts.map((part) => ({
        dataset: part.table === 'experiments' ? 'experiment' : 'plots',
        status: 'exported' as const,
        apiCount: part.table === 'experiments' ? 1 : plan.plots.length,
        rowsWritten: part.rows,
        parts: [part],
      })),
      ...datasets,
    ],
  };
  // The record is the commit point: once it exists, repointing is idempotent and may be retried.
  if (!(await store.putIfAbsent(recordKey, encodeJson(record))).created) {
    const winner = await readJson(store, recordKey, commitRecordSchema);
    if (winner === undefined) throw new CommitVerificationError(`${experimentId}: commit record vanished`);
    await repoint(deps, winner);
    return { runId, experimentId, status: winner.status };
  }
  await repoint(deps, record);
  deps.progress?.experimentFinished?.({
    experimentId,
    status: 'exported',
    rows: record.datasets.reduce((sum, d) => sum + d.rowsWritten, 0),
  });
  return { runId, experimentId, status: 'exported' };
}

/**
 * Optimistic check on the experiments pointer: if another run committed (or retired) the
 * experiment since this run planned it, this run's data is older and must not replace it, as
 * when an aborted run is resumed after a newer one.
 */
async function ensureStillCurrent(plan: Plan, deps: StepDeps): Promise<void> {
  const current = (await deps.catalog.getPartition('experiments', plan.experimentId))?.runId;
  if (current === plan.runId || current === plan.previousRunId) return;
  throw new CommitVerificationError(
    `${plan.experimentId}: run ${current ?? '(retired)'} changed it after run ${plan.runId} planned it; ` +
      'the newer commit is kept',
  );
}

async function verifyDatasets(plan: Plan, slots: readonly Slot[], deps: StepDeps): Promise<DatasetRecord[]> {
  const records: DatasetRecord[] = [];
  for (const dataset of plan.datasets) {
    if (dataset.status === 'skipped') {
      records.push({
        dataset: dataset.dataset,
        ...(dataset.plotId === undefined ? {} : { plotId: dataset.plotId }),
        status: 'skipped',
        apiCount: null,
        rowsWritten: 0,
        parts: [],
        ...(dataset.error === undefined ? {} : { error: dataset.error }),
      });
      continue;
    }
    const datasetSlots = slots.filter((slot) => slot.dataset === dataset.dataset);
    if (datasetSlots.length !== dataset.slotCount) {
      throw new CommitVerificationError(
        `${plan.experimentId} ${dataset.dataset}: planned ${dataset.slotCount} slots, found ${datasetSlots.length}`,
      );
    }
    let apiRows = 0;
    const parts: PartInfo[] = [];
    for (const slot of datasetSlots) {
      const receipt = await readJson(
        deps.store,
        receiptKey(plan.runId, plan.experimentId, slot.dataset, slot.slot),
        receiptSchema,
      );
      if (receipt === undefined) {
        throw new CommitVerificationError(
          `${plan.experimentId} ${slot.dataset} slot ${slot.slot} has no part`,
        );
      }
      apiRows += receipt.apiRows;
      for (const part of receipt.parts) await verifyPart(part, deps);
      parts.push(...receipt.parts);
    }
    if (apiRows !== dataset.count) {
      throw new CommitVerificationError(
        `${plan.experimentId} ${dataset.dataset}: parts hold ${apiRows} API rows, Pluto counted ${dataset.count}`,
      );
    }
    records.push({
      dataset: dataset.dataset,
      ...(dataset.plotId === undefined ? {} : { plotId: dataset.plotId }),
      status: 'exported',
      apiCount: dataset.count,
      rowsWritten: parts
        .filter((part) => part.table !== 'differential_expression')
        .reduce((s, p) => s + p.rows, 0),
      parts,
    });
  }
  return records;
}

async function verifyPart(part: PartInfo, deps: StepDeps): Promise<void> {
  const stored = await deps.store.head(part.key);
  if (stored === undefined || stored.size !== part.bytes) {
    throw new CommitVerificationError(`Part ${part.key} is missing or has the wrong size`);
  }
  if (part.schemaFingerprint !== tableSchemaFingerprint(part.table)) {
    throw new CommitVerificationError(`Part ${part.key} was written with another schema of ${part.table}`);
  }
}

async function writeMetadataParts(plan: Plan, deps: StepDeps): Promise<PartInfo[]> {
  const count = (kind: string) => plan.datasets.find((d) => d.dataset === kind)?.count ?? 0;
  const experiments = new TableRows('experiments');
  experimentSchema.parse(plan.experiment);
  experiments.appendRow(
    experimentRow(plan.experiment as PlutoExperiment, {
      projectId: plan.projectId,
      sampleRows: count('samples'),
      assayRows: count('assay'),
      runId: plan.runId,
      exportedAt: new Date(plan.plannedAt),
    }),
  );
  const plots = new TableRows('plots');
  for (const raw of plan.plots) {
    plotSchema.parse(raw);
    const plot = raw as PlutoPlot;
    const dataset = plan.datasets.find((d) => d.plotId === plot.uuid);
    plots.appendRow(plotRow(plot, dataset?.status === 'planned' ? dataset.count : null));
  }
  const parts: PartInfo[] = [];
  for (const [table, rows, dataset] of [
    ['experiments', experiments, 'experiment'],
    ['plots', plots, 'plots'],
  ] as const) {
    const key = partKey(table, plan.experimentId, plan.runId, dataset, 0);
    parts.push((await publishPart(deps.store, key, rows)).part);
  }
  return parts;
}

/** Parts left by an abandoned plan of this same run would be read as duplicates: they go before the commit. */
async function removeStrayParts(plan: Plan, keep: readonly PartInfo[], deps: StepDeps): Promise<void> {
  const wanted = new Set(keep.map((part) => part.key));
  for (const table of EXPERIMENT_TABLES) {
    for (const object of await deps.store.list(partitionLocation(table, plan.experimentId, plan.runId))) {
      if (!wanted.has(object.key)) await deps.store.delete(object.key);
    }
  }
}

/** Points every table of the experiment at this run; a table this run has no part for is unpointed. */
async function repoint(deps: StepDeps, record: CommitRecord): Promise<void> {
  if (record.status !== 'exported') return;
  const tables = new Set<TableName>(record.datasets.flatMap((d) => d.parts.map((p) => p.table)));
  // The experiments pointer moves last: it is what the next plan compares against, so a crash
  // part-way leaves the experiment looking uncommitted and the replay finishes the job.
  const ordered = [...tables].sort((a, b) => Number(a === 'experiments') - Number(b === 'experiments'));
  const pointers: PartitionPointer[] = ordered.map((table) => ({
    table,
    partitionValue: record.experimentId,
    runId: record.runId,
    location: partitionLocation(table, record.experimentId, record.runId),
  }));
  await deps.catalog.putPartitions(pointers);
  const absent = EXPERIMENT_TABLES.filter((table) => !tables.has(table));
  for (const table of absent) await deps.catalog.deletePartitions(table, [record.experimentId]);
}
