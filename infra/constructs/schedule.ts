/**
 * The EventBridge Scheduler schedule that starts an export run. The run id is the scheduled time,
 * so a re-delivered invocation starts the same run, which StartRun recognises (leased or committed).
 */
import { Duration } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { RunInput } from '../../functions/core/workflow/messages.js';

export interface ExportScheduleProps {
  /** The export state machine. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * When to run: an EventBridge Scheduler `cron(...)`, `rate(...)` or `at(...)` expression, in UTC.
   * @default 'cron(0 3 * * ? *)' (daily at 03:00 UTC)
   */
  readonly expression?: string;
  /**
   * Export only the experiments of these projects.
   * @default - every project the token can see
   */
  readonly projectIds?: readonly string[];
  /**
   * Export only these experiments.
   * @default - every experiment the token can see
   */
  readonly experimentIds?: readonly string[];
  /**
   * A second schedule whose runs re-export everything (`full`), catching edits the fingerprint
   * cannot see; e.g. `cron(0 4 ? * SUN *)` for weekly.
   * @default - no full runs
   */
  readonly fullRunExpression?: string;
  /**
   * What runs do with committed experiments Pluto no longer lists or refuses.
   * @default 'keep'
   */
  readonly missingExperiments?: 'keep' | 'retire';
  /**
   * Whether the schedules start runs.
   * @default true
   */
  readonly enabled?: boolean;
}

/**
 * The scheduled time (e.g. `2025-01-31T03:00:00Z`) only holds characters of the run id pattern
 * of `functions/core/workflow/messages.ts`, so it is the run id as it is.
 */
export const SCHEDULED_RUN_ID = scheduler.ContextAttribute.scheduledTime;

export class ExportSchedule extends Construct {
  readonly group: scheduler.ScheduleGroup;
  readonly schedule: scheduler.Schedule;
  readonly fullRunSchedule: scheduler.Schedule | undefined;

  constructor(scope: Construct, id: string, props: ExportScheduleProps) {
    super(scope, id);
    const input: RunInput = {
      runId: SCHEDULED_RUN_ID,
      ...(props.projectIds === undefined ? {} : { projectIds: [...props.projectIds] }),
      ...(props.experimentIds === undefined ? {} : { experimentIds: [...props.experimentIds] }),
      missingExperiments: props.missingExperiments ?? 'keep',
    };
    this.group = new scheduler.ScheduleGroup(this, 'Group');
    const schedule = (id: string, expression: string, runInput: RunInput, description: string) =>
      new scheduler.Schedule(this, id, {
        description,
        scheduleGroup: this.group,
        schedule: scheduler.ScheduleExpression.expression(expression),
        timeWindow: scheduler.TimeWindow.off(),
        enabled: props.enabled ?? true,
        target: new targets.StepFunctionsStartExecution(props.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject(runInput),
          // A run that could not start within the hour waits for the next scheduled one.
          maxEventAge: Duration.hours(1),
          retryAttempts: 5,
        }),
      });
    this.schedule = schedule(
      'Schedule',
      props.expression ?? 'cron(0 3 * * ? *)',
      input,
      'Starts a pluto-export run',
    );
    this.fullRunSchedule =
      props.fullRunExpression === undefined
        ? undefined
        : schedule(
            'FullRunSchedule',
            props.fullRunExpression,
            { ...input, full: true },
            'Starts a full pluto-export run',
          );
  }
}
