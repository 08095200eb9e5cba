/**
 * Runs the deployed state machine definition on a laptop (design.md, Workflow). The ASL is the one
 * `infra/workflow.ts` synthesizes, written to `workflow-definition.json` at build time (a test keeps
 * them equal), so local runs execute exactly what `cdk deploy` ships without building a CDK app at
 * start-up; aws-local-stepfunctions executes it with the step functions as in-process handlers.
 *
 * aws-local-stepfunctions has no Distributed Map, so `toLocalDefinition` rewrites each one into
 * a Parallel state of the same name (keeping its Retry, Catch and ResultPath) whose branch loads
 * the ItemReader's items, runs an inline Map over them and applies the tolerated-failure threshold
 * the way a Map Run does: a failed item fails the state with `States.ExceedToleratedFailureThreshold`
 * once the threshold is exceeded, not with the item's own error.
 *
 * Step Functions' payload quota is enforced as the service enforces it (Step Functions developer
 * guide, "Error handling": States.DataLimitExceeded, a terminal error States.ALL does not catch):
 * every state's input and output, every Task's effective input and result, each Distributed Map
 * child's input and output, and the array of child outputs a Distributed Map gathers, at most
 * 256 KiB. A child's input is built as the service builds it: the ItemSelector evaluated against the
 * Map state's input, `$$.Map.Item.Value` being the item the ItemReader read.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { z } from 'zod';
import { STATE_NAMES, STEP_NAMES, type StepName, WORKFLOW_STEPS } from '../core/workflow/messages.js';

installPromiseWithResolvers();
enforcePayloadQuota();

export type LocalHandler = (input: unknown) => Promise<unknown>;

export interface LocalWorkflowOptions {
  /** The step behind each Task state, keyed by state name; they run in-process as Lambda would run them. */
  handlers: Readonly<Record<StepName, LocalHandler>>;
  /** Reads the JSON array an ItemReader would read; `key` is relative to the lake root. */
  readItems: (key: string) => Promise<unknown[]>;
  /** Overrides MaxConcurrency of ExportExperiments. */
  experimentConcurrency?: number;
  /** Overrides MaxConcurrency of ExportSlots. */
  slotConcurrency?: number;
  /** Multiplies every Retry wait (interval and max delay); tests pass 0. Default 1. */
  retryDelayScale?: number;
  /** `$$.Execution.Id` of this execution; default a new id. */
  executionId?: string;
  /** Aborts the execution, as StopExecution does: no further state starts. */
  signal?: AbortSignal;
}

/** The execution failed: `error` and `cause` are what Step Functions reports for a failed execution. */
export class LocalExecutionError extends Error {
  override readonly name = 'LocalExecutionError';
  readonly error: string;
  readonly errorCause: string;

  constructor(error: string, errorCause: string) {
    super(`the workflow failed with ${error}: ${errorCause}`);
    this.error = error;
    this.errorCause = errorCause;
  }
}

/** The execution was aborted through its signal, as an ABORTED execution in Step Functions. */
export class LocalExecutionAbortedError extends Error {
  override readonly name = 'LocalExecutionAbortedError';
  constructor(readonly reason: string) {
    super(`the workflow was aborted (${reason})`);
  }
}

interface AslState {
  readonly Type: string;
  readonly [field: string]: unknown;
}

interface AslMachine {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly [field: string]: unknown;
}

const LOCAL_LOAD_ITEMS = 'arn:aws:states:::pluto-export-local:load-items';
const LOCAL_ITEM_FAILED = 'arn:aws:states:::pluto-export-local:item-failed';
const LOCAL_ITEM_START = 'arn:aws:states:::pluto-export-local:item-start';
const LOCAL_GATHERED = 'arn:aws:states:::pluto-export-local:gathered';
/** Marks the states the rewrite adds: the payload quota applies to what they emulate, not to them. */
const LOCAL_ONLY = 'pluto-export-local';
/** Longest delay a Node.js timer can hold; aws-local-stepfunctions times Task states with one. */
const MAX_TIMER_SECONDS = 2_147_483;
/** The Step Functions payload quota for a state's input or output. */
const MAX_PAYLOAD_BYTES = 262_144;
const THRESHOLD_CAUSE = 'The specified tolerated failure threshold was exceeded';
const DISTRIBUTED_MAP_FIELDS = new Set([
  'Type',
  'Comment',
  'ItemReader',
  'ItemSelector',
  'ItemProcessor',
  'MaxConcurrency',
  'ToleratedFailurePercentage',
  'ToleratedFailureCount',
  'Label',
  'ResultPath',
  'InputPath',
  'OutputPath',
  'Retry',
  'Catch',
  'Next',
  'End',
]);

