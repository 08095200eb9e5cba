/**
 * The lease belongs to an execution, and a run that ends without FinalizeRun still gets its
 * record: through the deployed failure guard (EventBridge events fed to the core function against a
 * local lake) and through a second execution of the same run id, which must neither start nor end
 * the first one's run.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../functions/core/history.js';
import { commitRecordKey, LEASE_KEY, slotFailureKey } from '../functions/core/layout.js';
import { readLease } from '../functions/core/lease.js';
import { encodeJson } from '../functions/core/records.js';
import { systemClock } from '../functions/core/workflow/deps.js';
import { type ExecutionStatusChange, guardEndedExecution } from '../functions/core/workflow/end-run.js';
import { STEPS } from '../functions/core/workflow/steps.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import {
  exportWith,
  FAST_SETTINGS,
  type FolderLake,
  holdStep,
  newLake,
  SMALL_ORGANISATION,
} from './support/fault-harness.js';
import { queryLake } from './support/lake-query.js';

const EXECUTION = 'arn:aws:states:eu-west-1:111111111111:execution:PlutoExport:run-guarded';
const OTHER_EXECUTION = 'arn:aws:states:eu-west-1:111111111111:execution:PlutoExport:run-guarded-again';

let simulator: RunningSimulator;
const lakes: FolderLake[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ seed: 17, ...SMALL_ORGANISATION });
});
afterAll(async () => {
  await simulator?.close();
  for (const lake of lakes) await rm(lake.root, { recursive: true, force: true });
});

async function lakeFor(name: string): Promise<FolderLake> {
  const lake = await newLake(name);
  lakes.push(lake);
  return lake;
}

/** As EventBridge delivers it (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html). */
function statusChange(
  status: 'FAILED' | 'TIMED_OUT' | 'ABORTED',
  executionArn: string,
  input: string | null,
  extra: { error?: string; cause?: string } = {},
): ExecutionStatusChange {
  return {
    version: '0',
    id: '315c1398-40ff-a850-213b-158f73e60175',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '111111111111',
    time: '2026-12-02T03:00:00Z',
    region: 'eu-west-1',
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn: 'arn:aws:states:eu-west-1:111111111111:stateMachine:PlutoExport',
      name: executionArn.split(':').at(-1) ?? '',
      status,
      startDate: 1_796_180_000_000,
      stopDate: 1_796_180_600_000,
      input,
      inputDetails: { included: input !== null },
      output: null,
      outputDetails: { included: false },
      ...extra,
    },
  } as ExecutionStatusChange;
}

/**
 * A run that recorded its experiments and then died where nothing catches: its execution still
 * holds the lease, and FinalizeRun never runs (the held step is never released).
 */
async function runThatDied(lake: FolderLake, runId: string): Promise<string[]> {
  const held = holdStep('FinalizeRun');
  const run = exportWith({ simulator, ...lake, runId, interceptStep: held.intercept });
  await held.reached;
  // The local run's own execution holds the lease; hand it to the deployed execution it stands for.
  const lease = await readLease(lake.store);
  await lake.store.put(
    LEASE_KEY,
    encodeJson({ ...lease, holder: { execution: EXECUTION, startedAt: '2026-12-02T02:53:20.000Z' } }),
  );
  void run;
  const records = await lake.store.list(`runs/${runId}/experiments/`);
  return records.map((record) => record.key);
}

describe('the failure guard (EndFailedRun)', () => {
  it("records a FAILED execution's run as failed with the export_log of what it committed, and frees its lease", async () => {
    const lake = await lakeFor('guard-failed');
    const runId = 'run-guarded';
    await exportWith({ simulator, ...lake, runId: 'run-0' });
    const recorded = await runThatDied(lake, runId);
    expect(recorded.length).toBe(simulator.truth.experiments.length);

    const event = statusChange('FAILED', EXECUTION, JSON.stringify({ runId }), {
      error: 'States.DataLimitExceeded',
      cause:
        'The state/task returned a result with a size exceeding the maximum number of bytes service limit.',
    });
    const ended = await guardEndedExecution(event, { ...lake, clock: systemClock, settings: FAST_SETTINGS });

    expect(ended.result).toBe('recorded');
    const manifest = await readManifest(lake.store, runId);
    expect(manifest).toMatchObject({
      status: 'failed',
      startedAt: new Date(1_796_180_000_000).toISOString(),
      error: { name: 'States.DataLimitExceeded' },
    });
    expect(manifest?.experiments).toHaveLength(recorded.length);
    expect(await readLease(lake.store)).toBeUndefined();
    const logged = await queryLake(
      lake.root,
      `select count(distinct experiment_id) as n from export_log where run_id = '${runId}'`,
    );
    expect(logged).toEqual([{ n: recorded.length }]);
  });

  it('records an ABORTED execution as interrupted, finding its run by the lease when the event carries no input', async () => {
    const lake = await lakeFor('guard-aborted');
    const runId = 'run-stopped';
    await runThatDied(lake, runId);
    const ended = await guardEndedExecution(statusChange('ABORTED', EXECUTION, null), {
      ...lake,
      clock: systemClock,
      settings: FAST_SETTINGS,
    });
    expect(ended.result).toBe('recorded');
    expect(await readManifest(lake.store, runId)).toMatchObject({
      status: 'interrupted',
      error: { name: 'ExecutionAborted', message: 'The execution run-guarded ended ABORTED' },
    });
    expect(await readLease(lake.store)).toBeUndefined();
  });

  it('leaves alone a run whose lease another execution of the same run id holds', async () => {
    const lake = await lakeFor('guard-other');
    const runId = 'run-shared';
    await runThatDied(lake, runId);
    const ended = await guardEndedExecution(
      statusChange('TIMED_OUT', OTHER_EXECUTION, JSON.stringify({ runId })),
      { ...lake, clock: systemClock, settings: FAST_SETTINGS },
    );
    expect(ended).toEqual({ result: 'another-execution', runId });
    expect(await readManifest(lake.store, runId)).toBeUndefined();
    expect(await readLease(lake.store)).toMatchObject({ runId, holder: { execution: EXECUTION } });
  });
});

describe('a second execution of the same run id', () => {
  it("ends as leased while the first runs, without clearing the first one's failure records", async () => {
    const lake = await lakeFor('same-run-id');
    const runId = 'run-twice';
    const held = holdStep('CommitExperiment', { firstOnly: true });
    const first = exportWith({ simulator, ...lake, runId, interceptStep: held.intercept });
    await held.reached;
    const failure = slotFailureKey(runId, 'PLX-probe', 'assay', 0);
    await lake.store.putIfAbsent(
      failure,
      encodeJson({ name: 'PlutoUpstreamError', message: 'from the first' }),
    );

    const deps = {
      ...lake,
      pluto: undefined as never,
      clock: systemClock,
      settings: FAST_SETTINGS,
    };
    const second = await STEPS.StartRun({ run: { runId }, execution: OTHER_EXECUTION }, deps);
    expect(second).toMatchObject({ status: 'leased', execution: OTHER_EXECUTION });
    expect(await lake.store.head(failure)).toBeDefined();
    expect(await STEPS.FinalizeRun(second, deps)).toMatchObject({ status: 'leased' });
    expect(await readLease(lake.store)).toMatchObject({
      runId,
      holder: { execution: expect.stringMatching(/^local:/) },
    });

    held.release();
    expect((await first).status).toBe('committed');
    expect(
      await lake.store.head(commitRecordKey(runId, simulator.truth.exportable[0]?.id ?? '')),
    ).toBeDefined();
  });
});
