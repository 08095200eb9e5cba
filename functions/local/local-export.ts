/**
 * The whole export on a laptop: the deployed state machine definition, executed in-process,
 * against the folder store and the local catalog. A failed or interrupted execution is ended here
 * as the deployed failure guard ends one in AWS: its run's record is written, its lease released.
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { isProcessRunning } from '../adapters/process-liveness.js';
import { releaseLease } from '../core/lease.js';
import type { Catalog, ObjectStore, PlutoApi } from '../core/ports.js';
import { decodeJson, parseCause } from '../core/records.js';
import type { ExportSettings } from '../core/settings.js';
import type { ProcessHost, ProgressListener, StepDeps } from '../core/workflow/deps.js';
import { systemClock } from '../core/workflow/deps.js';
import { closeEndedRun, type EndedExecution, type EndedRun } from '../core/workflow/end-run.js';
import {
  type FinalizeOutput,
  finalizeOutputSchema,
  type RunInput,
  type StepName,
} from '../core/workflow/messages.js';
import { STEPS } from '../core/workflow/steps.js';
import { LocalExecutionAbortedError, LocalExecutionError, runWorkflowLocally } from './run-workflow.js';

export interface LocalExportOptions {
  readonly input: RunInput;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly pluto: PlutoApi;
  readonly settings: ExportSettings;
  readonly experimentConcurrency: number;
  readonly slotConcurrency: number;
  readonly progress?: ProgressListener;
  /** Scales the definition's Retry waits; tests pass 0. */
  readonly retryDelayScale?: number;
  /** Wraps every step invocation: tests record the state payloads or hold a step here. */
  readonly interceptStep?: StepInterceptor;
  /** Interrupts the export (the CLI aborts it on SIGINT, SIGTERM and SIGHUP); the reason names the signal. */
  readonly signal?: AbortSignal;
  /** This process on this machine, recorded in the lease; default the real one. */
  readonly host?: ProcessHost;
}

export type StepInterceptor = (
  step: StepName,
  input: unknown,
  run: (input: unknown) => Promise<unknown>,
) => Promise<unknown>;

/** The export stopped on its signal; what was committed stays published and is on record. */
export class RunInterruptedError extends Error {
  override readonly name = 'RunInterruptedError';
  constructor(
    readonly reason: string,
    readonly ended: EndedRun,
    options?: { cause?: unknown },
  ) {
    super(`the run was interrupted by ${reason}`, options);
  }
}

/** The steps that publish or record: an interrupted run waits for those in flight before it ends. */
const BOOKKEEPING_STEPS: ReadonlySet<StepName> = new Set([
  'CommitExperiment',
  'RecordExperimentFailure',
  'FinalizeRun',
]);

const thisProcess: ProcessHost = {
  name: hostname(),
  pid: process.pid,
  isRunning: isProcessRunning,
};

export async function runLocalExport(options: LocalExportOptions): Promise<FinalizeOutput> {
  const host = options.host ?? thisProcess;
  const deps: StepDeps = {
    store: options.store,
    catalog: options.catalog,
    pluto: options.pluto,
    clock: systemClock,
    settings: options.settings,
    host,
    concurrency: { experiments: options.experimentConcurrency, slots: options.slotConcurrency },
    ...(options.progress === undefined ? {} : { progress: options.progress }),
  };
  const executionId = `local:${host.name}:${host.pid}:${randomUUID()}`;
  const startedAt = systemClock.now().toISOString();
  const { signal } = options;
  const bookkeeping = new Set<Promise<unknown>>();
  const intercept = options.interceptStep;
  const handlers = Object.fromEntries(
    Object.entries(STEPS).map(([name, run]) => {
      const step = name as StepName;
      const invoke = (input: unknown) => {
        if (signal?.aborted) return Promise.reject(new LocalExecutionAbortedError(String(signal.reason)));
        const running = run(input, deps);
        if (BOOKKEEPING_STEPS.has(step)) {
          bookkeeping.add(running);
          void running.finally(() => bookkeeping.delete(running)).catch(() => undefined);
        }
        return running;
      };
      return [step, intercept === undefined ? invoke : (input: unknown) => intercept(step, input, invoke)];
    }),
  ) as { [K in keyof typeof STEPS]: (input: unknown) => Promise<unknown> };
  try {
    const output = await runWorkflowLocally(options.input, {
      handlers,
      readItems: async (key) => {
        const body = await options.store.get(key);
        if (body === undefined)
          throw new Error(`ItemReader: ${key} does not exist in ${options.store.location}`);
        return decodeJson(z.array(z.unknown()), body, key);
      },
      experimentConcurrency: options.experimentConcurrency,
      slotConcurrency: options.slotConcurrency,
      executionId,
      ...(signal === undefined ? {} : { signal }),
      ...(options.retryDelayScale === undefined ? {} : { retryDelayScale: options.retryDelayScale }),
    });
    return finalizeOutputSchema.parse(output);
  } catch (error) {
    const ended = { execution: executionId, runId: options.input.runId, startedAt };
    if (error instanceof LocalExecutionAbortedError) {
      // A commit in flight finishes (its pointers move in one step), so the record tells the truth.
      await Promise.allSettled([...bookkeeping]);
      const reason = error.reason;
      const record = await endRun(
        {
          ...ended,
          outcome: 'interrupted',
          error: { name: 'RunInterruptedError', message: `interrupted by ${reason}` },
        },
        deps,
      );
      throw new RunInterruptedError(reason, record, { cause: error });
    }
    if (error instanceof LocalExecutionError) {
      await endRun({ ...ended, outcome: 'failed', error: parseCause(error.error, error.errorCause) }, deps);
    }
    throw error;
  }
}

/** Ends the run; if even its record cannot be written (a full disk), the lease still goes. */
async function endRun(ended: EndedExecution & { runId: string }, deps: StepDeps): Promise<EndedRun> {
  try {
    return await closeEndedRun(ended, deps);
  } catch {
    await releaseLease(deps.store, ended.runId, ended.execution).catch(() => undefined);
    return { result: 'not-started', runId: ended.runId };
  }
}
