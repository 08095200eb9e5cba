/**
 * FinalizeRun over 10,000 experiments, through the deployed definition run locally and the S3
 * adapter against s3rver: it reads every commit record, writes export_log and the manifest, and
 * retention removes 10,000 superseded parts in DeleteObjects requests of at most 1,000 keys.
 * Prints how long FinalizeRun took (its Lambda timeout is 15 minutes). `npm run test:scale`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../functions/adapters/s3-store.js';
import { StoreCatalog } from '../../functions/adapters/store-catalog.js';
import { commitRecordKey, itemsKey, manifestKey, partKey } from '../../functions/core/layout.js';
import { type CommitRecord, encodeJson, manifestSchema, readJson } from '../../functions/core/records.js';
import type { StepDeps } from '../../functions/core/workflow/deps.js';
import { finalizeRun } from '../../functions/core/workflow/finalize-run.js';
import {
  finalizeInputSchema,
  type PlanOutput,
  planInputSchema,
  type StartRunOutput,
} from '../../functions/core/workflow/messages.js';
import { runWorkflowLocally } from '../../functions/local/run-workflow.js';
import { type RunningS3rver, startS3rver } from '../support/s3rver.js';

const EXPERIMENTS = 10_000;
const DAY = 86_400_000;
const RUN_ID = 'finalize-scale';
const BUCKET = 'finalize-scale';
const experimentId = (i: number) => `PLX${String(200_000 + i)}`;

let s3rver: RunningS3rver;

beforeAll(async () => {
  s3rver = await startS3rver([BUCKET]);
});

afterAll(async () => {
  await s3rver?.stop();
});

/** `limit` calls of `each` at once over `items`. */
async function inParallel<T>(items: readonly T[], limit: number, each: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let i = next++; i < items.length; i = next++) await each(items[i] as T);
    }),
  );
}

describe('FinalizeRun at scale', () => {
  it(`finalizes ${EXPERIMENTS.toLocaleString('en')} experiments and removes their superseded parts in batches, on S3`, async () => {
    const client = s3rver.client();
    let deleteRequests = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteObjectsCommand') deleteRequests++;
        return next(args);
      },
      { step: 'initialize' },
    );
    const store = new S3Store({ bucket: BUCKET, prefix: 'lake/' }, client);
    const catalog = new StoreCatalog(store);
    const ids = Array.from({ length: EXPERIMENTS }, (_, i) => experimentId(i));
    // Parts of a run killed long ago, superseded by nothing: retention's to remove.
    const abandoned = ids.map((id) => partKey('experiments', id, 'killed-run', 'experiment', 0));
    await inParallel(abandoned, 32, async (key) => {
      await store.putIfAbsent(key, new Uint8Array([1]));
    });

    // Later than the grace period after everything written here.
    const now = new Date(Date.now() + 60 * DAY);
    const deps: StepDeps = {
      store,
      catalog,
      pluto: undefined as never,
      clock: { now: () => now },
      settings: {
        rowsPerPart: 1_000_000,
        pageSize: 10_000,
        rowGroupRows: 131_072,
        prefetchPages: 1,
        leaseTtlMs: 12 * 3_600_000,
        supersededRunGraceMs: 30 * DAY,
        codeVersion: 'scale',
      },
    };
    const start: StartRunOutput = {
      runId: RUN_ID,
      status: 'started',
      execution: 'local:scale',
      itemsKey: itemsKey(RUN_ID),
      experimentCount: EXPERIMENTS,
      full: false,
      missingExperiments: 'keep',
      listedAll: true,
      startedAt: now.toISOString(),
    };
    let finalizeMs = 0;
    const unused = async () => {
      throw new Error('not reached: every experiment plans as unchanged');
    };
    const output = await runWorkflowLocally(
      { runId: RUN_ID },
      {
        handlers: {
          StartRun: async () => {
            await store.put(
              itemsKey(RUN_ID),
              encodeJson(ids.map((id) => ({ experimentId: id, projectId: 'PRJ000001' }))),
            );
            return start;
          },
          // As PlanExperiment records an unchanged experiment: a commit record, nothing to export.
          PlanExperiment: async (input): Promise<PlanOutput> => {
            const id = planInputSchema.parse(input).item.experimentId;
            const record: CommitRecord = {
              runId: RUN_ID,
              experimentId: id,
              projectId: 'PRJ000001',
              status: 'unchanged',
              sourceRunId: 'earlier-run',
              startedAt: now.toISOString(),
              finishedAt: now.toISOString(),
              datasets: [],
            };
            await store.putIfAbsent(commitRecordKey(RUN_ID, id), encodeJson(record));
            return { runId: RUN_ID, experimentId: id, action: 'done', slotsKey: '', slotCount: 0 };
          },
          ExportSlot: unused,
          CommitExperiment: unused,
          RecordExperimentFailure: unused,
          FinalizeRun: async (input) => {
            const started = performance.now();
            const result = await finalizeRun(finalizeInputSchema.parse(input), deps);
            finalizeMs = performance.now() - started;
            return result;
          },
        },
        readItems: async (key) => (await readJson(store, key, planInputSchema.shape.item.array())) ?? [],
        experimentConcurrency: 32,
        retryDelayScale: 0,
      },
    );
    console.log(
      `FinalizeRun over ${EXPERIMENTS} experiments on s3rver: ${Math.round(finalizeMs)} ms, ${deleteRequests} DeleteObjects requests`,
    );

    expect(output).toMatchObject({
      runId: RUN_ID,
      status: 'committed',
      experiments: { exported: 0, partial: 0, unchanged: EXPERIMENTS, skipped: 0, failed: 0 },
    });
    const manifest = await readJson(store, manifestKey(RUN_ID), manifestSchema);
    expect(manifest?.experiments).toHaveLength(EXPERIMENTS);
    expect(manifest?.exportLog?.rows).toBe(EXPERIMENTS);
    expect(await store.list('data/experiments/')).toEqual([]);
    expect(deleteRequests).toBe(EXPERIMENTS / 1_000);
  });
});
