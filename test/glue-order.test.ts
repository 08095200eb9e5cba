/**
 * A commit whose catalog fails part-way: the experiments pointer, which the next plan compares
 * against, must not have moved, so the next run re-exports the experiment and every table ends up
 * pointing at one run. The same with Glue (aws-sdk-client-mock keeping partitions) and the local catalog.
 */
import { BatchUpdatePartitionCommand, GlueClient } from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlueCatalog } from '../functions/adapters/glue-catalog.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { EXPERIMENT_TABLES } from '../functions/core/contract.js';
import type { Catalog, ObjectStore } from '../functions/core/ports.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { fakeGluePartitions } from './support/fake-glue.js';
import { exportWith, type FolderLake, lakeRegistry } from './support/fault-harness.js';
import { FaultyStore } from './support/faulty-store.js';

let simulator: RunningSimulator;
const lakes = lakeRegistry();

beforeAll(async () => {
  simulator = await startSimulator({ seed: 33, experiments: 1, genes: [30, 40], samples: [3, 4] });
});

afterAll(async () => {
  await simulator?.close();
  await lakes.removeAll();
});

interface CatalogUnderTest {
  readonly catalog: Catalog;
  /** The store the run writes through: the local catalog keeps its pointers in it. */
  readonly store: ObjectStore;
}

/** Each catalog, healthy or with the `assay` repoint failing (the table that is neither first nor last). */
const catalogs: Record<string, (lake: FolderLake, failing: boolean) => CatalogUnderTest> = (() => {
  const glue = mockClient(new GlueClient({ region: 'eu-west-1' }));
  let failing = false;
  const partitions = fakeGluePartitions(glue);
  glue.on(BatchUpdatePartitionCommand, { TableName: 'assay' }).callsFake((input) => {
    if (failing) {
      return {
        Errors: input.Entries.map((e: { PartitionValueList: string[] }) => ({
          PartitionValueList: e.PartitionValueList,
          ErrorDetail: { ErrorCode: 'InternalServiceException', ErrorMessage: 'try later' },
        })),
      };
    }
    for (const e of input.Entries)
      partitions.set(`assay/${e.PartitionValueList.join('/')}`, e.PartitionInput);
    return {};
  });
  const glueCatalog = new GlueCatalog({
    database: 'pluto',
    lake: { bucket: 'lake', prefix: '' },
    client: glue as unknown as GlueClient,
  });
  return {
    'the Glue adapter': (lake, fail) => {
      failing = fail;
      return { catalog: glueCatalog, store: lake.store };
    },
    'the local catalog': (lake, fail) => {
      const store = fail
        ? new FaultyStore(lake.store, [{ operations: ['put'], key: /^_catalog\/assay\//, fault: 'fail' }])
        : lake.store;
      return { catalog: new StoreCatalog(store), store };
    },
  };
})();

describe('a catalog that fails in the middle of a commit', () => {
  for (const [i, [name, open]] of Object.entries(catalogs).entries()) {
    const run = (n: number) => `${name.replace(/\W+/g, '-')}-r${n}`;
    it(`leaves the experiments pointer where it was, so the next run repairs every table: ${name}`, async () => {
      const lake = await lakes.lake('glue-order');
      const experiment = simulator.truth.exportable[0];
      if (experiment === undefined) throw new Error('no experiment');
      const pointers = async (catalog: Catalog) =>
        Object.fromEntries(
          await Promise.all(
            EXPERIMENT_TABLES.map(async (t) => [t, (await catalog.getPartition(t, experiment.id))?.runId]),
          ),
        );

      const healthy = open(lake, false);
      const first = await exportWith({ simulator, ...healthy, runId: run(1) });
      expect(first.experiments.exported).toBe(1);

      simulator.truth.setCell(experiment.id, 'assay', 0, 1, 4242.5 + i);
      const broken = open(lake, true);
      const second = await exportWith({ simulator, ...broken, runId: run(2) });
      expect(second.status).toBe('committed');
      expect((await pointers(broken.catalog)).experiments).toBe(run(1));

      const repaired = open(lake, false);
      const third = await exportWith({ simulator, ...repaired, runId: run(3) });
      expect(third.experiments.exported).toBe(1);
      const after = await pointers(repaired.catalog);
      expect(new Set(Object.values(after).filter((run) => run !== undefined))).toEqual(new Set([run(3)]));
      expect(after.experiments).toBe(run(3));
      expect(after.assay).toBe(run(3));
    });
  }
});
