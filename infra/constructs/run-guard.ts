/**
 * The failure guard: a run whose execution fails uncatchably (`States.DataLimitExceeded`, a
 * Lambda that cannot be invoked at all), times out or is stopped never reaches FinalizeRun. An
 * EventBridge rule on those ends of the export state machine's executions invokes EndFailedRun,
 * which writes the run's manifest and export_log and releases its lease, so the next run need not
 * wait for the lease to expire.
 * Event shape: https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { GUARDED_STATUSES } from '../../functions/core/workflow/end-run.js';

export interface RunGuardProps {
  /** The export state machine whose executions are watched. */
  readonly stateMachine: sfn.IStateMachine;
  /** EndFailedRun. */
  readonly handler: lambda.IFunction;
}

export class RunGuard extends Construct {
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: RunGuardProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      description:
        'pluto-export: record a run whose execution failed, timed out or was aborted, and free its lease',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: [...GUARDED_STATUSES],
          stateMachineArn: [props.stateMachine.stateMachineArn],
        },
      },
      // EventBridge retries a failed invocation; two hours covers a Lambda outage but not the lease's 12.
      targets: [
        new targets.LambdaFunction(props.handler, { retryAttempts: 16, maxEventAge: Duration.hours(2) }),
      ],
    });
  }
}
