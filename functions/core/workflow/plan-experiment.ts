/**
 * PlanExperiment: reads what can be read cheaply (metadata, counts, headers, first and last row of
 * every dataset), fingerprints it, and either records the experiment as unchanged or writes the
 * slots that ExportSlots will fan out over.
 */
import { SKIPPING_ERROR_NAMES } from '../errors.js';
import { commitRecordKey, planKey, slotsKey } from '../layout.js';
import type { DataPage, DatasetRef, PlutoPlot } from '../pluto/model.js';
import {
  type CommitRecord,
  canonicalJson,
  commitRecordSchema,
  encodeJson,
  errorInfo,
  headersDigestOf,
  type Plan,
  type PlannedDataset,
  planSchema,
  readJson,
  rowDigestOf,
  sha256,
} from '../records.js';
import type { StepDeps } from './deps.js';
import type { PlanInput, PlanOutput, Slot } from './messages.js';

export async function planExperiment(input: PlanInput, deps: StepDeps): Promise<PlanOutput> {
  const { store } = deps;
  const { runId } = input;
  const { experimentId } = input.item;
  const output = (action: PlanOutput['action'], slotCount: number): PlanOutput => ({
    runId,
    experimentId,
    action,
    slotsKey: slotsKey(runId, experimentId),
    slotCount,
  });

  if ((await store.head(commitRecordKey(runId, experimentId))) !== undefined) return output('done', 0);

  // A replay follows the plan it already wrote, so its parts and timestamps come out the same.
  const existing = await readJson(store, planKey(runId, experimentId), planSchema);
  if (existing !== undefined) {
    return output(
      'export',
      existing.datasets.reduce((sum, dataset) => sum + dataset.slotCount, 0),
    );
  }

  const previous = await previousCommit(experimentId, deps);
  const plan = await readPlan(input, deps, previous?.runId);
  if (!input.full && previous?.fingerprint === plan.fingerprint && previous.status !== 'failed') {
    const record: CommitRecord = {
      runId,
      experimentId,
      projectId: plan.projectId,
      status: 'unchanged',
      sourceRunId: previous.sourceRunId ?? previous.runId,
      fingerprint: plan.fingerprint,
      startedAt: plan.plannedAt,
      finishedAt: deps.clock.now().toISOString(),
      datasets: previous.datasets.map((dataset) => ({ ...dataset, status: 'unchanged' })),
    };
    await store.putIfAbsent(commitRecordKey(runId, experimentId), encodeJson(record));
    deps.progress?.experimentFinished?.({ experimentId, status: 'unchanged', rows: 0 });
    return output('done', 0);
  }

  const slots = planSlots(plan, deps.settings.rowsPerPart);
  // slots.json is only read after this step returns, so a re-plan may replace it; plan.json is the commit point.
  await store.put(slotsKey(runId, experimentId), encodeJson(slots));
  await store.putIfAbsent(planKey(runId, experimentId), encodeJson(plan));
  deps.progress?.experimentPlanned?.({
    experimentId,
    slots: slots.length,
    rows: plan.datasets.reduce((sum, d) => sum + d.count * Math.max(1, d.headers.length - 1), 0),
  });
  return output('export', slots.length);
}

async function readPlan(input: PlanInput, deps: StepDeps, previousRunId: string | undefined): Promise<Plan> {
  const { pluto } = deps;
  const { experimentId, projectId } = input.item;
  const plannedAt = deps.clock.now().toISOString();
  const experiment = await pluto.getExperiment(experimentId);

  const plots: PlutoPlot[] = [];
  for await (const plot of pluto.listPlots(experimentId)) plots.push(plot);
  plots.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));

  const probes: DatasetProbe[] = [
    await probe(deps, { kind: 'samples', experimentId }, 'samples', false),
    await probe(deps, { kind: 'assay', experimentId }, 'assay', false),
  ];
  for (const plot of plots) {
    probes.push(
      await probe(deps, { kind: 'results', experimentId, plotId: plot.uuid }, `plot-${plot.uuid}`, true),
    );
  }

  const fingerprint = sha256(
    canonicalJson({
      experiment,
      plots,
      datasets: probes.map(({ planned, firstRow, lastRow }) => ({
        dataset: planned.dataset,
        status: planned.status,
        count: planned.count,
        headers: planned.headers,
        firstRow,
        lastRow,
      })),
    }),
  );
  return {
    runId: input.runId,
    experimentId,
    projectId,
    plannedAt,
    fingerprint,
    ...(previousRunId === undefined ? {} : { previousRunId }),
    experiment,
    plots,
    datasets: probes.map((p) => p.planned),
  };
}

