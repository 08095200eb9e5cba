/** The JSON objects the workflow keeps in the store under `runs/` (design.md, Commit protocol). */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TABLE_NAMES } from './contract.js';
import type { ObjectStore } from './ports.js';
import { maskSecrets } from './secrets.js';

/** `partial`: committed with the datasets that worked; the failed ones are fetched again next run. */
export const experimentStatusSchema = z.enum(['exported', 'partial', 'unchanged', 'skipped', 'failed']);
export type ExperimentStatus = z.infer<typeof experimentStatusSchema>;

/** `no_data`: Pluto has no table for it (an image, an external plot, a pending analysis). */
export const datasetStatusSchema = z.enum(['exported', 'unchanged', 'no_data', 'skipped', 'failed']);

export const experimentCountsSchema = z.object({
  exported: z.number().int(),
  /** Absent in manifests written before partial commits existed. */
  partial: z.number().int().default(0),
  unchanged: z.number().int(),
  skipped: z.number().int(),
  failed: z.number().int(),
});
export type ExperimentCounts = z.infer<typeof experimentCountsSchema>;

export const errorInfoSchema = z.object({
  name: z.string(),
  message: z.string(),
  detail: z.string().optional(),
  code: z.string().optional(),
  /** Pluto's `details` (JSON text). */
  details: z.string().optional(),
});
export type ErrorInfo = z.infer<typeof errorInfoSchema>;

/** A listed experiment that cannot be exported because its id is unusable; `shownId` is printable. */
export const rejectedItemSchema = z.object({
  shownId: z.string(),
  projectId: z.string().nullable(),
  error: errorInfoSchema,
});
export type RejectedItem = z.infer<typeof rejectedItemSchema>;

export const partInfoSchema = z.object({
  table: z.enum(TABLE_NAMES),
  key: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  schemaFingerprint: z.string(),
});
export type PartInfo = z.infer<typeof partInfoSchema>;

/** A file to copy: its id, the key of its copy, and the size the inventory gave. */
export const fileCopySchema = z.object({
  fileId: z.string(),
  key: z.string(),
  expectedBytes: z.number().int().nonnegative().nullable(),
});
export type FileCopyPlan = z.infer<typeof fileCopySchema>;

/** A copied file as the lake holds it. */
export const copiedFileSchema = z.object({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().optional(),
});

/**
 * Under results source `auto`: where a plot's results were read, and what that was decided on.
 * While the plot's data pages show the same, a later plan keeps the choice without asking the download.
 */
export const resultsChoiceSchema = z.object({
  /** `download` when its CSV had more columns than the data pages. */
  from: z.enum(['data', 'download']),
  /** Digest of the data pages as compared: plot, count, headers, first and last row. */
  dataDigest: z.string(),
  /** Columns of the download's header line; null when the plot has no download. */
  downloadColumns: z.number().int().nonnegative().nullable(),
});
export type ResultsChoice = z.infer<typeof resultsChoiceSchema>;

export const plannedDatasetSchema = z.object({
  /** `samples`, `assay`, `plot-<uuid>`, or `file-<uuid>` (a file to copy). */
  dataset: z.string(),
  kind: z.enum(['samples', 'assay', 'results', 'file']),
  /** For `file`: what to copy where; `slotCount` 0 when the copy is already in the lake. */
  file: fileCopySchema.optional(),
  plotId: z.string().optional(),
  /** For `results`: where the slots read it; absent means the data pages. */
  from: z.enum(['data', 'download']).optional(),
  resultsChoice: resultsChoiceSchema.optional(),
  /**
   * `planned`: slots fetch it; `carried`: unchanged since the previous, partial commit, whose parts
   * are copied; `no_data`/`skipped`/`failed`: no table, refused or broken while planning, with `error`.
   */
  status: z.enum(['planned', 'carried', 'no_data', 'skipped', 'failed']),
  count: z.number().int().nonnegative(),
  headers: z.array(z.string()),
  slotCount: z.number().int().nonnegative(),
  error: errorInfoSchema.optional(),
  /** Digest of what planning saw (plot, count, headers, first and last row). */
  digest: z.string().optional(),
  /** For `carried`: the previous commit's run and parts. */
  carriedFrom: z
    .object({ runId: z.string(), apiCount: z.number().int().nonnegative(), parts: z.array(partInfoSchema) })
    .optional(),
  /** Digests of the first and last row at planning time: the slots holding them check the order held. */
  firstRowDigest: z.string().optional(),
  lastRowDigest: z.string().optional(),
});
export type PlannedDataset = z.infer<typeof plannedDatasetSchema>;

/** An analysis behind the plots: the object `analyses/{uuid}/` served, or why it is absent. */
export const plannedAnalysisSchema = z.object({
  analysisId: z.string(),
  analysis: z.record(z.string(), z.unknown()).nullable(),
  error: errorInfoSchema.optional(),
});
export type PlannedAnalysis = z.infer<typeof plannedAnalysisSchema>;

/** The experiment's file inventory as planning read it; `status` other than listed carries `error`. */
export const plannedInventorySchema = z.object({
  status: z.enum(['listed', 'skipped', 'failed']),
  files: z.array(z.object({ dataType: z.string(), item: z.record(z.string(), z.unknown()) })),
  error: errorInfoSchema.optional(),
});
export type PlannedInventory = z.infer<typeof plannedInventorySchema>;

