/**
 * PlanExperiment: reads what can be read cheaply (metadata, counts, headers, first and last row of
 * every dataset), fingerprints it, and either records the experiment as unchanged or writes the
 * slots that ExportSlots will fan out over.
 */

import { allInOrder, limiter } from '../concurrency.js';
import { PlutoNoTableError } from '../errors.js';
import { ID_RULE, isSafeId } from '../ids.js';
import { commitRecordKey, fileKey, planKey, slotsKey } from '../layout.js';
import { checkLimit } from '../limits.js';
import { analysisIdOf, fileNameOf, fileSizeOf } from '../melt.js';
import {
  type DataPage,
  type DatasetRef,
  fileItemSchema,
  isPendingAnalysis,
  type PlutoPlot,
  plotSchema,
  type ResultsRef,
} from '../pluto/model.js';
import {
  type CommitRecord,
  canonicalJson,
  commitRecordSchema,
  encodeJson,
  errorInfo,
  headersDigestOf,
  type Plan,
  type PlannedAnalysis,
  type PlannedDataset,
  type PlannedInventory,
  planSchema,
  type ResultsChoice,
  readJson,
  rowDigestOf,
  sha256,
} from '../records.js';
import { safeFileName } from '../safe-file-name.js';
import { describeUnsafeId } from '../safe-text.js';
import { datasetOutcomeOf } from './dataset-outcome.js';
import { experimentRequestsOf, limitsOf, maxFileBytesOf, resultsSourceOf, type StepDeps } from './deps.js';
import type { PlanInput, PlanOutput, Slot } from './messages.js';
import { chooseResultsOrigin } from './results-source.js';

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
  const plan = await readPlan(input, deps, previous);
  if (!input.full && previous?.status === 'exported' && previous.fingerprint === plan.fingerprint) {
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

  plan.datasets = await Promise.all(plan.datasets.map((dataset) => readChosenDownload(deps, plan, dataset)));
  if (!input.full && previous?.status === 'partial') carryUnchangedDatasets(plan, previous);
  checkLimit(
    plan.datasets.reduce((sum, dataset) => sum + dataset.slotCount, 0),
    limitsOf(deps.settings).maxSlotsPerExperiment,
    `${experimentId}: the slots its datasets need`,
    'maxSlotsPerExperiment',
  );
  const slots = planSlots(plan, deps.settings.rowsPerPart);
  // slots.json is only read after this step returns, so a re-plan may replace it; plan.json is the commit point.
  await store.put(slotsKey(runId, experimentId), encodeJson(slots));
  await store.putIfAbsent(planKey(runId, experimentId), encodeJson(plan));
  deps.progress?.experimentPlanned?.({
    experimentId,
    slots: slots.length,
    rows: plan.datasets
      .filter((d) => d.status === 'planned')
      .reduce((sum, d) => sum + d.count * Math.max(1, d.headers.length - 1), 0),
  });
  return output('export', slots.length);
}

/**
 * After the experiment's detail, the plan's reads are independent but for the plot list, which
 * names the plots to probe and the analyses to read. They go out `experimentRequestsOf(deps)` at a
 * time (design.md, Network-bound): the list first, then the plots' probes, the longest chains
 * (first page, then under `auto` the download's header line), then the rest.
 */
async function readPlan(input: PlanInput, deps: StepDeps, previous: CommitRecord | undefined): Promise<Plan> {
  const { pluto } = deps;
  const { experimentId, projectId } = input.item;
  const plannedAt = deps.clock.now().toISOString();
  const limit = limiter(experimentRequestsOf(deps));

  // A refused experiment answers its detail first, and nothing else is asked of it.
  const experiment = await pluto.getExperiment(experimentId);
  const choices = new Map(
    input.full === true
      ? []
      : (previous?.datasets ?? []).flatMap(({ dataset, resultsChoice }) =>
          resultsChoice === undefined ? [] : [[dataset, resultsChoice] as const],
        ),
  );
  const listing = limit(async () => {
    const listed: PlutoPlot[] = [];
    for await (const plot of pluto.listPlots(experimentId)) listed.push(plot);
    return listed.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  });
  const afterListing = listing.then((listed) =>
    allInOrder([
      allInOrder(
        listed.map((plot) => {
          const dataset = `plot-${plot.uuid}`;
          const ref = { kind: 'results', experimentId, plotId: plot.uuid } as const;
          return isSafeId(plot.uuid)
            ? limit(() => probeResults(deps, ref, dataset, { plot, previous: choices.get(dataset) }))
            : Promise.resolve(unsafePlot(plot.uuid));
        }),
      ),
      readAnalyses(deps, listed, limit),
      limit(() => probe(deps, { kind: 'samples', experimentId }, 'samples')),
      limit(() => probe(deps, { kind: 'assay', experimentId }, 'assay')),
      limit(() => readInventory(deps, experimentId)),
    ] as const),
  );
  const [plots, [plotProbes, analyses, samplesProbe, assayProbe, inventory]] = await allInOrder([
    listing,
    afterListing,
  ] as const);
  const probes: DatasetProbe[] = [samplesProbe, assayProbe, ...plotProbes];
  const copies = await planFileCopies(deps, experimentId, inventory);
  const fingerprint = sha256(
    canonicalJson({
      experiment,
      plots,
      analyses,
      inventory,
      copying: {
        types: [...(deps.settings.copyFileTypes ?? [])].sort(),
        maxBytes: maxFileBytesOf(deps.settings),
      },
      datasets: probes.map(({ seen }) => seen),
    }),
  );
  return {
    runId: input.runId,
    experimentId,
    projectId,
    plannedAt,
    fingerprint,
    ...(previous === undefined ? {} : { previousRunId: previous.runId }),
    experiment,
    plots,
    analyses,
    inventory,
    datasets: [...probes.map((p) => p.planned), ...copies],
  };
}

