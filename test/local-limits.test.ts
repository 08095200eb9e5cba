/**
 * The local runner holds a definition to Step Functions' limits, which an inline emulation of a
 * Distributed Map would otherwise hide (Step Functions developer guide: "Error handling",
 * States.DataLimitExceeded is terminal and States.ALL does not catch it; "Quotas", 256 KiB per
 * state input or output; "ItemSelector (Map)" and "ItemReader (Map)", how a child's input is built).
 */
import { describe, expect, it } from 'vitest';
import type { StepName } from '../functions/core/workflow/messages.js';
import { type LocalHandler, runDefinitionLocally } from '../functions/local/run-workflow.js';

const fn = (name: StepName) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;
const KIB = 1024;

/** StartRun, then a Distributed Map over `runs/r1/items.json` whose child is PlanExperiment. */
function definition(itemSelector?: Record<string, unknown>): object {
  return {
    StartAt: 'StartRun',
    States: {
      StartRun: { Type: 'Task', Resource: fn('StartRun'), Next: 'ExportExperiments' },
      ExportExperiments: {
        Type: 'Map',
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON' },
          Parameters: { Bucket: 'lake', 'Key.$': '$.itemsKey' },
        },
        ...(itemSelector === undefined ? {} : { ItemSelector: itemSelector }),
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
          StartAt: 'PlanExperiment',
          States: { PlanExperiment: { Type: 'Task', Resource: fn('PlanExperiment'), End: true } },
        },
        MaxConcurrency: 8,
        ToleratedFailurePercentage: 100,
        ResultPath: null,
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'FinalizeFailedRun' }],
        Next: 'FinalizeRun',
      },
      FinalizeRun: { Type: 'Task', Resource: fn('FinalizeRun'), End: true },
      FinalizeFailedRun: { Type: 'Task', Resource: fn('FinalizeRun'), End: true },
    },
  };
}

interface Trial {
  readonly items: unknown[];
  readonly itemSelector?: Record<string, unknown>;
  readonly childOutput?: (input: unknown) => unknown;
}

async function run(trial: Trial) {
  const inputs: Record<string, unknown[]> = { PlanExperiment: [], FinalizeRun: [] };
  const record =
    (state: StepName, output: (input: unknown) => unknown): LocalHandler =>
    async (input) => {
      inputs[state]?.push(input);
      return output(input);
    };
  const unused: LocalHandler = async () => {
    throw new Error('not part of this definition');
  };
  const start = { runId: 'r1', itemsKey: 'runs/r1/items.json', note: 'the Map state input' };
  const outcome = runDefinitionLocally(
    definition(trial.itemSelector),
    { runId: 'r1' },
    {
      handlers: {
        StartRun: async () => start,
        PlanExperiment: record('PlanExperiment', trial.childOutput ?? (() => ({}))),
        FinalizeRun: record('FinalizeRun', () => ({ finalized: true })),
        ExportSlot: unused,
        CommitExperiment: unused,
        RecordExperimentFailure: unused,
      },
      readItems: async (key) => {
        expect(key).toBe('runs/r1/items.json');
        return trial.items;
      },
      retryDelayScale: 0,
    },
  ).then(
    (output) => ({ output, error: undefined }),
    (error: unknown) => ({ output: undefined, error: error as { error?: string; errorCause?: string } }),
  );
  return { ...(await outcome), inputs, start };
}

describe('the local runner', () => {
  it("builds each child's input from the ItemSelector over the Map state's input and the item read", async () => {
    const items = [{ experimentId: 'PLX1' }, { experimentId: 'PLX2' }];
    const result = await run({
      items,
      itemSelector: {
        'whole.$': '$',
        'runId.$': '$.runId',
        'item.$': '$$.Map.Item.Value',
        'index.$': '$$.Map.Item.Index',
        constant: 'c',
      },
    });
    expect(result.error).toBeUndefined();
    const byIndex = (a: unknown, b: unknown) =>
      (a as { index: number }).index - (b as { index: number }).index;
    expect(result.inputs.PlanExperiment?.sort(byIndex)).toEqual(
      items.map((item, index) => ({ whole: result.start, runId: 'r1', item, index, constant: 'c' })),
    );
    // Without an ItemSelector a child's input is the item itself.
    const plain = await run({ items });
    expect(plain.inputs.PlanExperiment).toEqual(expect.arrayContaining(items));
  });

  it('fails the run uncatchably when a Map gathers more than 256 KiB of child outputs', async () => {
    const output = () => ({ padding: 'x'.repeat(KIB) });
    const within = await run({ items: Array.from({ length: 200 }, (_, i) => ({ i })), childOutput: output });
    expect(within.error).toBeUndefined();
    expect(within.inputs.FinalizeRun).toHaveLength(1);

    const over = await run({ items: Array.from({ length: 300 }, (_, i) => ({ i })), childOutput: output });
    expect(over.error?.error).toBe('States.DataLimitExceeded');
    expect(over.error?.errorCause).toMatch(
      /^ExportExperiments gathered \d+ bytes of child execution results \(300 children\)/,
    );
    // The Map's Catch (States.ALL) does not run: FinalizeFailedRun never starts.
    expect(over.inputs.PlanExperiment).toHaveLength(300);
    expect(over.inputs.FinalizeRun).toEqual([]);
  });

  it("fails a state whose input exceeds 256 KiB, e.g. a child's input built from a large item", async () => {
    const result = await run({
      items: [{ experimentId: 'PLX1', notes: 'n'.repeat(300 * KIB) }],
      itemSelector: { 'item.$': '$$.Map.Item.Value' },
    });
    expect(result.error?.error).toBe('States.DataLimitExceeded');
    expect(result.error?.errorCause).toMatch(/^PlanExperiment input is \d+ bytes/);
    expect(result.inputs.PlanExperiment).toEqual([]);
    expect(result.inputs.FinalizeRun).toEqual([]);
  });

  it('fails a child whose output exceeds 256 KiB, and no Catch handles it', async () => {
    const result = await run({
      items: [{ experimentId: 'PLX1' }],
      childOutput: () => ({ padding: 'x'.repeat(300 * KIB) }),
    });
    expect(result.error?.error).toBe('States.DataLimitExceeded');
    expect(result.error?.errorCause).toMatch(/^PlanExperiment result is \d+ bytes/);
    expect(result.inputs.FinalizeRun).toEqual([]);
  });
});
