/**
 * CommitExperiment: verifies that every planned slot has exactly one receipt and its parts, that
 * rows add up to Pluto's counts and that every part has the contract's schema; writes the
 * metadata parts and the commit record; then repoints the experiment's partitions to this run.
 */
import { EXPERIMENT_TABLES, type TableName } from '../contract.js';
import { CommitVerificationError, SKIPPING_ERROR_NAMES } from '../errors.js';
import { commitRecordKey, partitionLocation, partKey, planKey, receiptKey, slotsKey } from '../layout.js';
import {
  analysisIdOf,
  analysisRow,
  experimentRow,
  type FileCopy,
  fileRow,
  plotRow,
  TableRows,
} from '../melt.js';
import { tableSchemaFingerprint } from '../parquet.js';
import {
  analysisSchema,
  experimentSchema,
  fileItemSchema,
  type PlutoExperiment,
  type PlutoPlot,
  plotSchema,
} from '../pluto/model.js';
import type { PartitionPointer } from '../ports.js';
import { publishPart } from '../publish-part.js';
import {
  type CommitRecord,
  commitRecordSchema,
  type DatasetRecord,
  type ErrorInfo,
  encodeJson,
  type PartInfo,
  type Plan,
  type PlannedDataset,
  planSchema,
  readJson,
  receiptSchema,
  sha256,
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
  const metadata = await writeMetadataParts(plan, datasets, deps);
  await removeStrayParts(
    plan,
    [...metadata.flatMap((d) => d.parts), ...datasets.flatMap((d) => d.parts)],
    deps,
  );

  const status = [...metadata, ...datasets].some((dataset) => dataset.status === 'failed')
    ? 'partial'
    : 'exported';
  const record: CommitRecord = {
    runId,
    experimentId,
    projectId: plan.projectId,
    status,
    fingerprint: plan.fingerprint,
    ...(plan.previousRunId === undefined ? {} : { previousRunId: plan.previousRunId }),
    startedAt: plan.plannedAt,
    finishedAt: deps.clock.now().toISOString(),
    datasets: [...metadata, ...datasets],
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
    status,
    rows: record.datasets.reduce((sum, d) => sum + d.rowsWritten, 0),
  });
  return { runId, experimentId, status };
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

type DatasetIdentity = Pick<DatasetRecord, 'dataset' | 'plotId' | 'digest' | 'resultsChoice'>;

async function verifyDatasets(plan: Plan, slots: readonly Slot[], deps: StepDeps): Promise<DatasetRecord[]> {
  const records: DatasetRecord[] = [];
  for (const dataset of plan.datasets) {
    const identity = {
      dataset: dataset.dataset,
      ...(dataset.plotId === undefined ? {} : { plotId: dataset.plotId }),
      ...(dataset.digest === undefined ? {} : { digest: dataset.digest }),
      ...(dataset.resultsChoice === undefined ? {} : { resultsChoice: dataset.resultsChoice }),
    };
    if (dataset.status === 'no_data' || dataset.status === 'skipped' || dataset.status === 'failed') {
      records.push(notWritten(identity, dataset.status, dataset.error));
      continue;
    }
    if (dataset.status === 'carried') {
      const carried = await carryParts(plan, dataset, deps);
      records.push({ ...identity, status: 'unchanged', ...carried });
      continue;
    }
    const datasetSlots = slots.filter((slot) => slot.dataset === dataset.dataset);
    if (dataset.kind === 'file') {
      records.push(await verifyFileCopy(plan, dataset, identity, datasetSlots, deps));
      continue;
    }
    if (datasetSlots.length !== dataset.slotCount) {
      throw new CommitVerificationError(
        `${plan.experimentId} ${dataset.dataset}: planned ${dataset.slotCount} slots, found ${datasetSlots.length}`,
      );
    }
    let apiRows = 0;
    let failure: ErrorInfo | undefined;
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
      failure ??= receipt.error;
      apiRows += receipt.apiRows;
      for (const part of receipt.parts) await verifyPart(part, deps);
      parts.push(...receipt.parts);
    }
    if (failure !== undefined) {
      // The slots that did succeed are left out (and removed as strays): a dataset is whole or absent.
      records.push(notWritten(identity, receiptOutcome(failure), failure));
      continue;
    }
    if (apiRows !== dataset.count) {
      throw new CommitVerificationError(
        `${plan.experimentId} ${dataset.dataset}: parts hold ${apiRows} API rows, Pluto counted ${dataset.count}`,
      );
    }
    records.push({
      ...identity,
      status: 'exported',
      apiCount: dataset.count,
      rowsWritten: rowsOf(parts),
      parts,
    });
  }
  return records;
}

