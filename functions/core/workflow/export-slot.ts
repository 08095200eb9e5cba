/**
 * ExportSlot: fetches one slot's pages, melts them into the contract's tables and streams one
 * immutable Parquet part per table, then a receipt. A retry that finds the receipt is a no-op; one
 * that finds a part without a receipt verifies the part and reuses it.
 */

import { createHash } from 'node:crypto';
import type { TableName } from '../contract.js';
import { InvalidStepInputError, PageDriftError } from '../errors.js';
import { partKey, planKey, receiptKey, slotFailureKey } from '../layout.js';
import {
  analysisIdOf,
  isDifferentialExpression,
  meltAssay,
  meltResults,
  meltSamples,
  type ResultsContext,
  TableRows,
} from '../melt.js';
import { type DataPage, type DatasetRef, plotSchema } from '../pluto/model.js';
import { prefetched } from '../prefetch.js';
import { PartStream, type PublishedPart } from '../publish-part.js';
import {
  encodeJson,
  errorInfo,
  headersDigestOf,
  type Plan,
  type PlannedDataset,
  planSchema,
  type Receipt,
  readJson,
  receiptSchema,
  rowDigestOf,
} from '../records.js';
import { datasetOutcomeOf, fileOutcomeOf } from './dataset-outcome.js';
import { maxFileBytesOf, type StepDeps } from './deps.js';
import type { ExportSlotInput, Slot } from './messages.js';

export async function exportSlot(input: ExportSlotInput, deps: StepDeps): Promise<Receipt> {
  const { runId, experimentId, slot } = input;
  const key = receiptKey(runId, experimentId, slot.dataset, slot.slot);
  const done = await readJson(deps.store, key, receiptSchema);
  if (done !== undefined) return done;
  const failureKey = slotFailureKey(runId, experimentId, slot.dataset, slot.slot);
  try {
    const receipt = await writeSlot(input, deps);
    // What an earlier attempt of this slot left is over; read later, it would name the wrong failure.
    await deps.store.delete(failureKey);
    await deps.store.putIfAbsent(key, encodeJson(receipt));
    deps.progress?.slotExported?.({
      experimentId,
      dataset: slot.dataset,
      apiRows: receipt.apiRows,
      parts: receipt.parts.length,
    });
    return receipt;
  } catch (error) {
    if ((slot.kind === 'file' ? fileOutcomeOf(error) : datasetOutcomeOf(error, slot.kind)) !== undefined) {
      // This dataset is lost for this run, not the experiment: CommitExperiment records it and
      // commits the rest.
      const failed: Receipt = {
        runId,
        experimentId,
        dataset: slot.dataset,
        slot: slot.slot,
        apiRows: 0,
        parts: [],
        error: errorInfo(error),
      };
      if ((await deps.store.putIfAbsent(key, encodeJson(failed))).created) return failed;
      return (await readJson(deps.store, key, receiptSchema)) ?? failed;
    }
    // Distributed Map failures reach the Catch as States.* errors; this record keeps Pluto's detail.
    await deps.store.put(failureKey, encodeJson(errorInfo(error))).catch(() => undefined);
    throw error;
  }
}

/**
 * Pages are fetched one ahead (`prefetchPages`) while the current one is melted, and each page's
 * rows go straight to the part's encoder, which streams row groups to the store: a slot holds
 * about two pages and one row group, whatever its size.
 */
