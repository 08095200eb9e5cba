/**
 * The payloads that travel between workflow states. Each is small and bounded: lists that grow
 * with the data (experiments, slots) live in the store and travel as keys (design.md, Workflow).
 */
import { z } from 'zod';
import { idSchema as id } from '../ids.js';
import { experimentCountsSchema, experimentStatusSchema, fileCopySchema } from '../records.js';

export const runInputSchema = z.object({
  runId: id,
  experimentIds: z.array(id).optional(),
  projectIds: z.array(id).optional(),
  /** Re-export every experiment even when its fingerprint is unchanged. */
  full: z.boolean().optional(),
  /**
   * What happens to a committed experiment that Pluto no longer lists or refuses: `keep` its last
   * commit (the default) or `retire` it (pointers removed, data kept until retention).
   */
  missingExperiments: z.enum(['keep', 'retire']).optional(),
});
export type RunInput = z.infer<typeof runInputSchema>;

/** StartRun's payload: the execution's input and the execution itself, which is what holds the lease. */
export const startRunInputSchema = z.object({
  run: runInputSchema,
  /** `$$.Execution.Id`: the execution ARN in AWS, a local execution id on a laptop. */
  execution: z.string().min(1),
});
export type StartRunInput = z.infer<typeof startRunInputSchema>;

export const startRunOutputSchema = z.object({
  runId: id,
  /** `started`: export; `leased`: another run holds the lease; `committed`: this run already finished. */
  status: z.enum(['started', 'leased', 'committed']),
  /** The execution that runs this run; with `leased`, the one that was kept out. */
  execution: z.string().min(1),
  itemsKey: z.string(),
  experimentCount: z.number().int().nonnegative(),
  full: z.boolean(),
  missingExperiments: z.enum(['keep', 'retire']),
  /** True when no filter narrowed the listing, so an experiment not in it has really disappeared. */
  listedAll: z.boolean(),
  startedAt: z.string(),
});
export type StartRunOutput = z.infer<typeof startRunOutputSchema>;

/** One element of `runs/<run>/items.json`, the ItemReader input of ExportExperiments. */
export const experimentItemSchema = z.object({
  experimentId: id,
  projectId: z.string().nullable(),
});
export type ExperimentItem = z.infer<typeof experimentItemSchema>;

/** What the ExportExperiments ItemSelector hands each child execution. */
export const planInputSchema = z.object({
  runId: id,
  full: z.boolean(),
  item: experimentItemSchema,
});
export type PlanInput = z.infer<typeof planInputSchema>;

export const planOutputSchema = z.object({
  runId: id,
  experimentId: id,
  /** `export`: slots to write; `done`: nothing left to do (unchanged, or already committed). */
  action: z.enum(['export', 'done']),
  slotsKey: z.string(),
  slotCount: z.number().int().nonnegative(),
});
export type PlanOutput = z.infer<typeof planOutputSchema>;

export const slotSchema = z.object({
  /** `samples`, `assay`, `plot-<uuid>` (names the part file) or `file-<uuid>`. */
  dataset: z.string(),
  kind: z.enum(['samples', 'assay', 'results', 'file']),
  /** For `file`: the file to copy. */
  file: fileCopySchema.optional(),
  plotId: z.string().optional(),
  /** For `results`: read from the plot's download (whole) instead of its data pages. */
  from: z.enum(['data', 'download']).optional(),
  slot: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  limit: z.number().int().nonnegative(),
  /** The API count at planning time; any other count while paging is drift. */
  expectedCount: z.number().int().nonnegative(),
  /** Digest of the header row at planning time. */
  headersDigest: z.string(),
});
export type Slot = z.infer<typeof slotSchema>;

export const exportSlotInputSchema = z.object({
  runId: id,
  experimentId: id,
  slot: slotSchema,
});
export type ExportSlotInput = z.infer<typeof exportSlotInputSchema>;

export const commitInputSchema = planOutputSchema;
export type CommitInput = PlanOutput;

export const commitOutputSchema = z.object({
  runId: id,
  experimentId: id,
  status: experimentStatusSchema,
});
export type CommitOutput = z.infer<typeof commitOutputSchema>;

/** Step Functions' error object, as a Catch with a ResultPath puts it into the state. */
const stepFailureSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

/** Input of RecordExperimentFailure: the failed state's input plus Step Functions' error object. */
export const recordFailureInputSchema = z.object({
  runId: id,
  experimentId: id.optional(),
  item: experimentItemSchema.optional(),
  failure: stepFailureSchema,
});
export type RecordFailureInput = z.infer<typeof recordFailureInputSchema>;

/** StartRun's output; with `failure` when the ExportExperiments map itself failed. */
export const finalizeInputSchema = startRunOutputSchema.extend({ failure: stepFailureSchema.optional() });
export type FinalizeInput = z.infer<typeof finalizeInputSchema>;

export const finalizeOutputSchema = z.object({
  runId: id,
  status: z.enum(['committed', 'leased', 'failed']),
  manifestKey: z.string().optional(),
  experiments: experimentCountsSchema,
});
export type FinalizeOutput = z.infer<typeof finalizeOutputSchema>;

/**
 * The workflow's Lambda-backed steps, in the order a run meets them, each with its state name. The
 * CDK definition, the functions, the handler table, the local runner and the dashboard all read this.
 */
export const STEP_NAMES = {
  startRun: 'StartRun',
  planExperiment: 'PlanExperiment',
  exportSlot: 'ExportSlot',
  commitExperiment: 'CommitExperiment',
  recordExperimentFailure: 'RecordExperimentFailure',
  finalizeRun: 'FinalizeRun',
} as const;
export type WorkflowStep = keyof typeof STEP_NAMES;
/** A step's state name; the handler table and the local runner are keyed by it. */
export type StepName = (typeof STEP_NAMES)[WorkflowStep];
export const WORKFLOW_STEPS = Object.keys(STEP_NAMES) as WorkflowStep[];

/** Every state name of the definition: the steps and the two Map states that fan out over them. */
export const STATE_NAMES = {
  ...STEP_NAMES,
  exportExperiments: 'ExportExperiments',
  exportSlots: 'ExportSlots',
} as const;