let definition: AslMachine | undefined;

/**
 * The ASL of `ExportWorkflow` as `npm run definition` synthesized it (infra/local-definition.ts);
 * a test keeps the file equal to what CDK synthesizes now.
 */
export function loadWorkflowDefinition(): object {
  definition ??= JSON.parse(
    readFileSync(new URL('./workflow-definition.json', import.meta.url), 'utf8'),
  ) as AslMachine;
  return structuredClone(definition);
}

/**
 * The ASL aws-local-stepfunctions can run: each Distributed Map becomes a Parallel state of the
 * same name around `<Name>Load` (reads the items) and an inline `<Name>Items` Map; every Task
 * gets an explicit timeout because the library's default (60 s) is not Step Functions' (none).
 */
export function toLocalDefinition(asl: object): object {
  const machine = asl as AslMachine;
  const taskTimeout = Math.min(
    typeof machine.TimeoutSeconds === 'number' ? machine.TimeoutSeconds : MAX_TIMER_SECONDS,
    MAX_TIMER_SECONDS,
  );
  return mapStates(machine, (name, state) => {
    if (
      state.Type === 'Task' &&
      state.TimeoutSeconds === undefined &&
      state.TimeoutSecondsPath === undefined
    ) {
      return { ...state, TimeoutSeconds: taskTimeout };
    }
    if (state.Type === 'Map' && isDistributed(state)) return localDistributedMap(name, state, taskTimeout);
    return state;
  });
}

/** Rebuilds a machine bottom-up: nested machines first, then `visit` on each state. */
function mapStates(machine: AslMachine, visit: (name: string, state: AslState) => AslState): AslMachine {
  const states = Object.entries(machine.States).map(([name, state]): [string, AslState] => {
    const nested = (child: unknown) => mapStates(child as AslMachine, visit);
    if (state.Type === 'Parallel') {
      return [name, visit(name, { ...state, Branches: (state.Branches as unknown[]).map(nested) })];
    }
    if (state.Type === 'Map') {
      const field = state.ItemProcessor === undefined ? 'Iterator' : 'ItemProcessor';
      return [name, visit(name, { ...state, [field]: nested(state[field]) })];
    }
    return [name, visit(name, state)];
  });
  return { ...machine, States: Object.fromEntries(states) };
}

/** Every state of a machine, nested ones included. */
function allStates(machine: AslMachine): [string, AslState][] {
  const found: [string, AslState][] = [];
  mapStates(machine, (name, state) => {
    found.push([name, state]);
    return state;
  });
  return found;
}

function isDistributed(state: AslState): boolean {
  const processor = state.ItemProcessor as { ProcessorConfig?: { Mode?: string } } | undefined;
  return processor?.ProcessorConfig?.Mode === 'DISTRIBUTED';
}

