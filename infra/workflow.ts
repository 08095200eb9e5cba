/**
 * The export state machine (design.md, Workflow), defined once: deployed by the stack and, synthesized
 * in-process, executed on a laptop by `functions/local/run-workflow.ts`.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { RETRYABLE_ERROR_NAMES, StoreError } from '../functions/core/errors.js';
import { runPrefix } from '../functions/core/layout.js';
import { STATE_NAMES, type WorkflowStep } from '../functions/core/workflow/messages.js';

export interface ExportWorkflowProps {
  /** The Lambda function behind each Task state. */
  readonly functions: Readonly<Record<WorkflowStep, lambda.IFunction>>;
  /** The lake bucket: `runs/<run>/items.json` and the slot lists are read from it by the ItemReaders. */
  readonly lakeBucket: s3.IBucket;
  /**
   * Key prefix of the lake root in the bucket; ItemReader keys are this prefix + the key a step returns.
   * @default '' (the lake root is the bucket root)
   */
  readonly lakePrefix?: string;
  /**
   * MaxConcurrency of ExportExperiments (experiments exported at once).
   * @default 4
   */
  readonly experimentConcurrency?: number;
  /**
   * MaxConcurrency of ExportSlots (slots exported at once, per experiment).
   * @default 4
   */
  readonly slotConcurrency?: number;
  /**
   * ToleratedFailurePercentage of ExportExperiments. Each experiment records its own failure,
   * so by default no number of failed experiments fails the run.
   * @default 100
   */
  readonly toleratedFailurePercentage?: number;
  /**
   * Execution timeout of the state machine.
   * @default Duration.hours(12)
   */
  readonly timeout?: Duration;
  /**
   * Where the state machine logs (level ALL, without execution data: payloads name experiments).
   * @default - a new log group, retained for three months
   */
  readonly logGroup?: logs.ILogGroup;
}

/**
 * The errors the Lambda service raises when an invocation could not run (Step Functions developer
 * guide, "Handle Lambda service exceptions"); throttling included.
 */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

/**
 * A worker that timed out, ran out of memory or exited: Step Functions reports the errorType Lambda
 * gives the invocation. Retried fewer times than a service error, since the same work may crash again;
 * a slot reuses or rewrites its part on the retry.
 */
export const LAMBDA_CRASH_ERRORS = [
  'Lambda.Unknown',
  'Sandbox.Timedout',
  'Runtime.ExitError',
  'Runtime.OutOfMemory',
] as const;

/** The states that finalize and then fail a run whose ExportExperiments failed. */
export const FINALIZE_FAILED_RUN = 'FinalizeFailedRun';
export const RUN_FAILED = 'RunFailed';

const RETRY_BACKOFF = {
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 6,
  maxDelay: Duration.seconds(60),
  jitterStrategy: sfn.JitterType.FULL,
} as const;
const CRASH_RETRY = { ...RETRY_BACKOFF, maxAttempts: 2 } as const;

