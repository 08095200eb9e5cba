/**
 * Child process of `npm run bench`: a whole export of the simulator's organisation into a temp
 * folder, either through the real local export (`--mode ours`: the deployed workflow definition,
 * the HTTP client, the folder store) or the naive exporter (`--mode naive`). Prints one JSON line.
 * With `--requests-out <file>`, ours also writes there every request it made (bench/requests.ts)
 * and how busy its main thread was, for the network section.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { manifestKey } from '../functions/core/layout.js';
import type { Catalog } from '../functions/core/ports.js';
import { manifestSchema, readJson } from '../functions/core/records.js';
import { runLocalExport } from '../functions/local/local-export.js';
import { loadWorkflowDefinition } from '../functions/local/run-workflow.js';
import { SIMULATOR_TOKEN } from '../functions/simulator/index.js';
import { CountingStore, EXPORT_SETTINGS, simulatorClient } from './deps.js';
import { runNaiveExport } from './naive-exporter.js';
import { argValue, collectGarbage, cpuMsOf, printResult, RssSampler } from './process.js';
import { recordRequests, sampleBusy, stepContext } from './requests.js';
import type { E2eRun } from './results.js';

const LONG_TABLES = new Set(['samples', 'assay', 'results']);

type Measured = 'wallMs' | 'peakRss' | 'baselineRss' | 'definitionMs' | 'cpuMs';

/** Counts catalog calls (Glue requests in AWS; the local catalog's own store traffic is not S3's). */
function countingCatalog(inner: Catalog, counts: { calls: number }): Catalog {
  return {
    getPartition: (table, value) => {
      counts.calls++;
      return inner.getPartition(table, value);
    },
    putPartitions: (pointers) => {
      counts.calls++;
      return inner.putPartitions(pointers);
    },
    deletePartitions: (table, values) => {
      counts.calls++;
      return inner.deletePartitions(table, values);
    },
    listPartitions: (table) => {
      counts.calls++;
      return inner.listPartitions(table);
    },
  };
}

async function ours(
  url: string,
  root: string,
  concurrency: { experiments: number; slots: number },
): Promise<Omit<E2eRun, Measured>> {
  const folder = new FolderStore(root);
  const store = new CountingStore(folder);
  const catalogCalls = { calls: 0 };
  const runId = 'bench-e2e';
  const output = await runLocalExport({
    input: { runId, full: true },
    store,
    catalog: countingCatalog(new StoreCatalog(folder), catalogCalls),
    pluto: simulatorClient(url),
    settings: EXPORT_SETTINGS,
    experimentConcurrency: concurrency.experiments,
    slotConcurrency: concurrency.slots,
    interceptStep: (step, input, run) => stepContext.run(describeStep(step, input), () => run(input)),
  });
  const manifest = await readJson(folder, manifestKey(runId), manifestSchema);
  if (manifest === undefined || output.status !== 'committed')
    throw new Error(`the run ended ${output.status}`);
  const parts = manifest.experiments.flatMap((e) => e.datasets.flatMap((d) => d.parts));
  if (manifest.exportLog !== undefined) parts.push(manifest.exportLog);
  const longParts = parts.filter((p) => LONG_TABLES.has(p.table));
  return {
    mode: 'ours',
    experimentsListed: manifest.experiments.length,
    experimentsExported: output.experiments.exported,
    experimentsRefused: output.experiments.failed + output.experiments.skipped,
    experimentsLeftOut: 0,
    cells: longParts.reduce((sum, p) => sum + p.rows, 0),
    slots: longParts.length,
    parquetRows: parts.reduce((sum, p) => sum + p.rows, 0),
    parquetBytes: parts.reduce((sum, p) => sum + p.bytes, 0),
    files: parts.length,
    store: store.counts,
    catalogCalls: catalogCalls.calls,
  };
}

/** `ExportSlot PLX123456 assay#0`: the step and what it works on. */
function describeStep(step: string, input: unknown): string {
  const of = input as {
    item?: { experimentId?: string };
    experimentId?: string;
    slot?: { dataset?: string; slot?: number };
  };
  const experiment = of.item?.experimentId ?? of.experimentId;
  const slot = of.slot === undefined ? undefined : `${of.slot.dataset}#${of.slot.slot}`;
  return [step, experiment, slot].filter((part) => part !== undefined).join(' ');
}

async function naive(
  url: string,
  root: string,
  budgetMs: number | undefined,
): Promise<Omit<E2eRun, Measured>> {
  const result = await runNaiveExport({
    baseUrl: url,
    token: SIMULATOR_TOKEN,
    outDir: root,
    ...(budgetMs === undefined ? {} : { budgetMs }),
  });
  return { mode: 'naive', ...result, slots: 0, catalogCalls: 0 };
}

async function main(): Promise<E2eRun> {
  const url = argValue('url');
  const mode = argValue('mode');
  const budget = argValue('budget-ms', '');
  const root = await mkdtemp(join(tmpdir(), `bench-e2e-${mode}-`));
  const sampler = new RssSampler(10);
  try {
    const definitionStarted = performance.now();
    if (mode === 'ours') loadWorkflowDefinition();
    const definitionMs = performance.now() - definitionStarted;
    collectGarbage();
    const baselineRss = await sampler.reset();
    const requestsOut = argValue('requests-out', '');
    const started = performance.now();
    const recording =
      requestsOut === ''
        ? undefined
        : { requests: recordRequests(started), busy: sampleBusy(started), cpu: process.cpuUsage() };
    const result =
      mode === 'ours'
        ? await ours(url, root, {
            experiments: Number(argValue('experiment-concurrency', '4')),
            slots: Number(argValue('slot-concurrency', '4')),
          })
        : await naive(url, root, budget === '' ? undefined : Number(budget));
    const wallMs = performance.now() - started;
    if (recording !== undefined) {
      const made = {
        requests: recording.requests.stop(),
        busy: recording.busy.stop(),
        wallMs,
        cpuMs: cpuMsOf(process.cpuUsage(recording.cpu)),
      };
      await writeFile(requestsOut, JSON.stringify(made));
    }
    return {
      ...result,
      wallMs,
      ...(mode === 'ours' ? { definitionMs } : {}),
      baselineRss,
      peakRss: await sampler.peak(),
      cpuMs: cpuMsOf(process.cpuUsage()),
    };
  } finally {
    sampler.stop();
    await rm(root, { recursive: true, force: true });
  }
}

printResult('bench/e2e.ts', main);