function localDistributedMap(name: string, state: AslState, taskTimeout: number): AslState {
  const unsupported = Object.keys(state).filter((field) => !DISTRIBUTED_MAP_FIELDS.has(field));
  if (state.ResultPath !== null) unsupported.push('ResultPath other than null');
  if (unsupported.length > 0) {
    throw new Error(`the local runner cannot emulate Distributed Map ${name}: ${unsupported.join(', ')}`);
  }
  const { ProcessorConfig: _mode, ...processor } = state.ItemProcessor as AslMachine;
  const tolerance = {
    ...(state.ToleratedFailureCount === undefined
      ? {}
      : { toleratedFailureCount: state.ToleratedFailureCount }),
    ...(state.ToleratedFailurePercentage === undefined
      ? {}
      : { toleratedFailurePercentage: state.ToleratedFailurePercentage }),
  };
  const itemStartName = `${name}ItemStart`;
  const itemName = `${name}Item`;
  const itemFailedName = `${name}ItemFailed`;
  const local = { Comment: LOCAL_ONLY };
  // The branch keeps the Map state's input under `input`, so that the ItemSelector sees exactly it.
  const branch: AslMachine = {
    StartAt: `${name}Input`,
    States: {
      [`${name}Input`]: {
        ...local,
        Type: 'Pass',
        Parameters: { 'input.$': '$' },
        Next: `${name}Load`,
      },
      [`${name}Load`]: {
        ...local,
        Type: 'Task',
        Resource: LOCAL_LOAD_ITEMS,
        Parameters: { ...(withinInput(itemReaderKey(name, state.ItemReader)) as object), ...tolerance },
        ResultPath: '$.run',
        TimeoutSeconds: taskTimeout,
        Next: `${name}Items`,
      },
      [`${name}Items`]: {
        ...local,
        Type: 'Map',
        ItemsPath: '$.run.items',
        ItemSelector: {
          ...(state.ItemSelector === undefined
            ? { 'input.$': '$$.Map.Item.Value' }
            : { input: withinInput(state.ItemSelector) }),
          'mapRun.$': '$.run.id',
        },
        ...(state.MaxConcurrency === undefined ? {} : { MaxConcurrency: state.MaxConcurrency }),
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: itemStartName,
          States: {
            [itemStartName]: {
              ...local,
              Type: 'Task',
              Resource: LOCAL_ITEM_START,
              Parameters: { 'mapRun.$': '$.mapRun' },
              ResultPath: null,
              TimeoutSeconds: taskTimeout,
              Next: itemName,
            },
            // Its output is the child execution's output, as the Map Run gathers it.
            [itemName]: {
              ...local,
              Type: 'Parallel',
              InputPath: '$.input',
              Branches: [processor],
              OutputPath: '$[0]',
              Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: itemFailedName }],
              End: true,
            },
            [itemFailedName]: {
              ...local,
              Type: 'Task',
              Resource: LOCAL_ITEM_FAILED,
              Parameters: { 'mapRun.$': '$.mapRun', 'failure.$': '$.failure', 'input.$': '$.input' },
              TimeoutSeconds: taskTimeout,
              End: true,
            },
          },
        },
        ResultPath: '$.run.results',
        Next: `${name}Gathered`,
      },
      [`${name}Gathered`]: {
        ...local,
        Type: 'Task',
        Resource: LOCAL_GATHERED,
        Parameters: { state: name, 'results.$': '$.run.results' },
        ResultPath: null,
        TimeoutSeconds: taskTimeout,
        End: true,
      },
    },
  };
  for (const localName of [
    `${name}Input`,
    `${name}Load`,
    `${name}Items`,
    itemStartName,
    itemName,
    itemFailedName,
    `${name}Gathered`,
  ]) {
    LOCAL_ONLY_STATES.add(localName);
  }
  const {
    ItemReader: _reader,
    ItemSelector: _selector,
    ItemProcessor: _processor,
    MaxConcurrency: _concurrency,
    ToleratedFailureCount: _count,
    ToleratedFailurePercentage: _percentage,
    Label: _label,
    ...kept
  } = state;
  return { ...kept, Type: 'Parallel', Branches: [branch] };
}

/** An ItemSelector whose state-input paths (`$`, `$.x`, inside intrinsics too) read `$.input` instead. */
function withinInput(selector: unknown): unknown {
  if (Array.isArray(selector)) return selector.map(withinInput);
  if (typeof selector !== 'object' || selector === null) return selector;
  return Object.fromEntries(
    Object.entries(selector).map(([key, value]) => [
      key,
      key.endsWith('.$') && typeof value === 'string'
        ? value.replace(/(?<!\$)\$(?=$|[.[,)\s])/g, '$$.input')
        : withinInput(value),
    ]),
  );
}