/**
 * A file copy: the slot's receipt when it had one, and in any case the copy itself in the lake,
 * with the size the inventory gave. A copy that is missing or of another size fails the file only.
 */
async function verifyFileCopy(
  plan: Plan,
  dataset: PlannedDataset,
  identity: DatasetIdentity,
  slots: readonly Slot[],
  deps: StepDeps,
): Promise<DatasetRecord> {
  const file = dataset.file;
  if (file === undefined || slots.length !== dataset.slotCount) {
    throw new CommitVerificationError(
      `${plan.experimentId} ${dataset.dataset}: planned ${dataset.slotCount} copies, found ${slots.length}`,
    );
  }
  let copied: DatasetRecord['copied'];
  for (const slot of slots) {
    const key = receiptKey(plan.runId, plan.experimentId, slot.dataset, slot.slot);
    const receipt = await readJson(deps.store, key, receiptSchema);
    if (receipt === undefined) {
      throw new CommitVerificationError(`${plan.experimentId} ${slot.dataset} has no receipt of its copy`);
    }
    if (receipt.error !== undefined)
      return notWritten(identity, receiptOutcome(receipt.error), receipt.error);
    copied = receipt.copied;
  }
  const stored = await deps.store.head(file.key);
  if (stored === undefined || (file.expectedBytes !== null && stored.size !== file.expectedBytes)) {
    return notWritten(identity, 'failed', {
      name: 'CommitVerificationError',
      message: `The copy ${file.key} is ${stored === undefined ? 'missing' : `${stored.size} bytes`}; Pluto's inventory says ${file.expectedBytes} bytes`,
    });
  }
  return {
    ...identity,
    status: slots.length === 0 ? 'unchanged' : 'exported',
    apiCount: file.expectedBytes,
    rowsWritten: 0,
    parts: [],
    copied: copied ?? { key: file.key, bytes: stored.size },
  };
}

function receiptOutcome(failure: ErrorInfo): 'no_data' | 'skipped' | 'failed' {
  if (failure.name === 'PlutoNoTableError') return 'no_data';
  if (failure.name === 'FileTooLargeError') return 'skipped';
  return (SKIPPING_ERROR_NAMES as readonly string[]).includes(failure.name) ? 'skipped' : 'failed';
}

/** Rows a reader sees for the dataset; differential_expression repeats rows of results. */
const rowsOf = (parts: readonly PartInfo[]) =>
  parts.filter((part) => part.table !== 'differential_expression').reduce((sum, p) => sum + p.rows, 0);

function notWritten(
  identity: DatasetIdentity,
  status: 'no_data' | 'skipped' | 'failed',
  error: ErrorInfo | undefined,
): DatasetRecord {
  return {
    ...identity,
    status,
    apiCount: null,
    rowsWritten: 0,
    parts: [],
    ...(error === undefined ? {} : { error }),
  };
}

