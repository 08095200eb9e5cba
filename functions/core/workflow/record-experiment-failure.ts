/**
 * RecordExperimentFailure: the per-experiment Catch. Pluto's refusals (400 invalid_object_id, 403, 404, 405) become
 * `skipped`, everything else `failed`, with Pluto's detail; the previous commit stays current.
 */
import { SKIPPING_ERROR_NAMES } from '../errors.js';
import { commitRecordKey, slotFailurePrefix } from '../layout.js';
import {
  type CommitRecord,
  type ErrorInfo,
  encodeJson,
  errorInfoSchema,
  parseCause,
  readJson,
} from '../records.js';
import type { StepDeps } from './deps.js';
import type { CommitOutput, RecordFailureInput } from './messages.js';
import { isRunFatal, recordRunAbort } from './run-abort.js';

export async function recordExperimentFailure(
  input: RecordFailureInput,
  deps: StepDeps,
): Promise<CommitOutput> {
  const experimentId = input.experimentId ?? input.item?.experimentId;
  if (experimentId === undefined) throw new Error('RecordExperimentFailure needs experimentId or item');
  const { runId } = input;
  const key = commitRecordKey(runId, experimentId);
  const error = await failureInfo(input, experimentId, deps);
  if (isRunFatal(error.name)) {
    // Not this experiment's outcome but the run's: no record, so that a resumed run exports it.
    await recordRunAbort(runId, error, deps.store);
    return { runId, experimentId, status: 'failed' };
  }
  const status = (SKIPPING_ERROR_NAMES as readonly string[]).includes(error.name) ? 'skipped' : 'failed';
  const now = deps.clock.now().toISOString();
  const record: CommitRecord = {
    runId,
    experimentId,
    projectId: input.item?.projectId ?? null,
    status,
    startedAt: now,
    finishedAt: now,
    datasets: [],
    error,
  };
  const created = (await deps.store.putIfAbsent(key, encodeJson(record))).created;
  if (created) deps.progress?.experimentFinished?.({ experimentId, status, rows: 0 });
  return { runId, experimentId, status };
}

/**
 * Step Functions reports a failed Distributed Map as `States.*`; the slot that failed left its own
 * error in the store, which is what the user needs to read.
 */
async function failureInfo(
  input: RecordFailureInput,
  experimentId: string,
  deps: StepDeps,
): Promise<ErrorInfo> {
  if (input.failure.Error.startsWith('States.')) {
    const [first] = await deps.store.list(slotFailurePrefix(input.runId, experimentId));
    const slotError =
      first === undefined ? undefined : await readJson(deps.store, first.key, errorInfoSchema);
    if (slotError !== undefined) return slotError;
  }
  return parseCause(input.failure.Error, input.failure.Cause);
}