export class ExportWorkflow extends Construct {
  readonly definitionBody: sfn.DefinitionBody;
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: ExportWorkflowProps) {
    super(scope, id);
    const lakePrefix = props.lakePrefix ?? '';
    const { functions } = props;

    const invoke = (
      name: string,
      fn: lambda.IFunction,
      retryErrors: readonly string[],
      paths: Pick<tasks.LambdaInvokeProps, 'resultPath' | 'outputPath' | 'payload'> = {},
    ) => {
      const task = new tasks.LambdaInvoke(this, name, {
        stateName: name,
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        ...paths,
      });
      task.addRetry({ errors: [...LAMBDA_SERVICE_ERRORS], ...RETRY_BACKOFF });
      task.addRetry({ errors: [...LAMBDA_CRASH_ERRORS], ...CRASH_RETRY });
      task.addRetry({ errors: [...retryErrors], ...RETRY_BACKOFF });
      return task;
    };
    // A Distributed Map gathers every child execution's output into its own, which Step Functions
    // caps at 256 KiB whatever the Map's ResultPath (States.DataLimitExceeded, which no Catch
    // handles). Each child therefore ends with the constant output {}, so no payload grows with the
    // number of experiments or slots.
    const endOfChild = { outputPath: sfn.JsonPath.DISCARD };
    const stepErrors = RETRYABLE_ERROR_NAMES;
    const bookkeepingErrors = [StoreError.name];

    const exportSlot = invoke(STATE_NAMES.exportSlot, functions.exportSlot, stepErrors, endOfChild);
    const exportSlots = new sfn.DistributedMap(this, STATE_NAMES.exportSlots, {
      stateName: STATE_NAMES.exportSlots,
      itemReader: new RunRecordsReader(props.lakeBucket, lakePrefix, '$.slotsKey'),
      itemSelector: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        experimentId: sfn.JsonPath.stringAt('$.experimentId'),
        slot: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      maxConcurrency: props.slotConcurrency ?? 4,
      toleratedFailurePercentage: 0,
      resultPath: sfn.JsonPath.DISCARD,
      mapExecutionType: sfn.StateMachineType.STANDARD,
    });
    exportSlots.itemProcessor(exportSlot);

    const planExperiment = invoke(STATE_NAMES.planExperiment, functions.planExperiment, stepErrors);
    const commitExperiment = invoke(
      STATE_NAMES.commitExperiment,
      functions.commitExperiment,
      stepErrors,
      endOfChild,
    );
    const recordFailure = invoke(
      STATE_NAMES.recordExperimentFailure,
      functions.recordExperimentFailure,
      bookkeepingErrors,
      endOfChild,
    );
    for (const state of [planExperiment, exportSlots, commitExperiment]) {
      state.addCatch(recordFailure, { errors: [sfn.Errors.ALL], resultPath: '$.failure' });
    }
    const experiment = planExperiment.next(
      new sfn.Choice(this, 'HasSlots?')
        .when(sfn.Condition.stringEquals('$.action', 'export'), exportSlots.next(commitExperiment))
        .otherwise(new sfn.Succeed(this, 'ExperimentDone', endOfChild)),
    );

    const exportExperiments = new sfn.DistributedMap(this, STATE_NAMES.exportExperiments, {
      stateName: STATE_NAMES.exportExperiments,
      itemReader: new RunRecordsReader(props.lakeBucket, lakePrefix, '$.itemsKey'),
      itemSelector: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        full: sfn.JsonPath.objectAt('$.full'),
        item: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      maxConcurrency: props.experimentConcurrency ?? 4,
      toleratedFailurePercentage: props.toleratedFailurePercentage ?? 100,
      resultPath: sfn.JsonPath.DISCARD,
      mapExecutionType: sfn.StateMachineType.STANDARD,
    });
    exportExperiments.itemProcessor(experiment);

    const finalizeRun = invoke(STATE_NAMES.finalizeRun, functions.finalizeRun, bookkeepingErrors);
    // A failed ExportExperiments (tolerance exceeded, unreadable item list) still finalizes the run,
    // so its lease is released and its manifest written, and then fails the execution with its error.
    const finalizeFailedRun = invoke(FINALIZE_FAILED_RUN, functions.finalizeRun, bookkeepingErrors, {
      resultPath: '$.finalized',
    });
    exportExperiments.addCatch(
      finalizeFailedRun.next(
        new sfn.Fail(this, RUN_FAILED, { errorPath: '$.failure.Error', causePath: '$.failure.Cause' }),
      ),
      { errors: [sfn.Errors.ALL], resultPath: '$.failure' },
    );
    // The execution, not the run id, holds the lease: a second execution of a run id is kept out.
    const startRun = invoke(STATE_NAMES.startRun, functions.startRun, stepErrors, {
      payload: sfn.TaskInput.fromObject({
        run: sfn.JsonPath.entirePayload,
        execution: sfn.JsonPath.executionId,
      }),
    });
    const definition = startRun.next(
      new sfn.Choice(this, 'RunStarted?')
        .when(sfn.Condition.stringEquals('$.status', 'started'), exportExperiments.next(finalizeRun))
        .otherwise(finalizeRun),
    );

    this.definitionBody = sfn.DefinitionBody.fromChainable(definition);
    this.logGroup =
      props.logGroup ?? new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: this.definitionBody,
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.hours(12),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    // CDK grants these on `execution:<name>:*`, which no child execution matches: a Map's children are
    // `execution:<name>/<map run label>:<id>` (Step Functions developer guide, "IAM policies for
    // using Distributed Map states").
    const mapPolicy = this.stateMachine.node.findChild('DistributedMapPolicy') as iam.Policy;
    mapPolicy.addStatements(
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [
          Stack.of(this).formatArn({
            service: 'states',
            resource: 'execution',
            resourceName: `${this.stateMachine.stateMachineName}/*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
  }
}

/**
 * An ItemReader of a JSON list the run wrote under `runs/`: the state machine may read run records
 * only, where CDK's S3JsonItemReader would grant every object of the bucket.
 */
class RunRecordsReader extends sfn.S3JsonItemReader {
  private readonly runRecords: string;

  constructor(bucket: s3.IBucket, lakePrefix: string, keyPath: string) {
    super({ bucket, key: lakeKey(lakePrefix, keyPath) });
    this.runRecords = bucket.arnForObjects(`${lakePrefix}${runPrefix('*')}*`);
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.runRecords] })];
  }
}

/** The ItemReader key: a JSONPath into the state input, behind the lake prefix when there is one. */
function lakeKey(lakePrefix: string, path: string): string {
  if (lakePrefix === '') return sfn.JsonPath.stringAt(path);
  // JsonPath.format quotes the literal; braces, which States.Format reads as placeholders, are ours to escape.
  const literal = lakePrefix.replace(/[{}]/g, (c) => `\\${c}`);
  return sfn.JsonPath.format(`${literal}{}`, sfn.JsonPath.stringAt(path));
}