async function writeSlot(input: ExportSlotInput, deps: StepDeps): Promise<Receipt> {
  const { runId, experimentId, slot } = input;
  if (slot.kind === 'file') return copyFile(input, deps);
  const plan = await readJson(deps.store, planKey(runId, experimentId), planSchema);
  const planned = plan?.datasets.find((candidate) => candidate.dataset === slot.dataset);
  const plot = slot.kind === 'results' ? plotContextOf(input, plan) : undefined;
  const withDe = plot !== undefined && isDifferentialExpression(plot.headers);
  const tables: TableName[] = withDe ? [slot.kind, 'differential_expression'] : [slot.kind];
  const streams = tables.map(
    (table) =>
      new PartStream(
        deps.store,
        partKey(table, experimentId, runId, slot.dataset, slot.slot),
        table,
        deps.settings.rowGroupRows,
      ),
  );

  let apiRows = 0;
  const published: PublishedPart[] = [];
  const primary = new TableRows(slot.kind);
  const de = withDe ? new TableRows('differential_expression') : undefined;
  try {
    const pages = prefetched(fetchSlotPages(input, planned, deps), deps.settings.prefetchPages);
    for await (const page of pages) {
      apiRows += page.rowCount;
      for (const batch of batchesOf(page)) {
        if (plot !== undefined) meltResults(batch, plot, primary, de);
        else if (slot.kind === 'samples') meltSamples(batch, primary);
        else meltAssay(batch, primary);
        await streams[0]?.write(primary);
        primary.clear();
        if (de !== undefined) {
          await streams[1]?.write(de);
          de.clear();
        }
      }
    }
    for (const stream of streams) published.push(await stream.finish());
  } catch (error) {
    await Promise.all(streams.map((stream) => stream.abandon(error)));
    throw error;
  }

  for (const { part, created } of published) {
    if (created) {
      deps.progress?.partWritten?.({
        experimentId,
        table: part.table,
        key: part.key,
        rows: part.rows,
        bytes: part.bytes,
      });
    }
  }
  const parts = published.map(({ part }) => part);
  return { runId, experimentId, dataset: slot.dataset, slot: slot.slot, apiRows, parts };
}

/** Tidy rows melted and encoded at a time: a page of a wide assay melts into many times its rows. */
const MELT_BATCH_CELLS = 65_536;

/** The page in runs of rows that melt into about MELT_BATCH_CELLS tidy rows each. */
function* batchesOf(page: DataPage): Generator<DataPage> {
  const rows = Math.max(1, Math.floor(MELT_BATCH_CELLS / Math.max(1, page.headers.length - 1)));
  if (page.rowCount <= rows) {
    yield page;
    return;
  }
  for (let from = 0; from < page.rowCount; from += rows) {
    const to = Math.min(page.rowCount, from + rows);
    yield {
      ...page,
      offset: page.offset + from,
      rowCount: to - from,
      columns: page.columns.map((column) => column.slice(from, to)),
    };
  }
}

/**
 * One file, streamed from Pluto into the lake: never held whole in memory, published only once
 * every byte arrived (a broken download leaves nothing, and the workflow's Retry starts it again).
 */
async function copyFile(input: ExportSlotInput, deps: StepDeps): Promise<Receipt> {
  const { runId, experimentId, slot } = input;
  const file = slot.file;
  if (file === undefined) throw new InvalidStepInputError(`Slot ${slot.dataset} has no file to copy`);
  const hash = createHash('sha256');
  let bytes = 0;
  const download = deps.pluto.downloadFile(experimentId, file.fileId, {
    maxBytes: maxFileBytesOf(deps.settings),
    expectedBytes: file.expectedBytes,
  });
  const counted = async function* () {
    for await (const chunk of download) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      yield chunk;
    }
  };
  const { created } = await deps.store.putStreamIfAbsent(file.key, counted());
  const copied = created
    ? { key: file.key, bytes, sha256: hash.digest('hex') }
    : { key: file.key, bytes: (await deps.store.head(file.key))?.size ?? bytes };
  deps.progress?.fileCopied?.({ experimentId, key: file.key, bytes: copied.bytes, created });
  return { runId, experimentId, dataset: slot.dataset, slot: slot.slot, apiRows: 0, parts: [], copied };
}

async function* fetchSlotPages(
  input: ExportSlotInput,
  planned: PlannedDataset | undefined,
  deps: StepDeps,
): AsyncGenerator<DataPage> {
  const { experimentId, slot } = input;
  const ref = datasetRef(experimentId, slot);
  const end = slot.offset + slot.limit;
  let offset = slot.offset;
  const firstRows = new Set(planned?.firstRowDigest === undefined ? [] : [planned.firstRowDigest]);
  do {
    const limit = slot.limit === 0 ? 1 : Math.min(deps.settings.pageSize, end - offset);
    const page = await deps.pluto.getDataPage(ref, offset, limit);
    const expectedRows = page.whole ? slot.expectedCount : Math.min(limit, slot.expectedCount - offset);
    checkDrift(page, slot, offset, Math.max(0, expectedRows), experimentId);
    checkOrder(page, slot, planned, experimentId);
    checkReplay(page, slot, firstRows, experimentId);
    yield page;
    if (page.whole) return;
    offset += page.rowCount;
  } while (offset < end);
}

