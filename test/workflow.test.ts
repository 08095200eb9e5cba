import aslValidator from 'asl-validator';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import {
  ContractError,
  PageDriftError,
  PlutoAuthError,
  PlutoForbiddenError,
  PlutoUpstreamError,
  RETRYABLE_ERROR_NAMES,
  StoreError,
} from '../functions/core/errors.js';
import {
  type CommitOutput,
  commitInputSchema,
  exportSlotInputSchema,
  type FinalizeOutput,
  finalizeInputSchema,
  type PlanOutput,
  planInputSchema,
  recordFailureInputSchema,
  type Slot,
  type StartRunOutput,
  type StepName,
  WORKFLOW_STEPS,
} from '../functions/core/workflow/messages.js';
import {
  LocalExecutionError,
  loadWorkflowDefinition,
  runWorkflowLocally,
  toLocalDefinition,
} from '../functions/local/run-workflow.js';
import { synthesizeLocalDefinition } from '../infra/local-definition.js';
import { ExportWorkflow, LAMBDA_CRASH_ERRORS, LAMBDA_SERVICE_ERRORS } from '../infra/workflow.js';

const THRESHOLD = {
  Error: 'States.ExceedToleratedFailureThreshold',
  Cause: 'The specified tolerated failure threshold was exceeded',
};

interface Call {
  readonly state: StepName;
  readonly input: unknown;
}

interface Lab {
  readonly start: StartRunOutput;
  readonly plans: ReadonlyMap<string, PlanOutput>;
  readonly slots: ReadonlyMap<string, Slot[]>;
  readonly objects: ReadonlyMap<string, unknown[]>;
}

/** A run over experiments with the given slot counts; 0 slots plans as `done`. */
function lab(slotCounts: Record<string, number>, status: StartRunOutput['status'] = 'started'): Lab {
  const runId = 'run-2025-01-01';
  const itemsKey = `runs/${runId}/items.json`;
  const ids = Object.keys(slotCounts);
  const objects = new Map<string, unknown[]>([
    [itemsKey, ids.map((id) => ({ experimentId: id, projectId: 'P1' }))],
  ]);
  const plans = new Map<string, PlanOutput>();
  const slots = new Map<string, Slot[]>();
  for (const id of ids) {
    const count = slotCounts[id] ?? 0;
    const slotsKey = `runs/${runId}/plans/${id}/slots.json`;
    const list = Array.from({ length: count }, (_, slot) => ({
      dataset: 'assay',
      kind: 'assay' as const,
      slot,
      offset: slot * 1000,
      limit: 1000,
      expectedCount: count * 1000,
      headersDigest: `digest-${id}`,
    }));
    slots.set(id, list);
    if (count > 0) objects.set(slotsKey, list);
    plans.set(id, {
      runId,
      experimentId: id,
      action: count > 0 ? 'export' : 'done',
      slotsKey,
      slotCount: count,
    });
  }
  const start = {
    runId,
    status,
    execution: 'local:test',
    itemsKey,
    experimentCount: ids.length,
    full: false,
    missingExperiments: 'keep' as const,
    listedAll: true,
    startedAt: '2025-01-01T00:00:00Z',
  };
  return { start, plans, slots, objects };
}

type FailHook = (state: StepName, input: unknown, attempt: number) => Error | undefined;

interface RunResult {
  readonly output: unknown;
  readonly calls: readonly Call[];
  readonly keysRead: readonly string[];
  readonly maxInFlight: ReadonlyMap<StepName, number>;
  inputs(state: StepName): unknown[];
}