/**
 * The files of the requested data types, one dataset each: skipped when the inventory's size is
 * over the cap, planned without a slot when the lake already holds the copy (same uuid, same
 * size), else planned with one slot that streams it in.
 */
async function planFileCopies(
  deps: StepDeps,
  experimentId: string,
  inventory: PlannedInventory,
): Promise<PlannedDataset[]> {
  const types = new Set(deps.settings.copyFileTypes ?? []);
  const maxBytes = maxFileBytesOf(deps.settings);
  const planned: PlannedDataset[] = [];
  for (const listed of inventory.files) {
    if (!types.has(listed.dataType)) continue;
    const file = { dataType: listed.dataType, item: fileItemSchema.parse(listed.item) };
    const fileId = file.item.uuid;
    const size = fileSizeOf(file);
    const base = { kind: 'file' as const, count: 0, headers: [], slotCount: 0 };
    if (!isSafeId(fileId)) {
      planned.push({
        ...base,
        dataset: `file-unsafe-${sha256(fileId).slice(0, 16)}`,
        status: 'failed',
        file: { fileId, key: '', expectedBytes: size },
        error: {
          name: 'InvalidIdError',
          message: `Pluto listed a file with the id ${describeUnsafeId(fileId)}, which is not ${ID_RULE}; it was not copied`,
        },
      });
      continue;
    }
    const copy = {
      fileId,
      key: fileKey(experimentId, fileId, safeFileName(fileNameOf(file))),
      expectedBytes: size,
    };
    const dataset = `file-${fileId}`;
    if (size !== null && size > maxBytes) {
      const error = {
        name: 'FileTooLargeError',
        message: `${file.dataType} ${JSON.stringify(fileNameOf(file))} is ${size} bytes, more than the ${maxBytes} bytes --max-file-bytes allows; it was not copied`,
      };
      planned.push({ ...base, dataset, status: 'skipped', file: copy, error });
      continue;
    }
    const stored = await deps.store.head(copy.key);
    const present = stored !== undefined && (size === null || stored.size === size);
    planned.push({ ...base, dataset, status: 'planned', file: copy, slotCount: present ? 0 : 1 });
  }
  return planned;
}

/**
 * Each analysis shown by the plots, once. One Pluto will not serve is kept with its error: its row
 * then holds what the plot carries. An id that cannot be a URL segment is not requested.
 */
function readAnalyses(
  deps: StepDeps,
  plots: readonly PlutoPlot[],
  limit: <T>(task: () => Promise<T>) => Promise<T>,
): Promise<PlannedAnalysis[]> {
  const ids = [...new Set(plots.map(analysisIdOf).filter((id) => id !== null))].sort();
  return allInOrder(
    ids.map(async (analysisId): Promise<PlannedAnalysis> => {
      if (!isSafeId(analysisId)) {
        const error = {
          name: 'InvalidIdError',
          message: `analysis id ${describeUnsafeId(analysisId)} is not ${ID_RULE}`,
        };
        return { analysisId, analysis: null, error };
      }
      return limit(async () => {
        try {
          return { analysisId, analysis: await deps.pluto.getAnalysis(analysisId) };
        } catch (error) {
          if (datasetOutcomeOf(error, 'results') === undefined) throw error;
          return { analysisId, analysis: null, error: errorInfo(error) };
        }
      });
    }),
  );
}