/** The loader's `key` parameter: the ItemReader key with the lake prefix (a States.Format literal) removed. */
function itemReaderKey(name: string, itemReader: unknown): Record<string, string> {
  const reader = itemReader as
    | { Resource?: string; ReaderConfig?: Record<string, unknown>; Parameters?: Record<string, unknown> }
    | undefined;
  const onlyJson =
    reader?.ReaderConfig?.InputType === 'JSON' && Object.keys(reader.ReaderConfig).length === 1;
  if (!reader?.Resource?.endsWith(':s3:getObject') || !onlyJson) {
    throw new Error(`the local runner reads only S3 JSON ItemReaders; ${name} has ${JSON.stringify(reader)}`);
  }
  const key = reader.Parameters?.Key;
  if (typeof key === 'string') return { key };
  const path = reader.Parameters?.['Key.$'];
  if (typeof path === 'string') {
    if (path.startsWith('$')) return { 'key.$': path };
    const prefixed = /^States\.Format\('(?:[^'\\]|\\.)*\{\}',\s*(\$[^,)]*)\)$/.exec(path);
    if (prefixed?.[1] !== undefined) return { 'key.$': prefixed[1] };
  }
  throw new Error(
    `the local runner cannot read the ItemReader key of ${name}: ${JSON.stringify(reader.Parameters)}`,
  );
}

const loadItemsInputSchema = z.object({
  key: z.string(),
  toleratedFailureCount: z.number().optional(),
  toleratedFailurePercentage: z.number().optional(),
});
const mapRunInputSchema = z.object({ mapRun: z.string() });
const itemFailedInputSchema = mapRunInputSchema.extend({
  failure: z.object({ Error: z.string(), Cause: z.string().optional() }),
  input: z.unknown(),
});
const gatheredInputSchema = z.object({ state: z.string(), results: z.array(z.unknown()) });

interface MapRun {
  readonly total: number;
  failed: number;
  /** Failed past its tolerance: no further item starts, as a stopped Map Run starts no more child executions. */
  stopped: boolean;
  readonly toleratedFailureCount: number | undefined;
  readonly toleratedFailurePercentage: number | undefined;
}

/** A Map Run fails once failures exceed either configured threshold; with none configured, on the first. */
function exceedsTolerance(run: MapRun): boolean {
  const { failed, total, toleratedFailureCount: count, toleratedFailurePercentage: percentage } = run;
  if (count === undefined && percentage === undefined) return failed > 0;
  return (
    (count !== undefined && failed > count) || (percentage !== undefined && failed * 100 > percentage * total)
  );
}

function statesError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** Lambda reports a thrown error as its `name` (errorType) and a JSON Cause; Retry and Catch match on it. */
function asLambdaError(thrown: unknown): Error {
  const errorType = thrown instanceof Error ? thrown.name : 'Error';
  const errorMessage = thrown instanceof Error ? thrown.message : String(thrown);
  return statesError(errorType, JSON.stringify({ errorType, errorMessage }));
}

/**
 * A payload over the quota: Step Functions fails the state with this terminal error, which neither
 * Retry nor Catch handles. In AWS it ends only the child execution it happens in (a failed Map
 * item); locally it ends the whole run, which surfaces the oversized payload at once.
 */
class DataLimitExceededError extends Error {
  override readonly name = 'States.DataLimitExceeded';
  // aws-local-stepfunctions reads these two flags to keep an error away from Retry and Catch.
  readonly isRetryable = false;
  readonly isCatchable = false;
}

/** Ends an item queued behind a failed Map; nothing awaits it any more, so neither Retry nor Catch may run. */
class MapRunStoppedError extends Error {
  override readonly name = 'States.MapRunStopped';
  readonly isRetryable = false;
  readonly isCatchable = false;
}

/** Throws States.DataLimitExceeded for a payload over the quota. */
function checkPayload(stateName: string, what: string, payload: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(payload ?? null));
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new DataLimitExceededError(
      `${stateName} ${what} is ${bytes} bytes; a state's input or output is limited to ${MAX_PAYLOAD_BYTES}`,
    );
  }
}

/** Names of the states `toLocalDefinition` adds around each Distributed Map. */
const LOCAL_ONLY_STATES = new Set<string>();

interface StateEvents {
  dispatchStateEnteredEvent(stateName: string, stateType: string, input: unknown): void;
  dispatchStateExitedEvent(stateName: string, stateType: string, input: unknown, output: unknown): void;
}

const guardedEvents = new WeakSet<object>();

/**
 * aws-local-stepfunctions 3 reports each state's input and output to the execution's event logger,
 * from inside its state loop: checking them there fails the state the way Step Functions does. Every
 * execution, nested Map and Parallel ones included, goes through `StateMachine.prototype.execute`.
 */