async function execute(
  fixture: Lab,
  options: {
    fail?: FailHook;
    startOutput?: unknown;
    delayMs?: number;
    experimentConcurrency?: number;
    slotConcurrency?: number;
    retryDelayScale?: number;
  } = {},
): Promise<RunResult> {
  const calls: Call[] = [];
  const keysRead: string[] = [];
  const inFlight = new Map<StepName, number>();
  const maxInFlight = new Map<StepName, number>();
  const step =
    (state: StepName, run: (input: unknown) => unknown) =>
    async (input: unknown): Promise<unknown> => {
      const attempt = calls.filter(
        (c) => c.state === state && JSON.stringify(c.input) === JSON.stringify(input),
      ).length;
      calls.push({ state, input });
      const now = (inFlight.get(state) ?? 0) + 1;
      inFlight.set(state, now);
      maxInFlight.set(state, Math.max(now, maxInFlight.get(state) ?? 0));
      try {
        if (options.delayMs !== undefined)
          await new Promise((resolve) => setTimeout(resolve, options.delayMs));
        const failure = options.fail?.(state, input, attempt);
        if (failure !== undefined) throw failure;
        return run(input);
      } finally {
        inFlight.set(state, (inFlight.get(state) ?? 1) - 1);
      }
    };
  const output = await runWorkflowLocally(
    { runId: fixture.start.runId },
    {
      handlers: {
        StartRun: step('StartRun', () => options.startOutput ?? fixture.start),
        PlanExperiment: step('PlanExperiment', (input) =>
          fixture.plans.get(planInputSchema.parse(input).item.experimentId),
        ),
        ExportSlot: step('ExportSlot', (input) => {
          const { experimentId, slot } = exportSlotInputSchema.parse(input);
          return { experimentId, slot: slot.slot, rows: slot.limit };
        }),
        CommitExperiment: step('CommitExperiment', (input): CommitOutput => {
          const { runId, experimentId } = commitInputSchema.parse(input);
          return { runId, experimentId, status: 'exported' };
        }),
        RecordExperimentFailure: step('RecordExperimentFailure', (input): CommitOutput => {
          const parsed = recordFailureInputSchema.parse(input);
          return {
            runId: parsed.runId,
            experimentId: parsed.experimentId ?? parsed.item?.experimentId ?? '',
            status: 'failed',
          };
        }),
        FinalizeRun: step('FinalizeRun', (input): FinalizeOutput => {
          const { runId } = finalizeInputSchema.parse(input);
          const count = (state: StepName) => calls.filter((c) => c.state === state).length;
          return {
            runId,
            status: 'committed',
            experiments: {
              exported: count('CommitExperiment'),
              partial: 0,
              unchanged: 0,
              skipped: 0,
              failed: count('RecordExperimentFailure'),
            },
          };
        }),
      },
      readItems: async (key) => {
        keysRead.push(key);
        const items = fixture.objects.get(key);
        if (items === undefined) throw new Error(`no object at ${key}`);
        return items;
      },
      retryDelayScale: options.retryDelayScale ?? 0,
      ...(options.experimentConcurrency === undefined
        ? {}
        : { experimentConcurrency: options.experimentConcurrency }),
      ...(options.slotConcurrency === undefined ? {} : { slotConcurrency: options.slotConcurrency }),
    },
  );
  return {
    output,
    calls,
    keysRead,
    maxInFlight,
    inputs: (state) => calls.filter((c) => c.state === state).map((c) => c.input),
  };
}

const byExperiment = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
const failureCause = (error: Error) => JSON.stringify({ errorType: error.name, errorMessage: error.message });

interface AslStateView {
  readonly Type: string;
  readonly [field: string]: unknown;
}
interface AslView {
  readonly States: Record<string, AslStateView>;
  readonly [field: string]: unknown;
}

function state(asl: AslView, ...path: string[]): AslStateView {
  let machine = asl;
  let found: AslStateView | undefined;
  for (const name of path) {
    found = machine.States[name];
    if (found === undefined) throw new Error(`no state ${path.join(' > ')}`);
    machine = (found.ItemProcessor ?? (found.Branches as AslView[] | undefined)?.[0]) as AslView;
  }
  return found as AslStateView;
}

