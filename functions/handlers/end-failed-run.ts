/**
 * Lambda entry of the failure guard: EventBridge delivers a "Step Functions Execution Status Change"
 * event for an execution that FAILED, TIMED_OUT or was ABORTED; its run gets its record and its
 * lease is released (core/workflow/end-run.ts).
 */
import { InvalidStepInputError } from '../core/errors.js';
import { executionStatusChangeSchema, guardEndedExecution } from '../core/workflow/end-run.js';
import { type Runtime, runtimeFromEnvironment } from './runtime.js';

export function endFailedRunHandler(runtime: () => Runtime = runtimeFromEnvironment) {
  return async (event: unknown): Promise<string> => {
    const parsed = executionStatusChangeSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidStepInputError(
        `EndFailedRun received an event it does not know: ${parsed.error.message}`,
        {
          cause: parsed.error,
        },
      );
    }
    const { deps, logger } = runtime();
    const ended = await guardEndedExecution(parsed.data, deps);
    logger.info('Ended execution guarded', {
      execution: parsed.data.detail.executionArn,
      status: parsed.data.detail.status,
      result: ended.result,
      ...(ended.result === 'recorded' ? { runId: ended.manifest.runId } : {}),
    });
    return ended.result;
  };
}

export const handler = endFailedRunHandler();
