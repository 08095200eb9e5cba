/**
 * The deployed definition at the scale of a large organisation, under the local runner's Step
 * Functions limits (256 KiB per state input and output and per gathered Map result): 10,000
 * experiments (metadata only: each plans one samples slot) and one experiment of 2,000 slots. Every
 * step answers with the shape and size its real implementation returns. `npm run test:scale`.
 */
import { describe, expect, it } from 'vitest';
import { itemsKey, partKey, slotsKey } from '../../functions/core/layout.js';
import {
  type CommitOutput,
  commitInputSchema,
  exportSlotInputSchema,
  type FinalizeOutput,
  finalizeInputSchema,
  type PlanOutput,
  planInputSchema,
  type Slot,
  type StartRunOutput,
} from '../../functions/core/workflow/messages.js';
import { runWorkflowLocally } from '../../functions/local/run-workflow.js';

const EXPERIMENTS = 10_000;
const WIDE_SLOTS = 2_000;
const RUN_ID = 'scale-2026-12-02';
const experimentId = (i: number) => `PLX${String(100_000 + i)}`;
const hex = (seed: string) => seed.padEnd(64, '0').slice(0, 64);

function slotsOf(id: string, count: number): Slot[] {
  const kind = count === 1 ? 'samples' : 'assay';
  return Array.from({ length: count }, (_, slot) => ({
    dataset: kind,
    kind,
    slot,
    offset: slot * 10_000,
    limit: 10_000,
    expectedCount: count * 10_000,
    headersDigest: hex(`headers-${id}`),
  }));
}

/** A full run over `experiments`, the first of which has `wideSlots` slots and the others one each. */
async function runAtScale(experiments: number, wideSlots: number): Promise<void> {
  const ids = Array.from({ length: experiments }, (_, i) => experimentId(i));
  const wide = ids[0] ?? '';
  const slotCount = (id: string) => (id === wide ? wideSlots : 1);
  const objects = new Map<string, unknown[]>([
    [itemsKey(RUN_ID), ids.map((id) => ({ experimentId: id, projectId: 'PRJ000001' }))],
  ]);
  for (const id of ids) objects.set(slotsKey(RUN_ID, id), slotsOf(id, slotCount(id)));
  const calls = { plan: 0, slot: 0, commit: 0, finalize: 0 };
  const start: StartRunOutput = {
    runId: RUN_ID,
    status: 'started',
    execution: 'local:scale',
    itemsKey: itemsKey(RUN_ID),
    experimentCount: experiments,
    full: true,
    missingExperiments: 'keep',
    listedAll: true,
    startedAt: '2026-12-02T03:00:00.000Z',
  };

  const output = await runWorkflowLocally(
    { runId: RUN_ID, full: true },
    {
      handlers: {
        StartRun: async () => start,
        PlanExperiment: async (input): Promise<PlanOutput> => {
          calls.plan++;
          const id = planInputSchema.parse(input).item.experimentId;
          return {
            runId: RUN_ID,
            experimentId: id,
            action: 'export',
            slotsKey: slotsKey(RUN_ID, id),
            slotCount: slotCount(id),
          };
        },
        ExportSlot: async (input) => {
          calls.slot++;
          const { experimentId: id, slot } = exportSlotInputSchema.parse(input);
          const key = partKey(
            slot.kind === 'assay' ? 'assay' : 'samples',
            id,
            RUN_ID,
            slot.dataset,
            slot.slot,
          );
          return {
            runId: RUN_ID,
            experimentId: id,
            dataset: slot.dataset,
            slot: slot.slot,
            apiRows: slot.limit,
            parts: [
              {
                table: slot.kind === 'assay' ? 'assay' : 'samples',
                key,
                rows: slot.limit * 24,
                bytes: 1_843_211,
                sha256: hex(key),
                schemaFingerprint: hex('schema'),
              },
            ],
          };
        },
        CommitExperiment: async (input): Promise<CommitOutput> => {
          calls.commit++;
          const plan = commitInputSchema.parse(input);
          return { runId: plan.runId, experimentId: plan.experimentId, status: 'exported' };
        },
        RecordExperimentFailure: async () => {
          throw new Error('no experiment fails in this run');
        },
        FinalizeRun: async (input): Promise<FinalizeOutput> => {
          calls.finalize++;
          finalizeInputSchema.parse(input);
          return {
            runId: RUN_ID,
            status: 'committed',
            experiments: { exported: calls.commit, partial: 0, unchanged: 0, skipped: 0, failed: 0 },
          };
        },
      },
      readItems: async (key) => {
        const items = objects.get(key);
        if (items === undefined) throw new Error(`no object at ${key}`);
        return items;
      },
      experimentConcurrency: 64,
      slotConcurrency: 64,
      retryDelayScale: 0,
    },
  );

  expect(output).toEqual({
    runId: RUN_ID,
    status: 'committed',
    experiments: { exported: experiments, partial: 0, unchanged: 0, skipped: 0, failed: 0 },
  });
  expect(calls).toEqual({
    plan: experiments,
    slot: experiments - 1 + wideSlots,
    commit: experiments,
    finalize: 1,
  });
}

describe('the deployed definition at scale', () => {
  it(`exports one experiment of ${WIDE_SLOTS.toLocaleString('en')} slots within Step Functions' limits`, async () => {
    await runAtScale(1, WIDE_SLOTS);
  });

  it(`exports ${EXPERIMENTS.toLocaleString('en')} experiments, one of them of ${WIDE_SLOTS.toLocaleString('en')} slots, within Step Functions' limits`, async () => {
    await runAtScale(EXPERIMENTS, WIDE_SLOTS);
  });
});