describe('the state machine definition', () => {
  it('the local runner executes exactly what CDK synthesizes (npm run definition rewrites it)', () => {
    expect(loadWorkflowDefinition()).toEqual(synthesizeLocalDefinition());
  });

  it('is valid ASL, deployed and in its local form', () => {
    const deployed = loadWorkflowDefinition();
    const local = toLocalDefinition(deployed);
    for (const definition of [deployed, local]) {
      const result = aslValidator(structuredClone(definition), { checkArn: true, checkPaths: true });
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
    }
  });

  it('is the documented flow, with retries only on transient errors', () => {
    const asl = loadWorkflowDefinition() as AslView;
    const backoff = {
      IntervalSeconds: 2,
      BackoffRate: 2,
      MaxAttempts: 6,
      MaxDelaySeconds: 60,
      JitterStrategy: 'FULL',
    };
    const lambdaRetry = [
      { ErrorEquals: [...LAMBDA_SERVICE_ERRORS], ...backoff },
      { ErrorEquals: [...LAMBDA_CRASH_ERRORS], ...backoff, MaxAttempts: 2 },
    ];
    const stepRetry = [...lambdaRetry, { ErrorEquals: [...RETRYABLE_ERROR_NAMES], ...backoff }];
    const bookkeepingRetry = [...lambdaRetry, { ErrorEquals: ['StoreError'], ...backoff }];
    const recordFailure = [
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'RecordExperimentFailure' },
    ];
    const lambdaArn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

    expect(asl.StartAt).toBe('StartRun');
    expect(asl.TimeoutSeconds).toBe(43_200);
    expect(Object.keys(asl.States).sort()).toEqual([
      'ExportExperiments',
      'FinalizeFailedRun',
      'FinalizeRun',
      'RunFailed',
      'RunStarted?',
      'StartRun',
    ]);
    expect(state(asl, 'StartRun')).toEqual({
      Type: 'Task',
      Resource: lambdaArn('StartRun'),
      // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
      Parameters: { 'run.$': '$', 'execution.$': '$$.Execution.Id' },
      Retry: stepRetry,
      Next: 'RunStarted?',
    });
    expect(state(asl, 'RunStarted?')).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.status', StringEquals: 'started', Next: 'ExportExperiments' }],
      Default: 'FinalizeRun',
    });
    expect(state(asl, 'ExportExperiments')).toMatchObject({
      Type: 'Map',
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: 'local-lake', 'Key.$': '$.itemsKey' },
      },
      ItemSelector: { 'runId.$': '$.runId', 'full.$': '$.full', 'item.$': '$$.Map.Item.Value' },
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'PlanExperiment',
      },
      MaxConcurrency: 4,
      ToleratedFailurePercentage: 100,
      ResultPath: null,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'FinalizeFailedRun' }],
      Next: 'FinalizeRun',
    });
    expect(state(asl, 'FinalizeRun')).toEqual({
      Type: 'Task',
      Resource: lambdaArn('FinalizeRun'),
      Retry: bookkeepingRetry,
      End: true,
    });
    expect(state(asl, 'FinalizeFailedRun')).toEqual({
      Type: 'Task',
      Resource: lambdaArn('FinalizeRun'),
      Retry: bookkeepingRetry,
      ResultPath: '$.finalized',
      Next: 'RunFailed',
    });
    expect(state(asl, 'RunFailed')).toEqual({
      Type: 'Fail',
      ErrorPath: '$.failure.Error',
      CausePath: '$.failure.Cause',
    });
    expect(Object.keys((state(asl, 'ExportExperiments').ItemProcessor as AslView).States).sort()).toEqual([
      'CommitExperiment',
      'ExperimentDone',
      'ExportSlots',
      'HasSlots?',
      'PlanExperiment',
      'RecordExperimentFailure',
    ]);
    expect(state(asl, 'ExportExperiments', 'PlanExperiment')).toEqual({
      Type: 'Task',
      Resource: lambdaArn('PlanExperiment'),
      Retry: stepRetry,
      Catch: recordFailure,
      Next: 'HasSlots?',
    });
    expect(state(asl, 'ExportExperiments', 'HasSlots?')).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.action', StringEquals: 'export', Next: 'ExportSlots' }],
      Default: 'ExperimentDone',
    });
    expect(state(asl, 'ExportExperiments', 'ExportSlots')).toMatchObject({
      Type: 'Map',
      ItemReader: { Parameters: { Bucket: 'local-lake', 'Key.$': '$.slotsKey' } },
      ItemSelector: {
        'runId.$': '$.runId',
        'experimentId.$': '$.experimentId',
        'slot.$': '$$.Map.Item.Value',
      },
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'ExportSlot',
      },
      MaxConcurrency: 4,
      ResultPath: null,
      Catch: recordFailure,
      Next: 'CommitExperiment',
    });
    expect(state(asl, 'ExportExperiments', 'ExportSlots').ToleratedFailurePercentage ?? 0).toBe(0);
    expect(state(asl, 'ExportExperiments', 'ExportSlots', 'ExportSlot')).toEqual({
      Type: 'Task',
      Resource: lambdaArn('ExportSlot'),
      Retry: stepRetry,
      OutputPath: null,
      End: true,
    });
    expect(state(asl, 'ExportExperiments', 'CommitExperiment')).toEqual({
      Type: 'Task',
      Resource: lambdaArn('CommitExperiment'),
      Retry: stepRetry,
      Catch: recordFailure,
      OutputPath: null,
      End: true,
    });
    expect(state(asl, 'ExportExperiments', 'RecordExperimentFailure')).toEqual({
      Type: 'Task',
      Resource: lambdaArn('RecordExperimentFailure'),
      Retry: bookkeepingRetry,
      OutputPath: null,
      End: true,
    });
  });

  it('reads items behind the lake prefix, logs without execution data, traces, and runs locally without the prefix', () => {
    const app = new App({ builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'Probe', { env: { account: '111111111111', region: 'eu-west-1' } });
    const functions = Object.fromEntries(
      WORKFLOW_STEPS.map((step) => [step, lambda.Function.fromFunctionName(stack, step, step)]),
    ) as ConstructorParameters<typeof ExportWorkflow>[2]['functions'];
    new ExportWorkflow(stack, 'Workflow', {
      functions,
      lakeBucket: s3.Bucket.fromBucketName(stack, 'Lake', 'probe-lake'),
      lakePrefix: "exports/it's/",
      experimentConcurrency: 8,
      slotConcurrency: 2,
      toleratedFailurePercentage: 25,
    });
    const template = Template.fromStack(stack);
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as {
      Properties: {
        DefinitionString: { 'Fn::Join': [string, unknown[]] };
        LoggingConfiguration: unknown;
        TracingConfiguration: unknown;
      };
    }[];
    if (machine === undefined) throw new Error('no state machine');
    const [separator, parts] = machine.Properties.DefinitionString['Fn::Join'];
    const asl = JSON.parse(
      parts.map((part) => (typeof part === 'string' ? part : 'aws')).join(separator),
    ) as AslView;
    expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.Properties.LoggingConfiguration).toMatchObject({
      IncludeExecutionData: false,
      Level: 'ALL',
    });

    expect(state(asl, 'ExportExperiments')).toMatchObject({
      ItemReader: { Parameters: { 'Key.$': "States.Format('exports/it\\'s/{}', $.itemsKey)" } },
      MaxConcurrency: 8,
      ToleratedFailurePercentage: 25,
    });
    expect(state(asl, 'ExportExperiments', 'ExportSlots')).toMatchObject({
      ItemReader: { Parameters: { 'Key.$': "States.Format('exports/it\\'s/{}', $.slotsKey)" } },
      MaxConcurrency: 2,
    });
    const local = toLocalDefinition(asl) as AslView;
    expect(state(local, 'ExportExperiments', 'ExportExperimentsLoad').Parameters).toEqual({
      'key.$': '$.input.itemsKey',
      toleratedFailurePercentage: 25,
    });
    expect(
      state(
        local,
        'ExportExperiments',
        'ExportExperimentsItems',
        'ExportExperimentsItem',
        'ExportSlots',
        'ExportSlotsLoad',
      ).Parameters,
    ).toEqual({
      'key.$': '$.input.slotsKey',
    });
  });

  it('refuses a Distributed Map feature the local runner cannot emulate', () => {
    const asl = loadWorkflowDefinition() as AslView;
    const withBatcher = {
      ...asl,
      States: {
        ...asl.States,
        ExportExperiments: { ...state(asl, 'ExportExperiments'), ItemBatcher: { MaxItemsPerBatch: 5 } },
      },
    };
    expect(() => toLocalDefinition(withBatcher)).toThrow(/ExportExperiments: ItemBatcher/);
  });
});

