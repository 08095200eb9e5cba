/**
 * The whole export on a laptop: the deployed state machine definition, executed in-process,
 * against the folder store and the local catalog.
 */

import { z } from 'zod';
import type { Catalog, ObjectStore, PlutoApi } from '../core/ports.js';
import { decodeJson } from '../core/records.js';
import type { ExportSettings } from '../core/settings.js';
import type { ProgressListener, StepDeps } from '../core/workflow/deps.js';
import { systemClock } from '../core/workflow/deps.js';
import {
  type FinalizeOutput,
  finalizeOutputSchema,
  type RunInput,
  type StepName,
} from '../core/workflow/messages.js';
import { STEPS } from '../core/workflow/steps.js';
import { runWorkflowLocally } from './run-workflow.js';

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
}

export type StepInterceptor = (
  step: StepName,
  input: unknown,
  run: (input: unknown) => Promise<unknown>,
) => Promise<unknown>;

export async function runLocalExport(options: LocalExportOptions): Promise<FinalizeOutput> {
  const deps: StepDeps = {
    store: options.store,
    catalog: options.catalog,
    pluto: options.pluto,
    clock: systemClock,
    settings: options.settings,
    ...(options.progress === undefined ? {} : { progress: options.progress }),
  };
  const intercept = options.interceptStep;
  const handlers = Object.fromEntries(
    Object.entries(STEPS).map(([name, run]) => {
      const invoke = (input: unknown) => run(input, deps);
      return [
        name,
        intercept === undefined ? invoke : (input: unknown) => intercept(name as StepName, input, invoke),
      ];
    }),
  ) as { [K in keyof typeof STEPS]: (input: unknown) => Promise<unknown> };
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
    ...(options.retryDelayScale === undefined ? {} : { retryDelayScale: options.retryDelayScale }),
  });
  return finalizeOutputSchema.parse(output);
}