/**
 * The file inventory, with the QC report `qc-report/` names when the inventory does not list it;
 * refused or broken, it is recorded as such and the rest of the experiment exports.
 */
async function readInventory(deps: StepDeps, experimentId: string): Promise<PlannedInventory> {
  try {
    const files = await deps.pluto.listFiles(experimentId);
    const qcReport = await deps.pluto.getQcReport(experimentId);
    if (qcReport !== undefined && !files.some(({ item }) => item.uuid === qcReport.item.uuid)) {
      files.push(qcReport);
    }
    return { status: 'listed', files: files.map(({ dataType, item }) => ({ dataType, item })) };
  } catch (error) {
    const outcome = datasetOutcomeOf(error, 'results');
    if (outcome === undefined) throw error;
    return { status: outcome === 'failed' ? 'failed' : 'skipped', files: [], error: errorInfo(error) };
  }
}

interface DatasetProbe {
  planned: PlannedDataset;
  /** What the fingerprint covers of the dataset. */
  seen: DatasetSeen;
}

interface DatasetSeen {
  dataset: string;
  status: PlannedDataset['status'];
  count: number;
  headers: readonly string[];
  firstRow: unknown[] | null;
  lastRow: unknown[] | null;
  /** Present when the results come from the plot's download. */
  from?: 'download';
}

/**
 * A plot's results under the run's results source. Under `auto` the data pages are probed and the
 * choice of source is made on them (or kept from the previous commit while they show the same);
 * a download chosen is read when the experiment is exported, never to find it unchanged.
 */
async function probeResults(
  deps: StepDeps,
  ref: ResultsRef,
  dataset: string,
  context: { plot: PlutoPlot; previous: ResultsChoice | undefined },
): Promise<DatasetProbe> {
  const source = resultsSourceOf(deps.settings);
  if (source === 'download') return probe(deps, { ...ref, from: 'download' }, dataset, context.plot);
  const probed = await probe(deps, ref, dataset, context.plot);
  const { planned } = probed;
  if (source === 'data' || planned.status !== 'planned' || planned.digest === undefined) return probed;
  const resultsChoice = await chooseResultsOrigin(
    deps.pluto,
    ref,
    { headers: planned.headers, digest: planned.digest },
    context.previous,
  );
  return {
    planned: { ...planned, resultsChoice },
    seen: resultsChoice.from === 'download' ? { ...probed.seen, from: 'download' } : probed.seen,
  };
}

/**
 * Reads the download that `auto` chose for a plot, whole, in place of the data pages that planning
 * probed. A download that cannot be read fails the plot; the next plan then chooses again.
 */
async function readChosenDownload(
  deps: StepDeps,
  plan: Plan,
  planned: PlannedDataset,
): Promise<PlannedDataset> {
  const { plotId, resultsChoice } = planned;
  if (planned.status !== 'planned' || resultsChoice?.from !== 'download' || plotId === undefined)
    return planned;
  const plot = plan.plots.find((candidate) => candidate.uuid === plotId);
  const ref: ResultsRef = { kind: 'results', experimentId: plan.experimentId, plotId, from: 'download' };
  const { planned: read } = await probe(deps, ref, planned.dataset, plotSchema.parse(plot));
  return read.status === 'planned' ? { ...read, resultsChoice } : read;
}

/**
 * Each dataset succeeds or fails on its own (see `datasetOutcomeOf`); what fails here is recorded
 * in the plan and the rest of the experiment still exports.
 */