function enforcePayloadQuota(): void {
  const prototype = StateMachine.prototype as unknown as {
    execute: (input: unknown, options: { eventLogger: StateEvents }, ...rest: unknown[]) => unknown;
  };
  const execute = prototype.execute;
  prototype.execute = function (this: unknown, input, options, ...rest) {
    const events = options.eventLogger;
    if (!guardedEvents.has(events)) {
      guardedEvents.add(events);
      const entered = events.dispatchStateEnteredEvent.bind(events);
      const exited = events.dispatchStateExitedEvent.bind(events);
      events.dispatchStateEnteredEvent = (name, type, stateInput) => {
        if (!LOCAL_ONLY_STATES.has(name)) checkPayload(name, 'input', stateInput);
        entered(name, type, stateInput);
      };
      events.dispatchStateExitedEvent = (name, type, stateInput, output) => {
        if (!LOCAL_ONLY_STATES.has(name)) checkPayload(name, 'output', output);
        exited(name, type, stateInput, output);
      };
    }
    return execute.call(this, input, options, ...rest);
  };
}

function lambdaTask(stateName: string, handler: LocalHandler) {
  return async (input: unknown): Promise<TaskOutput> => {
    checkPayload(stateName, 'effective input', input);
    let output: unknown;
    try {
      output = await handler(structuredClone(input));
    } catch (thrown) {
      throw asLambdaError(thrown);
    }
    checkPayload(stateName, 'result', output);
    return JSON.parse(JSON.stringify(output ?? null)) as TaskOutput;
  };
}

type RunInput = Parameters<StateMachine['run']>[0];
type TaskOutput = Awaited<ReturnType<StateMachine['run']>['result']>;

/** Executes the real workflow definition in-process and resolves with the execution output. */
export function runWorkflowLocally(input: unknown, options: LocalWorkflowOptions): Promise<unknown> {
  return runDefinitionLocally(loadWorkflowDefinition(), input, options);
}

/**
 * Executes a deployed-form definition whose Task states invoke the workflow's functions
 * (`...:function:<StateName>`), e.g. a reduced one that isolates a Step Functions behaviour.
 */
