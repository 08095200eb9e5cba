/** A resumed old run must not replace what a newer run committed in the meantime. */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitVerificationError } from '../functions/core/errors.js';
import { slotsKey } from '../functions/core/layout.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import { readJson } from '../functions/core/records.js';
import { commitExperiment } from '../functions/core/workflow/commit-experiment.js';
import { type StepDeps, systemClock } from '../functions/core/workflow/deps.js';
import { exportSlot } from '../functions/core/workflow/export-slot.js';
import { slotSchema } from '../functions/core/workflow/messages.js';
import { planExperiment } from '../functions/core/workflow/plan-experiment.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { exportWith, FAST_SETTINGS, type FolderLake, newLake } from './support/fault-harness.js';
import { queryLake } from './support/lake-query.js';
import { fixedSecret } from './support/secrets.js';

let simulator: RunningSimulator;
let lake: FolderLake;

beforeAll(async () => {
  simulator = await startSimulator({ seed: 21, experiments: 2, genes: [40, 60], samples: [3, 4] });
  lake = await newLake('commit-order');
});

afterAll(async () => {
  await simulator?.close();
  if (lake) await rm(lake.root, { recursive: true, force: true });
});

describe('commit order', () => {
  it('refuses to commit a plan that a newer run has overtaken, and keeps the newer data', async () => {
    const experiment = simulator.truth.exportable[0];
    if (experiment === undefined) throw new Error('no experiment');
    const token = simulator.truth.token;
    const deps: StepDeps = {
      store: lake.store,
      catalog: lake.catalog,
      pluto: createPlutoClient({
        baseUrl: simulator.url,
        secrets: fixedSecret(token),
        version: 'test',
      }),
      clock: systemClock,
      settings: FAST_SETTINGS,
    };
    const plan = await planExperiment(
      { runId: 'old', full: false, item: { experimentId: experiment.id, projectId: null } },
      deps,
    );
    const slots = (await readJson(lake.store, slotsKey('old', experiment.id), slotSchema.array())) ?? [];
    for (const slot of slots) await exportSlot({ runId: 'old', experimentId: experiment.id, slot }, deps);

    simulator.truth.setCell(experiment.id, 'assay', 0, 1, 777.5);
    const newer = await exportWith({ simulator, store: lake.store, catalog: lake.catalog, runId: 'newer' });
    expect(newer.status).toBe('committed');

    await expect(commitExperiment(plan, deps)).rejects.toThrow(CommitVerificationError);
    await expect(commitExperiment(plan, deps)).rejects.toThrow(
      /run newer changed it after run old planned it/,
    );
    const [row] = await queryLake(
      lake.root,
      `select (select run_id from experiments where experiment_id = '${experiment.id}') as run_id, value
       from assay where experiment_id = '${experiment.id}' and row_number = 0 and sample_id = '${experiment.assay.headers[1]}'`,
    );
    expect(row).toEqual({ run_id: 'newer', value: 777.5 });
  });
});
