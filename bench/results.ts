/** What the child processes report (one JSON line each), checked when the parent reads it. */
import { z } from 'zod';

export const slotRunSchema = z.object({
  wallMs: z.number(),
  cells: z.number(),
  apiRows: z.number(),
  requests: z.number(),
  partBytes: z.number(),
  rowGroups: z.number(),
  baselineRss: z.number(),
  peakRss: z.number(),
  peakAboveBaseline: z.number(),
  peakHeapAboveBaseline: z.number(),
  /** Growth of V8's young generation (its committed semi-spaces) over the slot. */
  youngGenerationGrowth: z.number(),
  /** Growth of parquet-wasm's linear memory over the slot (it never shrinks). */
  wasmMemoryGrowth: z.number(),
});
export type SlotRun = z.infer<typeof slotRunSchema>;

/** CPU time the child used (user + system, ms), to tell the bench's load from other processes'. */
const cpuMs = z.number();

export const slotReportSchema = z.object({ runs: z.array(slotRunSchema), cpuMs });
export type SlotReport = z.infer<typeof slotReportSchema>;

export const downloadRunSchema = z.object({
  wallMs: z.number(),
  requests: z.number(),
  bytes: z.number(),
  cpuMs,
});
export type DownloadRun = z.infer<typeof downloadRunSchema>;

export const storeCountsSchema = z.object({
  puts: z.number(),
  gets: z.number(),
  heads: z.number(),
  lists: z.number(),
  deletes: z.number(),
  bytesWritten: z.number(),
});

export const e2eRunSchema = z.object({
  mode: z.enum(['ours', 'naive']),
  wallMs: z.number(),
  /** ours: synthesizing the workflow definition in-process, done before the clock starts. */
  definitionMs: z.number().optional(),
  experimentsListed: z.number(),
  experimentsExported: z.number(),
  experimentsRefused: z.number(),
  experimentsLeftOut: z.number(),
  cells: z.number(),
  slots: z.number(),
  parquetRows: z.number(),
  parquetBytes: z.number(),
  files: z.number(),
  requests: z.number().optional(),
  store: storeCountsSchema.optional(),
  catalogCalls: z.number(),
  baselineRss: z.number(),
  peakRss: z.number(),
  cpuMs,
});
export type E2eRun = z.infer<typeof e2eRunSchema>;

export const statePayloadsSchema = z.object({
  /** Inputs measured: every one the state machine would send. */
  payloads: z.number(),
  /** Of those, executed (ExportSlot only for the export sample). */
  executed: z.number(),
  maxInputBytes: z.number(),
  maxOutputBytes: z.number(),
  totalMs: z.number(),
  maxMs: z.number(),
});
export type StatePayloads = z.infer<typeof statePayloadsSchema>;

export const scaleRunSchema = z.object({
  experiments: z.number(),
  planned: z.number(),
  refused: z.number(),
  slots: z.number(),
  concurrency: z.number(),
  exportSample: z.number(),
  startMs: z.number(),
  planWallMs: z.number(),
  /** Mean of the first `exportSample` plans, run one at a time. */
  planSequentialMs: z.number(),
  finalizeMs: z.number(),
  itemsBytes: z.number(),
  maxSlotsBytes: z.number(),
  manifestBytes: z.number(),
  states: z.record(z.string(), statePayloadsSchema),
  store: storeCountsSchema,
  cpuMs,
});
export type ScaleRun = z.infer<typeof scaleRunSchema>;

/** One large file copied by ExportSlot, streamed from the simulator's signed URL into the folder store. */
export const fileCopyReportSchema = z.object({
  bytes: z.number(),
  wallMs: z.number(),
  baselineRss: z.number(),
  peakRss: z.number(),
  peakAboveBaseline: z.number(),
  /** Of the stored copy, read back from disk. */
  sha256: z.string(),
  /** What ExportSlot hashed on the way in. */
  receiptSha256: z.string(),
  cpuMs,
});
export type FileCopyReport = z.infer<typeof fileCopyReportSchema>;
