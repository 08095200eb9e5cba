/**
 * Ends a run that FinalizeRun did not end: the execution failed uncatchably, timed out or was
 * aborted in AWS (the failure guard, fed by EventBridge), or a local export failed or was
 * interrupted. The run still gets its record — manifest `failed` or `interrupted` and the
 * export_log rows of the experiments it committed, which stay published — and its lease goes.
 *
 * Only the execution that holds the run's lease may do this: a second execution of the same run
 * id that failed must not end the first one's run while it is still going.
 */
import { z } from 'zod';
import { readManifest } from '../history.js';
import { isHeldBy, readLease, releaseLease } from '../lease.js';
import type { ErrorInfo, Manifest } from '../records.js';
import { runInputSchema } from './messages.js';
import { publishRunRecord, type RecordDeps, readItems, readOutcomes } from './run-record.js';

export interface EndedExecution {
  readonly execution: string;
  /** The run, when known; otherwise the run whose lease the execution holds. */
  readonly runId?: string;
  readonly outcome: 'failed' | 'interrupted';
  readonly error: ErrorInfo;
  readonly startedAt: string;
}

export type EndedRun =
  /** The run's record was written and its lease released. */
  | { readonly result: 'recorded'; readonly manifest: Manifest }
  /** The run had already ended (FinalizeRun wrote its record): nothing changed but the lease. */
  | { readonly result: 'finished'; readonly runId: string }
  /** The execution never started its run (no item list), or held no lease and named no run. */
  | { readonly result: 'not-started'; readonly runId?: string }
  /** Another execution of the same run id holds the lease: that one owns the run. */
  | { readonly result: 'another-execution'; readonly runId: string };

export async function closeEndedRun(ended: EndedExecution, deps: RecordDeps): Promise<EndedRun> {
  const lease = await readLease(deps.store);
  const runId = ended.runId ?? (lease?.holder?.execution === ended.execution ? lease.runId : undefined);
  if (runId === undefined) return { result: 'not-started' };
  const holds = lease !== undefined && isHeldBy(lease, runId, ended.execution);
  if (lease?.runId === runId && !holds) return { result: 'another-execution', runId };

  const existing = await readManifest(deps.store, runId);
  const items = await readItems(deps, runId);
  if (existing !== undefined || items === undefined) {
    if (holds) await releaseLease(deps.store, runId, ended.execution);
    return existing === undefined ? { result: 'not-started', runId } : { result: 'finished', runId };
  }
  const records = await readOutcomes(deps, runId, items, () => undefined);
  const manifest = await publishRunRecord(
    runId,
    records,
    { status: ended.outcome, error: ended.error, startedAt: ended.startedAt },
    deps,
  );
  if (holds) await releaseLease(deps.store, runId, ended.execution);
  return { result: 'recorded', manifest };
}

/**
 * EventBridge's "Step Functions Execution Status Change" event, as documented at
 * https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html: `detail` carries what
 * DescribeExecution returns; `input` is the execution input as a JSON string (null when too large
 * to include); `error` and `cause` are present on newer events only.
 */
export const executionStatusChangeSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  source: z.literal('aws.states'),
  detail: z.object({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    name: z.string(),
    status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']),
    startDate: z.number(),
    stopDate: z.number().nullable().optional(),
    input: z.string().nullable().optional(),
    error: z.string().nullable().optional(),
    cause: z.string().nullable().optional(),
  }),
});
export type ExecutionStatusChange = z.infer<typeof executionStatusChangeSchema>;

/** How each end the guard listens for is recorded, when the event carries no error name. */
const GUARDED_ENDS = {
  FAILED: { outcome: 'failed', error: 'ExecutionFailed' },
  TIMED_OUT: { outcome: 'failed', error: 'ExecutionTimedOut' },
  ABORTED: { outcome: 'interrupted', error: 'ExecutionAborted' },
} as const;

/** The execution statuses that end a run without FinalizeRun: what the deployed rule matches. */
export const GUARDED_STATUSES = Object.keys(GUARDED_ENDS) as (keyof typeof GUARDED_ENDS)[];

/** The failure guard: an execution that ended without FinalizeRun gets its run's record. */
export async function guardEndedExecution(event: ExecutionStatusChange, deps: RecordDeps): Promise<EndedRun> {
  const { detail } = event;
  if (!(detail.status in GUARDED_ENDS)) return { result: 'not-started' };
  const end = GUARDED_ENDS[detail.status as keyof typeof GUARDED_ENDS];
  const runId = runIdOf(detail.input);
  return closeEndedRun(
    {
      execution: detail.executionArn,
      ...(runId === undefined ? {} : { runId }),
      outcome: end.outcome,
      error: {
        name: detail.error ?? end.error,
        message: detail.cause ?? `The execution ${detail.name} ended ${detail.status}`,
      },
      startedAt: new Date(detail.startDate).toISOString(),
    },
    deps,
  );
}

function runIdOf(input: string | null | undefined): string | undefined {
  if (input === undefined || input === null) return undefined;
  try {
    return runInputSchema.safeParse(JSON.parse(input)).data?.runId;
  } catch {
    return undefined;
  }
}
