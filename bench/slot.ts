/**
 * Child process of `npm run bench`: one ExportSlot of an assay slot (`--rows-per-part` cells, the
 * whole assay of the simulated experiment) through the real HTTP client and folder store; wall
 * time and peak RSS above the baseline taken just before. Prints one JSON line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { DuckDBInstance } from '@duckdb/node-api';
import { wasmMemory } from 'parquet-wasm';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { itemsKey } from '../functions/core/layout.js';
import { releaseLease } from '../functions/core/lease.js';
import { readJson, receiptSchema } from '../functions/core/records.js';
import {
  experimentItemSchema,
  planOutputSchema,
  slotSchema,
  startRunOutputSchema,
} from '../functions/core/workflow/messages.js';
import { STEPS } from '../functions/core/workflow/steps.js';
import { benchDeps, EXPORT_SETTINGS } from './deps.js';
import { argValue, collectGarbage, cpuMsOf, printResult, RssSampler } from './process.js';
import type { SlotReport, SlotRun } from './results.js';

/**
 * The JavaScript heap and the memory it holds outside (buffers, WebAssembly excluded), sampled on
 * the main thread between its tasks: what the slot keeps reachable or not yet collected, without
 * the allocator's and the runtime's own pages that RSS also counts.
 */
class HeapSampler {
  private readonly baseline = HeapSampler.now();
  private peak = this.baseline;
  private readonly timer = setInterval(() => {
    this.peak = Math.max(this.peak, HeapSampler.now());
  }, 5);

  static now(): number {
    const stats = getHeapStatistics();
    return stats.used_heap_size + stats.external_memory;
  }

  stop(): number {
    clearInterval(this.timer);
    return Math.max(this.peak, HeapSampler.now()) - this.baseline;
  }
}

/** What the slot's peak holds besides its own data: V8's young generation and parquet-wasm's memory. */
function fixedCosts(): { youngGeneration: number; wasmMemory: number } {
  const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return { youngGeneration: young?.space_size ?? 0, wasmMemory: wasmMemory().buffer.byteLength };
}

/** Row groups in a Parquet file, as DuckDB reads its footer. */
async function rowGroupsOf(file: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(
      `SELECT count(DISTINCT row_group_id)::INTEGER AS groups FROM parquet_metadata('${file}')`,
    );
    return Number(reader.getRowObjectsJS()[0]?.groups ?? 0);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function main(): Promise<SlotReport> {
  const url = argValue('url');
  const runs = Number(argValue('runs', '1'));
  const rowsPerPart = Number(argValue('rows-per-part', String(EXPORT_SETTINGS.rowsPerPart)));
  const root = await mkdtemp(join(tmpdir(), 'bench-slot-'));
  const store = new FolderStore(root);
  const deps = { ...benchDeps(url, store), settings: { ...EXPORT_SETTINGS, rowsPerPart } };
  const sampler = new RssSampler(10);
  const results: SlotRun[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const runId = `bench-slot-${i}`;
      const execution = `bench:${runId}`;
      startRunOutputSchema.parse(await STEPS.StartRun({ run: { runId }, execution }, deps));
      const items = (await readJson(store, itemsKey(runId), experimentItemSchema.array())) ?? [];
      const item = items[0];
      if (item === undefined) throw new Error('the simulator listed no experiment');
      const plan = planOutputSchema.parse(await STEPS.PlanExperiment({ runId, full: true, item }, deps));
      const slots = (await readJson(store, plan.slotsKey, slotSchema.array())) ?? [];
      const slot = slots.find((s) => s.kind === 'assay');
      if (slot === undefined || slots.filter((s) => s.kind === 'assay').length !== 1) {
        throw new Error('the benchmark needs an experiment whose assay fits one slot');
      }
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const baselineRss = await sampler.reset();
      const heap = new HeapSampler();
      const before = fixedCosts();
      const started = performance.now();
      const receipt = receiptSchema.parse(
        await STEPS.ExportSlot({ runId, experimentId: item.experimentId, slot }, deps),
      );
      const wallMs = performance.now() - started;
      const peakRss = await sampler.peak();
      const peakHeapAboveBaseline = heap.stop();
      const after = fixedCosts();
      const part = receipt.parts[0];
      results.push({
        wallMs,
        cells: part?.rows ?? 0,
        apiRows: receipt.apiRows,
        requests: Math.ceil(slot.limit / deps.settings.pageSize),
        partBytes: part?.bytes ?? 0,
        rowGroups: part === undefined ? 0 : await rowGroupsOf(join(root, part.key)),
        baselineRss,
        peakRss,
        peakAboveBaseline: peakRss - baselineRss,
        peakHeapAboveBaseline,
        youngGenerationGrowth: after.youngGeneration - before.youngGeneration,
        wasmMemoryGrowth: after.wasmMemory - before.wasmMemory,
      });
      await releaseLease(deps.store, runId, execution);
    }
  } finally {
    sampler.stop();
    await rm(root, { recursive: true, force: true });
  }
  return { runs: results, cpuMs: cpuMsOf(process.cpuUsage()) };
}

printResult('bench/slot.ts', main);
