/**
 * Child process of `npm run bench`: the planning half of a run over a large organisation. StartRun,
 * then PlanExperiment for every listed experiment (as the Distributed Map would, `--concurrency` at
 * a time, a refusal going to RecordExperimentFailure as the Catch would send it), ExportSlot and
 * CommitExperiment for the first `--export-sample` experiments, and FinalizeRun. Every payload is
 * built the way the state machine builds it (ItemSelector, ResultPath) and measured as JSON bytes.
 * Prints one JSON line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { itemsKey, manifestKey } from '../functions/core/layout.js';
import { readJson } from '../functions/core/records.js';
import {
  type ExperimentItem,
  experimentItemSchema,
  type PlanOutput,
  planOutputSchema,
  type StepName,
  slotSchema,
  startRunOutputSchema,
} from '../functions/core/workflow/messages.js';
import { STEPS } from '../functions/core/workflow/steps.js';
import { benchDeps, CountingStore } from './deps.js';
import { argValue, cpuMsOf, printResult } from './process.js';
import type { ScaleRun, StatePayloads } from './results.js';

const bytesOf = (value: unknown) => Buffer.byteLength(JSON.stringify(value ?? null));

/** What a Node.js Lambda reports for a thrown error: the Cause Step Functions passes to a Catch. */
function lambdaFailure(error: unknown) {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    Error: e.name,
    Cause: JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') }),
  };
}

async function main(): Promise<ScaleRun> {
  const url = argValue('url');
  const concurrency = Number(argValue('concurrency', '8'));
  const exportSample = Number(argValue('export-sample', '10'));
  const root = await mkdtemp(join(tmpdir(), 'bench-scale-'));
  const store = new CountingStore(new FolderStore(root));
  const deps = benchDeps(url, store);
  const states: Record<string, StatePayloads> = {};
  /** `run: false` only measures the input (slots beyond the export sample). */
  const call = async (name: StepName, input: unknown, run: boolean): Promise<unknown> => {
    const stats = states[name] ?? {
      payloads: 0,
      executed: 0,
      maxInputBytes: 0,
      maxOutputBytes: 0,
      totalMs: 0,
      maxMs: 0,
    };
    states[name] = stats;
    stats.payloads++;
    stats.maxInputBytes = Math.max(stats.maxInputBytes, bytesOf(input));
    if (!run) return undefined;
    stats.executed++;
    const started = performance.now();
    const output = await STEPS[name](input, deps);
    const ms = performance.now() - started;
    stats.totalMs += ms;
    stats.maxMs = Math.max(stats.maxMs, ms);
    stats.maxOutputBytes = Math.max(stats.maxOutputBytes, bytesOf(output));
    return output;
  };

  try {
    const runId = 'bench-scale';
    const runStarted = performance.now();
    const start = startRunOutputSchema.parse(
      await call('StartRun', { run: { runId, full: true }, execution: 'bench-scale' }, true),
    );
    const startMs = performance.now() - runStarted;
    const items = (await readJson(store, itemsKey(runId), experimentItemSchema.array())) ?? [];
    const itemsBytes = (await store.head(itemsKey(runId)))?.size ?? 0;

    const planned: PlanOutput[] = [];
    let refused = 0;
    const planStarted = performance.now();
    let next = 0;
    const planOne = async (item: ExperimentItem) => {
      const input = { runId, full: start.full, item };
      try {
        planned.push(planOutputSchema.parse(await call('PlanExperiment', input, true)));
      } catch (error) {
        refused++;
        await call('RecordExperimentFailure', { ...input, failure: lambdaFailure(error) }, true);
      }
    };
    // The first few one at a time: their mean is a plan's own duration, free of contention.
    for (; next < Math.min(exportSample, items.length); next++) await planOne(items[next] as ExperimentItem);
    const planSequentialMs = (performance.now() - planStarted) / Math.max(1, next);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < items.length; i = next++) await planOne(items[i] as ExperimentItem);
      }),
    );
    const planWallMs = performance.now() - planStarted;

    let maxSlotsBytes = 0;
    let slotCount = 0;
    planned.sort((a, b) => (a.experimentId < b.experimentId ? -1 : 1));
    for (const [i, plan] of planned.entries()) {
      maxSlotsBytes = Math.max(maxSlotsBytes, (await store.head(plan.slotsKey))?.size ?? 0);
      const slots = (await readJson(store, plan.slotsKey, slotSchema.array())) ?? [];
      slotCount += slots.length;
      const exporting = i < exportSample;
      for (const slot of slots) {
        const input = { runId: plan.runId, experimentId: plan.experimentId, slot };
        await call('ExportSlot', input, exporting);
      }
      if (exporting) await call('CommitExperiment', plan, true);
    }

    const finalizeStarted = performance.now();
    await call('FinalizeRun', start, true);
    const finalizeMs = performance.now() - finalizeStarted;
    const manifestBytes = (await store.head(manifestKey(runId)))?.size ?? 0;
    return {
      experiments: items.length,
      planned: planned.length,
      refused,
      slots: slotCount,
      concurrency,
      exportSample: Math.min(exportSample, planned.length),
      startMs,
      planWallMs,
      planSequentialMs,
      finalizeMs,
      itemsBytes,
      maxSlotsBytes,
      manifestBytes,
      states,
      store: store.counts,
      cpuMs: cpuMsOf(process.cpuUsage()),
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

printResult('bench/scale.ts', main);