async function probe(
  deps: StepDeps,
  ref: DatasetRef,
  dataset: string,
  plot?: PlutoPlot,
): Promise<DatasetProbe> {
  const plotId = ref.kind === 'results' ? ref.plotId : undefined;
  const from = ref.kind === 'results' && ref.from === 'download' ? ({ from: 'download' } as const) : {};
  let first: DataPage;
  let last: DataPage;
  try {
    if (plot !== undefined && isPendingAnalysis(plot)) {
      throw new PlutoNoTableError(`The analysis of plot ${plot.uuid} is pending: it has no results yet`);
    }
    first = await deps.pluto.getDataPage(ref, 0, 1);
    checkLimit(
      first.count,
      limitsOf(deps.settings).maxRowsPerDataset,
      `${ref.experimentId} ${dataset}: Pluto's row count`,
      'maxRowsPerDataset',
    );
    last = first.whole || first.count <= 1 ? first : await deps.pluto.getDataPage(ref, first.count - 1, 1);
  } catch (error) {
    const status = datasetOutcomeOf(error, ref.kind);
    if (status === undefined) throw error;
    const planned: PlannedDataset = {
      dataset,
      kind: ref.kind,
      plotId,
      status,
      count: 0,
      headers: [],
      slotCount: 0,
      error: errorInfo(error),
    };
    return { planned, seen: notSeen(dataset, status) };
  }
  const width = Math.max(1, first.headers.length - 1);
  const rowsPerSlot = Math.max(1, Math.floor(deps.settings.rowsPerPart / width));
  const firstRow = rowAt(first, 0);
  const lastRow = rowAt(last, last.rowCount - 1);
  const seen = { count: first.count, headers: first.headers, firstRow, lastRow, plot: plot ?? null };
  return {
    planned: {
      dataset,
      kind: ref.kind,
      plotId,
      ...from,
      status: 'planned',
      count: first.count,
      headers: [...first.headers],
      // A dataset that comes whole (paging ignored, or a signed URL) is read once, by one slot.
      slotCount: first.whole ? 1 : Math.max(1, Math.ceil(first.count / rowsPerSlot)),
      digest: sha256(canonicalJson(seen)),
      ...(firstRow === null || lastRow === null
        ? {}
        : { firstRowDigest: rowDigestOf(firstRow), lastRowDigest: rowDigestOf(lastRow) }),
    },
    seen: {
      dataset,
      status: 'planned',
      count: first.count,
      headers: first.headers,
      firstRow,
      lastRow,
      ...from,
    },
  };
}

/**
 * A plot id that cannot be a key or a URL segment (`a/b`, `..`, a control character) is not
 * requested at all; the plot is recorded as failed under a name derived from a digest of its id,
 * and the experiment's other datasets still export.
 */
function unsafePlot(plotId: string): DatasetProbe {
  const dataset = `plot-unsafe-${sha256(plotId).slice(0, 16)}`;
  return {
    planned: {
      dataset,
      kind: 'results',
      status: 'failed',
      count: 0,
      headers: [],
      slotCount: 0,
      error: {
        name: 'InvalidIdError',
        message: `Pluto listed a plot with the id ${describeUnsafeId(plotId)}, which is not ${ID_RULE}; its data was not exported`,
      },
    },
    seen: notSeen(dataset, 'failed'),
  };
}

function notSeen(dataset: string, status: PlannedDataset['status']): DatasetSeen {
  return { dataset, status, count: 0, headers: [], firstRow: null, lastRow: null };
}

/**
 * After a partial commit only what failed, or changed since, is fetched again: a dataset the
 * previous commit holds, whose digest is the same, keeps its parts (copied when committing).
 */
function carryUnchangedDatasets(plan: Plan, previous: CommitRecord): void {
  const held = new Map(previous.datasets.map((record) => [record.dataset, record]));
  plan.datasets = plan.datasets.map((dataset) => {
    const before = held.get(dataset.dataset);
    if (
      dataset.status !== 'planned' ||
      before === undefined ||
      (before.status !== 'exported' && before.status !== 'unchanged') ||
      before.digest === undefined ||
      before.digest !== dataset.digest ||
      before.apiCount === null
    ) {
      return dataset;
    }
    return {
      ...dataset,
      status: 'carried',
      slotCount: 0,
      carriedFrom: { runId: previous.runId, apiCount: before.apiCount, parts: before.parts },
    };
  });
}

function rowAt(page: DataPage, index: number): unknown[] | null {
  return page.rowCount === 0 ? null : page.columns.map((column) => column[index] ?? null);
}

export function planSlots(plan: Plan, rowsPerPart: number): Slot[] {
  const slots: Slot[] = [];
  for (const dataset of plan.datasets) {
    if (dataset.status !== 'planned') continue;
    if (dataset.kind === 'file') {
      if (dataset.slotCount === 0 || dataset.file === undefined) continue;
      slots.push({
        dataset: dataset.dataset,
        kind: 'file',
        file: dataset.file,
        slot: 0,
        offset: 0,
        limit: 0,
        expectedCount: 0,
        headersDigest: headersDigestOf([]),
      });
      continue;
    }
    const width = Math.max(1, dataset.headers.length - 1);
    const rowsPerSlot = Math.max(1, Math.floor(rowsPerPart / width));
    const headersDigest = headersDigestOf(dataset.headers);
    for (let slot = 0; slot < dataset.slotCount; slot++) {
      const offset = slot * rowsPerSlot;
      slots.push({
        dataset: dataset.dataset,
        kind: dataset.kind,
        ...(dataset.plotId === undefined ? {} : { plotId: dataset.plotId }),
        ...(dataset.from === undefined ? {} : { from: dataset.from }),
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