interface DatasetProbe {
  planned: PlannedDataset;
  firstRow: unknown[] | null;
  lastRow: unknown[] | null;
}

/**
 * A plot whose data Pluto refuses (400 invalid_object_id, 403, 404, 405) is skipped and recorded; the rest of the
 * experiment still exports. Sample and assay data are the experiment itself: a refusal there
 * fails the experiment.
 */
async function probe(
  deps: StepDeps,
  ref: DatasetRef,
  dataset: string,
  skippable: boolean,
): Promise<DatasetProbe> {
  const plotId = ref.kind === 'results' ? ref.plotId : undefined;
  let first: DataPage;
  try {
    first = await deps.pluto.getDataPage(ref, 0, 1);
  } catch (error) {
    if (!skippable || !isRefusal(error)) throw error;
    return {
      planned: {
        dataset,
        kind: ref.kind,
        plotId,
        status: 'skipped',
        count: 0,
        headers: [],
        slotCount: 0,
        error: errorInfo(error),
      },
      firstRow: null,
      lastRow: null,
    };
  }
  const last = first.count > 1 ? await deps.pluto.getDataPage(ref, first.count - 1, 1) : first;
  const width = Math.max(1, first.headers.length - 1);
  const rowsPerSlot = Math.max(1, Math.floor(deps.settings.rowsPerPart / width));
  const firstRow = rowOf(first);
  const lastRow = rowOf(last);
  return {
    planned: {
      dataset,
      kind: ref.kind,
      plotId,
      status: 'planned',
      count: first.count,
      headers: [...first.headers],
      slotCount: Math.max(1, Math.ceil(first.count / rowsPerSlot)),
      ...(firstRow === null || lastRow === null
        ? {}
        : { firstRowDigest: rowDigestOf(firstRow), lastRowDigest: rowDigestOf(lastRow) }),
    },
    firstRow,
    lastRow,
  };
}

function rowOf(page: DataPage): unknown[] | null {
  return page.rowCount === 0 ? null : page.columns.map((column) => column[0] ?? null);
}

export function planSlots(plan: Plan, rowsPerPart: number): Slot[] {
  const slots: Slot[] = [];
  for (const dataset of plan.datasets) {
    if (dataset.status !== 'planned') continue;
    const width = Math.max(1, dataset.headers.length - 1);
    const rowsPerSlot = Math.max(1, Math.floor(rowsPerPart / width));
    const headersDigest = headersDigestOf(dataset.headers);
    for (let slot = 0; slot < dataset.slotCount; slot++) {
      const offset = slot * rowsPerSlot;
      slots.push({
        dataset: dataset.dataset,
        kind: dataset.kind,
        ...(dataset.plotId === undefined ? {} : { plotId: dataset.plotId }),
        slot,
        offset,
        limit: Math.max(0, Math.min(rowsPerSlot, dataset.count - offset)),
        expectedCount: dataset.count,
        headersDigest,
      });
    }
  }
  return slots;
}

async function previousCommit(experimentId: string, deps: StepDeps): Promise<CommitRecord | undefined> {
  const pointer = await deps.catalog.getPartition('experiments', experimentId);
  if (pointer === undefined) return undefined;
  return readJson(deps.store, commitRecordKey(pointer.runId, experimentId), commitRecordSchema);
}

function isRefusal(error: unknown): boolean {
  return error instanceof Error && (SKIPPING_ERROR_NAMES as readonly string[]).includes(error.name);
}