function checkDrift(page: DataPage, slot: Slot, offset: number, expectedRows: number, experimentId: string) {
  const where = `${experimentId} ${slot.dataset} at offset ${offset}`;
  if (page.count !== slot.expectedCount) {
    throw new PageDriftError(
      `${where}: count changed from ${slot.expectedCount} to ${page.count} while paging; the experiment will be re-exported whole`,
    );
  }
  if (headersDigestOf(page.headers) !== slot.headersDigest) {
    throw new PageDriftError(`${where}: the header row changed while paging`);
  }
  if (page.rowCount !== expectedRows) {
    throw new PageDriftError(`${where}: expected ${expectedRows} rows in the page, got ${page.rowCount}`);
  }
}

/**
 * A dataset re-sorted (or edited) between planning and paging may keep its count and headers; the
 * first and the last row, digested by the plan, show it. A change confined to middle rows is not
 * seen here.
 */
function checkOrder(page: DataPage, slot: Slot, planned: PlannedDataset | undefined, experimentId: string) {
  if (page.rowCount === 0 || planned === undefined) return;
  const rowAt = (index: number) => page.columns.map((column) => column[index] ?? null);
  const where = `${experimentId} ${slot.dataset} at offset ${page.offset}`;
  if (
    page.offset === 0 &&
    planned.firstRowDigest !== undefined &&
    rowDigestOf(rowAt(0)) !== planned.firstRowDigest
  ) {
    throw new PageDriftError(
      `${where}: the rows changed while paging (row 0 is not the row planned: re-sorted or edited)`,
    );
  }
  const last = page.rowCount - 1;
  if (
    page.offset + page.rowCount === slot.expectedCount &&
    planned.lastRowDigest !== undefined &&
    rowDigestOf(rowAt(last)) !== planned.lastRowDigest
  ) {
    throw new PageDriftError(
      `${where}: the rows changed while paging (row ${page.offset + last} is not the last row planned: re-sorted or edited)`,
    );
  }
}

/**
 * A page answered with rows already seen (the dataset's first page, or an earlier page of this
 * slot) would commit duplicates in place of the rows asked for. Its first row gives it away: one
 * digest per page, no extra request.
 */
function checkReplay(page: DataPage, slot: Slot, firstRows: Set<string>, experimentId: string) {
  if (page.rowCount === 0 || page.offset === 0) return;
  const digest = rowDigestOf(page.columns.map((column) => column[0] ?? null));
  if (firstRows.has(digest)) {
    throw new PageDriftError(
      `${experimentId} ${slot.dataset} at offset ${page.offset}: Pluto answered with rows it had already sent for another offset (a replayed page)`,
    );
  }
  firstRows.add(digest);
}

function datasetRef(experimentId: string, slot: Slot): DatasetRef {
  if (slot.kind === 'file') throw new InvalidStepInputError(`Slot ${slot.dataset} is a file, not a dataset`);
  if (slot.kind !== 'results') return { kind: slot.kind, experimentId };
  if (slot.plotId === undefined) throw new Error(`Slot ${slot.dataset} has no plotId`);
  return {
    kind: 'results',
    experimentId,
    plotId: slot.plotId,
    ...(slot.from === 'download' ? { from: 'download' as const } : {}),
  };
}

interface PlotContext extends ResultsContext {
  headers: readonly string[];
}

function plotContextOf(input: ExportSlotInput, plan: Plan | undefined): PlotContext {
  const plotId = input.slot.plotId ?? '';
  const raw = plan?.plots.find((candidate) => candidate.uuid === plotId);
  const plot = raw === undefined ? undefined : plotSchema.parse(raw);
  const dataset = plan?.datasets.find((candidate) => candidate.dataset === input.slot.dataset);
  const version = plot?.analysis?.pipeline_version;
  return {
    plotId,
    analysisId: plot === undefined ? null : analysisIdOf(plot),
    analysisType: typeof plot?.analysis_type === 'string' ? plot.analysis_type : null,
    pipelineVersion: version === undefined || version === null ? null : String(version),
    headers: dataset?.headers ?? [],
  };
}