/** Copies the parts of a dataset unchanged since the previous (partial) commit into this run's folder. */
async function carryParts(
  plan: Plan,
  dataset: PlannedDataset,
  deps: StepDeps,
): Promise<Pick<DatasetRecord, 'apiCount' | 'rowsWritten' | 'parts'>> {
  const from = dataset.carriedFrom;
  if (from === undefined) {
    throw new CommitVerificationError(`${plan.experimentId} ${dataset.dataset}: carried without a source`);
  }
  const parts: PartInfo[] = [];
  for (const part of from.parts) {
    const source = partitionLocation(part.table, plan.experimentId, from.runId);
    if (!part.key.startsWith(source)) {
      throw new CommitVerificationError(`Part ${part.key} is not in run ${from.runId}'s folder`);
    }
    const key = `${partitionLocation(part.table, plan.experimentId, plan.runId)}${part.key.slice(source.length)}`;
    const body = await deps.store.get(part.key);
    if (body === undefined || sha256(body) !== part.sha256) {
      throw new CommitVerificationError(`Part ${part.key} of the previous commit is missing or changed`);
    }
    await deps.store.putIfAbsent(key, body);
    parts.push({ ...part, key });
  }
  return { apiCount: from.apiCount, rowsWritten: rowsOf(parts), parts };
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

/**
 * The tables whose rows come from the plan itself: the experiment, its plots, the analyses behind
 * them and the file inventory. An inventory Pluto refused is recorded without a part.
 */
async function writeMetadataParts(
  plan: Plan,
  datasets: readonly DatasetRecord[],
  deps: StepDeps,
): Promise<DatasetRecord[]> {
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
    const written = datasets.find((d) => d.plotId === plot.uuid);
    plots.appendRow(plotRow(plot, written?.apiCount ?? null));
  }
  const analyses = new TableRows('analyses');
  for (const planned of plan.analyses ?? []) {
    const showing = (plan.plots as PlutoPlot[]).filter((plot) => analysisIdOf(plot) === planned.analysisId);
    const analysis = planned.analysis === null ? undefined : analysisSchema.parse(planned.analysis);
    analyses.appendRow(analysisRow(planned.analysisId, showing, analysis));
  }
  const inventory = plan.inventory;
  const copies = new Map<string, FileCopy>();
  for (const planned of plan.datasets) {
    const record = datasets.find((d) => d.dataset === planned.dataset);
    if (planned.file === undefined || record === undefined) continue;
    copies.set(planned.file.fileId, copyOf(record));
  }
  const files = new TableRows('files');
  for (const file of inventory?.files ?? []) {
    const item = fileItemSchema.parse(file.item);
    files.appendRow(
      fileRow({ dataType: file.dataType, item }, copies.get(item.uuid) ?? { status: 'not_requested' }),
    );
  }

  const tables: [TableName, TableRows, string, number][] = [
    ['experiments', experiments, 'experiment', 1],
    ['plots', plots, 'plots', plan.plots.length],
  ];
  if (plan.analyses !== undefined) tables.push(['analyses', analyses, 'analyses', plan.analyses.length]);
  if (inventory?.status === 'listed') tables.push(['files', files, 'files', inventory.files.length]);
  const records: DatasetRecord[] = [];
  for (const [table, rows, dataset, apiCount] of tables) {
    const key = partKey(table, plan.experimentId, plan.runId, dataset, 0);
    const { part } = await publishPart(deps.store, key, rows);
    records.push({ dataset, status: 'exported', apiCount, rowsWritten: part.rows, parts: [part] });
  }
  if (inventory !== undefined && inventory.status !== 'listed') {
    records.push(notWritten({ dataset: 'files' }, inventory.status, inventory.error));
  }
  return records;
}

function copyOf(record: DatasetRecord): FileCopy {
  if (record.copied !== undefined) return { status: 'copied', lakeKey: record.copied.key };
  const detail = record.error?.message ?? record.status;
  return record.status === 'skipped' ? { status: 'skipped', detail } : { status: 'failed', detail };
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
  if (record.status !== 'exported' && record.status !== 'partial') return;
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