export async function runDefinitionLocally(
  definition: object,
  input: unknown,
  options: LocalWorkflowOptions,
): Promise<unknown> {
  const concurrency: Record<string, number | undefined> = {
    [STATE_NAMES.exportExperiments]: options.experimentConcurrency,
    [STATE_NAMES.exportSlots]: options.slotConcurrency,
  };
  const deployed = mapStates(definition as AslMachine, (name, state) => {
    const maxConcurrency = concurrency[name];
    return maxConcurrency === undefined ? state : { ...state, MaxConcurrency: maxConcurrency };
  });
  const scale = options.retryDelayScale ?? 1;
  const local = mapStates(toLocalDefinition(deployed) as AslMachine, (_name, state) =>
    Array.isArray(state.Retry) && scale !== 1
      ? { ...state, Retry: state.Retry.map((r) => scaleRetrier(r, scale)) }
      : state,
  );

  const runs = new Map<string, MapRun>();
  const handlers: Record<string, (input: unknown) => Promise<TaskOutput>> = {};
  for (const [name, handler] of Object.entries(options.handlers)) handlers[name] = lambdaTask(name, handler);
  for (const [name, state] of allStates(local)) {
    const step = functionStep(state.Resource);
    if (handlers[name] === undefined && step !== undefined) {
      // Another Task state invoking a step's function (e.g. FinalizeFailedRun) runs that step's handler.
      handlers[name] = lambdaTask(name, options.handlers[step]);
    } else if (state.Resource === LOCAL_LOAD_ITEMS) {
      handlers[name] = async (raw) => {
        const { key, toleratedFailureCount, toleratedFailurePercentage } = loadItemsInputSchema.parse(raw);
        let items: unknown;
        try {
          items = await options.readItems(key);
        } catch (error) {
          throw statesError(
            'States.ItemReaderFailed',
            `${key}: ${error instanceof Error ? error.message : error}`,
          );
        }
        if (!Array.isArray(items)) {
          throw statesError('States.ItemReaderFailed', `${key} does not hold a JSON array`);
        }
        const id = String(runs.size + 1);
        runs.set(id, {
          total: items.length,
          failed: 0,
          stopped: false,
          toleratedFailureCount,
          toleratedFailurePercentage,
        });
        return { id, items } as TaskOutput;
      };
    } else if (state.Resource === LOCAL_ITEM_FAILED) {
      handlers[name] = async (raw) => {
        const { mapRun, failure, input } = itemFailedInputSchema.parse(raw);
        const run = runs.get(mapRun);
        if (run === undefined) throw new Error(`${name}: unknown map run`);
        run.failed += 1;
        if (exceedsTolerance(run)) {
          run.stopped = true;
          throw statesError('States.ExceedToleratedFailureThreshold', THRESHOLD_CAUSE);
        }
        // A failed child's entry in the Map's output is its execution result, not its output.
        return {
          Status: 'FAILED',
          Error: failure.Error,
          Cause: failure.Cause ?? '',
          Input: JSON.stringify(input),
        };
      };
    } else if (state.Resource === LOCAL_GATHERED) {
      handlers[name] = async (raw) => {
        const { state: mapName, results } = gatheredInputSchema.parse(raw);
        const bytes = Buffer.byteLength(JSON.stringify(results));
        if (bytes > MAX_PAYLOAD_BYTES) {
          throw new DataLimitExceededError(
            `${mapName} gathered ${bytes} bytes of child execution results (${results.length} children); a state's output is limited to ${MAX_PAYLOAD_BYTES}`,
          );
        }
        return null;
      };
    } else if (state.Resource === LOCAL_ITEM_START) {
      // aws-local-stepfunctions still starts the items queued behind MaxConcurrency after its Map failed.
      handlers[name] = async (raw) => {
        const run = runs.get(mapRunInputSchema.parse(raw).mapRun);
        if (run === undefined) throw new Error(`${name}: unknown map run`);
        if (run.stopped)
          throw new MapRunStoppedError(`${name}: the map run has failed; this item is not started`);
        return null;
      };
    }
  }

  const machine = new StateMachine(local as unknown as StateMachineDefinition);
  const executionInput = JSON.parse(JSON.stringify(input ?? null)) as RunInput;
  const execution = machine.run(executionInput, {
    overrides: { taskResourceLocalHandlers: handlers },
    context: {
      Execution: {
        Id: options.executionId ?? `local:${randomUUID()}`,
        Input: executionInput,
        StartTime: new Date().toISOString(),
      },
    },
  });
  const abort = () => execution.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  // The library queues every event until read; reading them keeps a long run's memory flat.
  void (async () => {
    for await (const _event of execution.eventLogs);
  })();
  try {
    return await execution.result;
  } catch (error) {
    if (options.signal?.aborted) throw new LocalExecutionAbortedError(String(options.signal.reason));
    if (error instanceof ExecutionError && error.cause instanceof Error) {
      throw new LocalExecutionError(error.cause.name, error.cause.message);
    }
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}

/** The step whose function (`function:<StateName>`, as synthesized here) a Task's Resource names. */
function functionStep(resource: unknown): StepName | undefined {
  if (typeof resource !== 'string') return undefined;
  const name = /:function:([A-Za-z]+)$/.exec(resource)?.[1];
  return WORKFLOW_STEPS.find((step) => STEP_NAMES[step] === name) === undefined
    ? undefined
    : (name as StepName);
}

function scaleRetrier(retrier: unknown, scale: number): unknown {
  const r = retrier as { IntervalSeconds?: number; MaxDelaySeconds?: number };
  return {
    ...r,
    IntervalSeconds: (r.IntervalSeconds ?? 1) * scale,
    ...(r.MaxDelaySeconds === undefined ? {} : { MaxDelaySeconds: r.MaxDelaySeconds * scale }),
  };
}

function installPromiseWithResolvers(): void {
  const promise = Promise as unknown as { withResolvers?: unknown };
  if (typeof promise.withResolvers === 'function') return;
  // aws-local-stepfunctions 3 calls Promise.withResolvers, which Node.js 20 lacks.
  promise.withResolvers = <T>() => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const created = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise: created, resolve, reject };
  };
}
