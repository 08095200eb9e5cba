/**
 * A worker Lambda kills (timeout, out of memory) reaches Step Functions as the errorType Lambda
 * reports, e.g. `Sandbox.Timedout`; the state machine retries it, and the retried slot reuses the
 * part the killed attempt wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore, PutResult } from '../functions/core/ports.js';
import { exportSlotInputSchema } from '../functions/core/workflow/messages.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { LAMBDA_CRASH_ERRORS } from '../infra/workflow.js';
import { exportWith, lakeDigest, lakeRegistry } from './support/fault-harness.js';

let simulator: RunningSimulator;
const lakes = lakeRegistry();

beforeAll(async () => {
  simulator = await startSimulator({ seed: 44, experiments: 2, genes: [30, 40], samples: [3, 4] });
});

afterAll(async () => {
  await simulator?.close();
  await lakes.removeAll();
});

/** Counts the Parquet parts each key was created with. */
function countingParts(inner: ObjectStore): { store: ObjectStore; created: Map<string, number> } {
  const created = new Map<string, number>();
  const store = Object.create(inner) as ObjectStore;
  store.putIfAbsent = async (key: string, body: Uint8Array): Promise<PutResult> => {
    const result = await inner.putIfAbsent(key, body);
    if (result.created && key.endsWith('.parquet')) created.set(key, (created.get(key) ?? 0) + 1);
    return result;
  };
  store.put = async (key: string, body: Uint8Array) => {
    if (key.endsWith('.parquet')) created.set(key, (created.get(key) ?? 0) + 1);
    await inner.put(key, body);
  };
  return { store, created };
}

describe('a worker killed mid-slot', () => {
  for (const errorType of LAMBDA_CRASH_ERRORS) {
    it(`is retried after ${errorType}, and the slot's part is written once`, async () => {
      const clean = await lakes.lake('crash-clean');
      await exportWith({ simulator, ...clean, runId: 'run-1' });

      const lake = await lakes.lake('crash');
      const { store, created } = countingParts(lake.store);
      const attempts: string[] = [];
      let killed = false;
      const output = await exportWith({
        simulator,
        store,
        catalog: lake.catalog,
        runId: 'run-1',
        interceptStep: async (step, input, run) => {
          if (step !== 'ExportSlot') return run(input);
          const { experimentId, slot } = exportSlotInputSchema.parse(input);
          const id = `${experimentId}/${slot.dataset}/${slot.slot}`;
          attempts.push(id);
          const result = await run(input);
          if (!killed && slot.kind === 'assay') {
            killed = true;
            // The part is written; the runtime is killed before the invocation returns.
            const crash = new Error(`RequestId: 1 Error: Task timed out (${id})`);
            crash.name = errorType;
            throw crash;
          }
          return result;
        },
      });

      expect(output.status).toBe('committed');
      expect(output.experiments.failed).toBe(0);
      const killedSlot =
        attempts[attempts.findIndex((id) => attempts.indexOf(id) !== attempts.lastIndexOf(id))];
      expect(attempts.filter((id) => id === killedSlot)).toHaveLength(2);
      expect([...created.values()].every((count) => count === 1)).toBe(true);
      expect(await lakeDigest(lake.root)).toEqual(await lakeDigest(clean.root));
    });
  }
});
