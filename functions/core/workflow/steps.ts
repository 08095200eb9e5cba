/**
 * The workflow's steps by state name: validate the payload, run the core function. Lambda
 * handlers and the local runner both dispatch through this table, so they cannot drift apart.
 */
import type { z } from 'zod';
import { InvalidStepInputError } from '../errors.js';
import { maskErrorSecrets, maskValueSecrets } from '../secrets.js';
import { commitExperiment } from './commit-experiment.js';
import type { StepDeps } from './deps.js';
import { exportSlot } from './export-slot.js';
import { finalizeRun } from './finalize-run.js';
import {
  commitInputSchema,
  exportSlotInputSchema,
  finalizeInputSchema,
  planInputSchema,
  recordFailureInputSchema,
  STATE_NAMES,
  type StepName,
  startRunInputSchema,
} from './messages.js';
import { planExperiment } from './plan-experiment.js';
import { recordExperimentFailure } from './record-experiment-failure.js';
import { failIfRunAborted } from './run-abort.js';
import { startRun } from './start-run.js';

type Step = (input: unknown, deps: StepDeps) => Promise<unknown>;

function step<I>(
  name: StepName,
  schema: z.ZodType<I>,
  run: (input: I, deps: StepDeps) => Promise<unknown>,
): Step {
  return (input, deps) => {
    const parsed = schema.safeParse(input);
    if (!parsed.success) {
      throw new InvalidStepInputError(`${name} received an invalid payload: ${parsed.error.message}`, {
        cause: parsed.error,
      });
    }
    // Step errors and outputs are kept in the execution history and in failure records.
    return run(parsed.data, deps).then(maskValueSecrets, (error: unknown) => {
      throw maskErrorSecrets(error);
    });
  };
}

/** Steps that call Pluto or publish refuse to run once their run stands aborted (run-abort.ts). */
function unlessAborted<I extends { runId: string }>(
  run: (input: I, deps: StepDeps) => Promise<unknown>,
): (input: I, deps: StepDeps) => Promise<unknown> {
  return async (input, deps) => {
    await failIfRunAborted(input.runId, deps.store);
    return run(input, deps);
  };
}

export const STEPS: Readonly<Record<StepName, Step>> = {
  StartRun: step(STATE_NAMES.startRun, startRunInputSchema, startRun),
  PlanExperiment: step(STATE_NAMES.planExperiment, planInputSchema, unlessAborted(planExperiment)),
  ExportSlot: step(STATE_NAMES.exportSlot, exportSlotInputSchema, unlessAborted(exportSlot)),
  CommitExperiment: step(STATE_NAMES.commitExperiment, commitInputSchema, unlessAborted(commitExperiment)),
  RecordExperimentFailure: step(
    STATE_NAMES.recordExperimentFailure,
    recordFailureInputSchema,
    recordExperimentFailure,
  ),
  FinalizeRun: step(STATE_NAMES.finalizeRun, finalizeInputSchema, finalizeRun),
};