describe('runWorkflowLocally', () => {
  it('plans every experiment once, exports every slot once, commits the plans and finalizes the run', async () => {
    const fixture = lab({ PLX1: 3, PLX2: 0, PLX3: 2 });
    const run = await execute(fixture);
    const { runId } = fixture.start;

    expect(run.inputs('StartRun')).toEqual([{ run: { runId }, execution: expect.stringMatching(/^local:/) }]);
    expect(run.inputs('PlanExperiment').sort(byExperiment)).toEqual(
      ['PLX1', 'PLX2', 'PLX3'].map((id) => ({
        runId,
        full: false,
        item: { experimentId: id, projectId: 'P1' },
      })),
    );
    const expectedSlots = ['PLX1', 'PLX3'].flatMap((id) =>
      (fixture.slots.get(id) ?? []).map((slot) => ({ runId, experimentId: id, slot })),
    );
    expect(expectedSlots).toHaveLength(5);
    expect(run.inputs('ExportSlot').sort(byExperiment)).toEqual(expectedSlots.sort(byExperiment));
    expect(run.inputs('CommitExperiment').sort(byExperiment)).toEqual([
      fixture.plans.get('PLX1'),
      fixture.plans.get('PLX3'),
    ]);
    expect(run.inputs('RecordExperimentFailure')).toEqual([]);
    expect(run.inputs('FinalizeRun')).toEqual([fixture.start]);
    expect(run.output).toEqual({
      runId,
      status: 'committed',
      experiments: { exported: 2, partial: 0, unchanged: 0, skipped: 0, failed: 0 },
    });
    expect(run.calls.at(-1)?.state).toBe('FinalizeRun');
    expect([...run.keysRead].sort()).toEqual([
      fixture.start.itemsKey,
      fixture.plans.get('PLX1')?.slotsKey,
      fixture.plans.get('PLX3')?.slotsKey,
    ]);
  });

  it('bounds the work in flight by the concurrency options', async () => {
    const fixture = lab({ PLX1: 5, PLX2: 4, PLX3: 3 });
    const run = await execute(fixture, { experimentConcurrency: 1, slotConcurrency: 2, delayMs: 15 });
    expect(run.inputs('ExportSlot')).toHaveLength(12);
    expect(run.maxInFlight.get('PlanExperiment')).toBe(1);
    expect(run.maxInFlight.get('ExportSlot')).toBe(2);

    const wide = await execute(fixture, { experimentConcurrency: 3, slotConcurrency: 3, delayMs: 15 });
    expect(wide.maxInFlight.get('PlanExperiment')).toBe(3);
    expect(wide.maxInFlight.get('ExportSlot')).toBeGreaterThan(3);
  });

  it('retries transient errors, records the others per experiment as Step Functions reports them, and goes on', async () => {
    const fixture = lab({ PLX1: 2, PLX2: 3, PLX3: 4 });
    const { runId } = fixture.start;
    const forbidden = new PlutoForbiddenError('Pluto refused PLX1 (403): You do not have permission', {
      detail: 'You do not have permission to perform this action.',
    });
    const drift = new PageDriftError('PLX3 assay: count changed from 4000 to 4001 while paging');
    const run = await execute(fixture, {
      fail: (state, input, attempt) => {
        if (state === 'PlanExperiment' && planInputSchema.parse(input).item.experimentId === 'PLX1')
          return forbidden;
        if (state !== 'ExportSlot') return undefined;
        const { experimentId, slot } = exportSlotInputSchema.parse(input);
        if (experimentId === 'PLX2' && slot.slot === 1 && attempt < 2) {
          return new PlutoUpstreamError(`Pluto answered 502 (attempt ${attempt})`);
        }
        if (experimentId === 'PLX3' && slot.slot === 0) return drift;
        return undefined;
      },
    });

    const plx1Plan = { runId, full: false, item: { experimentId: 'PLX1', projectId: 'P1' } };
    expect(
      run.inputs('PlanExperiment').filter((input) => JSON.stringify(input) === JSON.stringify(plx1Plan)),
    ).toHaveLength(1);

    const slotCalls = (id: string, slot: number) =>
      run.inputs('ExportSlot').filter((input) => {
        const parsed = exportSlotInputSchema.parse(input);
        return parsed.experimentId === id && parsed.slot.slot === slot;
      }).length;
    expect(slotCalls('PLX2', 0)).toBe(1);
    expect(slotCalls('PLX2', 1)).toBe(3);
    expect(slotCalls('PLX2', 2)).toBe(1);
    expect(slotCalls('PLX3', 0)).toBe(1);

    expect(run.inputs('CommitExperiment')).toEqual([fixture.plans.get('PLX2')]);
    expect(run.inputs('RecordExperimentFailure').sort(byExperiment)).toEqual(
      [
        { ...plx1Plan, failure: { Error: 'PlutoForbiddenError', Cause: failureCause(forbidden) } },
        { ...fixture.plans.get('PLX3'), failure: THRESHOLD },
      ].sort(byExperiment),
    );
    const forbiddenRecord = run
      .inputs('RecordExperimentFailure')
      .map((input) => recordFailureInputSchema.parse(input))
      .find((record) => record.item?.experimentId === 'PLX1');
    expect(JSON.parse(forbiddenRecord?.failure.Cause ?? '{}')).toEqual({
      errorType: 'PlutoForbiddenError',
      errorMessage: 'Pluto refused PLX1 (403): You do not have permission',
    });
    expect(run.inputs('FinalizeRun')).toEqual([fixture.start]);
    expect(run.output).toEqual({
      runId,
      status: 'committed',
      experiments: { exported: 1, partial: 0, unchanged: 0, skipped: 0, failed: 2 },
    });
  });

  it('retries a CommitExperiment StoreError and catches a CommitExperiment failure with its own name', async () => {
    const fixture = lab({ PLX1: 1, PLX2: 1 });
    const conflict = new ContractError('PLX2 samples: a value does not fit the contract');
    const run = await execute(fixture, {
      fail: (state, input, attempt) => {
        if (state !== 'CommitExperiment') return undefined;
        const { experimentId } = commitInputSchema.parse(input);
        if (experimentId === 'PLX1' && attempt === 0) return new StoreError('EIO writing the commit record');
        if (experimentId === 'PLX2') return conflict;
        return undefined;
      },
    });
    expect(run.inputs('CommitExperiment').sort(byExperiment)).toEqual([
      fixture.plans.get('PLX1'),
      fixture.plans.get('PLX1'),
      fixture.plans.get('PLX2'),
    ]);
    expect(run.inputs('RecordExperimentFailure')).toEqual([
      { ...fixture.plans.get('PLX2'), failure: { Error: 'ContractError', Cause: failureCause(conflict) } },
    ]);
  });

  it('tolerates an experiment whose failure cannot even be recorded, as ToleratedFailurePercentage 100 does', async () => {
    const fixture = lab({ PLX1: 1, PLX2: 1, PLX3: 1 });
    const run = await execute(fixture, {
      fail: (state, input, attempt) => {
        if (state === 'PlanExperiment' && planInputSchema.parse(input).item.experimentId !== 'PLX3') {
          return new PlutoForbiddenError('no access');
        }
        if (state !== 'RecordExperimentFailure') return undefined;
        const id = recordFailureInputSchema.parse(input).item?.experimentId;
        if (id === 'PLX1' && attempt === 0) return new StoreError('EIO');
        if (id === 'PLX2') return new ContractError('cannot record');
        return undefined;
      },
    });
    const recordAttempts = run
      .inputs('RecordExperimentFailure')
      .map((input) => recordFailureInputSchema.parse(input).item?.experimentId)
      .sort();
    expect(recordAttempts).toEqual(['PLX1', 'PLX1', 'PLX2']);
    expect(run.inputs('CommitExperiment')).toEqual([fixture.plans.get('PLX3')]);
    expect(run.inputs('FinalizeRun')).toEqual([fixture.start]);
  });

  it('finalizes a run whose ExportExperiments failed, then fails the execution with its error', async () => {
    const fixture = lab({ PLX1: 2 });
    const unreadable: Lab = {
      ...fixture,
      objects: new Map([...fixture.objects].filter(([key]) => key !== fixture.start.itemsKey)),
    };
    const calls: Call[] = [];
    const failed = execute(unreadable, {
      fail: (stepName, input) => {
        calls.push({ state: stepName, input });
        return undefined;
      },
    });
    await expect(failed).rejects.toMatchObject({
      error: 'States.ItemReaderFailed',
      errorCause: `${fixture.start.itemsKey}: no object at ${fixture.start.itemsKey}`,
    });
    expect(calls.map((call) => call.state)).toEqual(['StartRun', 'FinalizeRun']);
    expect(finalizeInputSchema.parse(calls[1]?.input)).toEqual({
      ...fixture.start,
      failure: {
        Error: 'States.ItemReaderFailed',
        Cause: `${fixture.start.itemsKey}: no object at ${fixture.start.itemsKey}`,
      },
    });
  });

  it('goes straight to FinalizeRun when the run is leased', async () => {
    const fixture = lab({ PLX1: 2 }, 'leased');
    const run = await execute(fixture);
    expect(run.calls.map((call) => call.state)).toEqual(['StartRun', 'FinalizeRun']);
    expect(run.inputs('FinalizeRun')).toEqual([fixture.start]);
    expect(run.keysRead).toEqual([]);
  });

  it('fails the execution with the step error name and a Lambda-style cause when StartRun fails', async () => {
    const auth = new PlutoAuthError('Pluto rejected the token (401)');
    const failed = execute(lab({ PLX1: 1 }), { fail: (state) => (state === 'StartRun' ? auth : undefined) });
    await expect(failed).rejects.toBeInstanceOf(LocalExecutionError);
    await expect(failed).rejects.toMatchObject({ error: 'PlutoAuthError', errorCause: failureCause(auth) });
  });

  it('fails a state whose output exceeds the 256 KiB payload quota, without retrying it', async () => {
    const fixture = lab({ PLX1: 1 });
    let calls = 0;
    const failed = execute(fixture, {
      startOutput: { ...fixture.start, padding: 'x'.repeat(262_144) },
      fail: (state) => {
        if (state === 'StartRun') calls += 1;
        return undefined;
      },
    });
    await expect(failed).rejects.toMatchObject({ error: 'States.DataLimitExceeded' });
    expect(calls).toBe(1);
  });
});