export const planSchema = z.object({
  runId: z.string(),
  experimentId: z.string(),
  projectId: z.string().nullable(),
  plannedAt: z.string(),
  fingerprint: z.string(),
  /** The run whose commit was current when this plan was made; absent for a new experiment. */
  previousRunId: z.string().optional(),
  experiment: z.record(z.string(), z.unknown()),
  plots: z.array(z.record(z.string(), z.unknown())),
  /** Absent in plans written before analyses were exported. */
  analyses: z.array(plannedAnalysisSchema).optional(),
  /** Absent in plans written before file inventories were exported. */
  inventory: plannedInventorySchema.optional(),
  datasets: z.array(plannedDatasetSchema),
});
export type Plan = z.infer<typeof planSchema>;

/** Written by ExportSlot after every part of the slot exists: the slot is done. */
export const receiptSchema = z.object({
  runId: z.string(),
  experimentId: z.string(),
  dataset: z.string(),
  slot: z.number().int().nonnegative(),
  apiRows: z.number().int().nonnegative(),
  parts: z.array(partInfoSchema),
  /** For a file slot: the copy it stored. */
  copied: copiedFileSchema.optional(),
  /** Set when the slot failed for good: its dataset fails, the rest of the experiment commits. */
  error: errorInfoSchema.optional(),
});
export type Receipt = z.infer<typeof receiptSchema>;

export const datasetRecordSchema = z.object({
  dataset: z.string(),
  plotId: z.string().optional(),
  status: datasetStatusSchema,
  /** What the plan saw of it (see PlannedDataset.digest): a later partial re-export reuses it when equal. */
  digest: z.string().optional(),
  resultsChoice: resultsChoiceSchema.optional(),
  apiCount: z.number().int().nonnegative().nullable(),
  rowsWritten: z.number().int().nonnegative(),
  parts: z.array(partInfoSchema),
  /** For a file dataset: the copy in the lake. */
  copied: copiedFileSchema.optional(),
  error: errorInfoSchema.optional(),
});
export type DatasetRecord = z.infer<typeof datasetRecordSchema>;

/** One per project per run that wrote its row: what was written, and a digest of what Pluto said. */
export const projectRecordSchema = z.object({
  runId: z.string(),
  projectId: z.string(),
  digest: z.string(),
  part: partInfoSchema,
  exportedAt: z.string(),
});
export type ProjectRecord = z.infer<typeof projectRecordSchema>;

/** One per experiment per run, written put-if-absent: the experiment's outcome in this run. */
export const commitRecordSchema = z.object({
  runId: z.string(),
  experimentId: z.string(),
  projectId: z.string().nullable(),
  status: experimentStatusSchema,
  /** For `unchanged`: the run whose commit stays current. */
  sourceRunId: z.string().optional(),
  /** For `exported`: the run whose commit this one replaced; absent for a new experiment. */
  previousRunId: z.string().optional(),
  /** True when this run removed the experiment's partitions (missing-experiments policy `retire`). */
  retired: z.boolean().optional(),
  fingerprint: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  datasets: z.array(datasetRecordSchema),
  error: errorInfoSchema.optional(),
});
export type CommitRecord = z.infer<typeof commitRecordSchema>;

export const manifestSchema = z.object({
  runId: z.string(),
  codeVersion: z.string(),
  /**
   * `committed`: the run ended normally. `failed` / `interrupted`: it stopped (a run-wide error; a
   * signal or an aborted execution); the experiments it committed are published all the same, and
   * the same run id resumes it.
   */
  status: z.enum(['committed', 'failed', 'interrupted']),
  /** Why the run failed or stopped, when it did. */
  error: errorInfoSchema.optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  schemaFingerprints: z.record(z.string(), z.string()),
  counts: experimentCountsSchema,
  exportLog: partInfoSchema.optional(),
  experiments: z.array(commitRecordSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** Text as stored: UTF-8, with the API token masked (design.md, Untrusted input). */
export const encodeText = (text: string): Uint8Array => new TextEncoder().encode(maskSecrets(text));

export const encodeJson = (value: unknown): Uint8Array => encodeText(`${JSON.stringify(value, null, 1)}\n`);

export function decodeJson<T>(schema: z.ZodType<T>, body: Uint8Array, what: string): T {
  const parsed = schema.safeParse(JSON.parse(new TextDecoder().decode(body)));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new Error(`${what} is not valid${at}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export async function readJson<T>(
  store: ObjectStore,
  key: string,
  schema: z.ZodType<T>,
): Promise<T | undefined> {
  const body = await store.get(key);
  return body === undefined ? undefined : decodeJson(schema, body, key);
}

export const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

/** Canonical JSON (sorted keys) so that digests do not depend on key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    return Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

export const headersDigestOf = (headers: readonly string[]): string => sha256(JSON.stringify(headers));

export const rowDigestOf = (row: readonly unknown[]): string => sha256(canonicalJson(row));

export function errorInfo(error: unknown): ErrorInfo {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { detail, code, details } = error as { detail?: unknown; code?: unknown; details?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof detail === 'string' ? { detail } : {}),
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof details === 'string' ? { details } : {}),
  };
}

/** Lambda's Cause is `{"errorType", "errorMessage", ...}` as a JSON string; anything else is kept as text. */
export function parseCause(name: string, cause: string | undefined): ErrorInfo {
  if (cause === undefined || cause === '') return { name, message: name };
  try {
    const parsed = JSON.parse(cause) as {
      errorMessage?: unknown;
      detail?: unknown;
      code?: unknown;
      details?: unknown;
    };
    if (typeof parsed.errorMessage === 'string') {
      return {
        name,
        message: parsed.errorMessage,
        ...(typeof parsed.detail === 'string' ? { detail: parsed.detail } : {}),
        ...(typeof parsed.code === 'string' ? { code: parsed.code } : {}),
        ...(typeof parsed.details === 'string' ? { details: parsed.details } : {}),
      };
    }
  } catch {
    // Not JSON: a plain-text cause.
  }
  return { name, message: cause };
}
