/**
 * The deployment: the lake with its Glue tables and Athena workgroup, the Pluto token
 * secret, one Lambda function per workflow step, the export state machine, its schedule and
 * its alarms, all from one validated configuration (infra/config.ts).
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { mapConcurrency } from '../functions/core/concurrency.js';
import { type DeployConfig, parseDeployConfig } from './config.js';
import { DataLake } from './constructs/data-lake.js';
import { ExportFunctions } from './constructs/export-functions.js';
import { ExportMonitoring } from './constructs/monitoring.js';
import { PlutoSecret } from './constructs/pluto-secret.js';
import { RunGuard } from './constructs/run-guard.js';
import { ExportSchedule } from './constructs/schedule.js';
import { readmeExampleQueries } from './example-queries.js';
import { acknowledgeWildcards, FUNCTION_WILDCARDS, WORKFLOW_WILDCARDS } from './nag.js';
import { ExportWorkflow } from './workflow.js';

export interface PlutoExportStackProps extends StackProps {
  /**
   * The validated deploy configuration.
   * @default - every default of infra/config.ts
   */
  readonly config?: DeployConfig;
}

export class PlutoExportStack extends Stack {
  readonly config: DeployConfig;
  readonly lake: DataLake;
  readonly secret: PlutoSecret;
  readonly exportFunctions: ExportFunctions;
  readonly workflow: ExportWorkflow;
  readonly runGuard: RunGuard;
  readonly schedule: ExportSchedule;
  readonly monitoring: ExportMonitoring;

  constructor(scope: Construct, id: string, props: PlutoExportStackProps = {}) {
    super(scope, id, props);
    const config = props.config ?? parseDeployConfig({});
    this.config = config;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.lake = new DataLake(this, 'Lake', {
      ...('existingBucketName' in config.bucket
        ? {
            existingBucketName: config.bucket.existingBucketName,
            ...(config.bucket.kmsKeyArn === undefined
              ? {}
              : { existingBucketKeyArn: config.bucket.kmsKeyArn }),
          }
        : {}),
      prefix: config.prefix,
      databaseName: config.glueDatabase,
      noncurrentVersionRetention: Duration.days(config.retentionDays),
      removalPolicy,
      bytesScannedCutoffPerQuery: config.athenaBytesScannedCutoffGb * 1024 ** 3,
      namedQueries: readmeExampleQueries(),
    });

    this.secret = new PlutoSecret(this, 'PlutoToken', {
      ...('existingSecretArn' in config.secret ? { existingSecretArn: config.secret.existingSecretArn } : {}),
      ...('existingSecretName' in config.secret
        ? { existingSecretName: config.secret.existingSecretName }
        : {}),
      encryptionKey: this.lake.key,
      ...('kmsKeyArn' in config.secret && config.secret.kmsKeyArn !== undefined
        ? { existingSecretKeyArn: config.secret.kmsKeyArn }
        : {}),
      removalPolicy,
    });

    this.exportFunctions = new ExportFunctions(this, 'Functions', {
      lake: this.lake,
      secret: this.secret.secret,
      secretId: this.secret.secretId,
      ...(this.secret.importedSecretKey === undefined ? {} : { secretKey: this.secret.importedSecretKey }),
      plutoApiUrl: config.plutoApiUrl,
      plutoConcurrency: config.plutoConcurrency,
      ...(config.exportSlotReservedConcurrency === undefined
        ? {}
        : { exportSlotReservedConcurrency: config.exportSlotReservedConcurrency }),
      rowsPerPart: config.rowsPerPart,
      supersededRunGraceDays: config.supersededRunGraceDays,
      pageSize: config.pageSize,
      rowGroupRows: config.rowGroupRows,
      prefetchPages: config.prefetchPages,
      copyFileTypes: config.copyFileTypes,
      maxFileBytes: config.maxFileBytes,
      resultsSource: config.resultsSource,
      maxRowsPerDataset: config.maxRowsPerDataset,
      maxSlotsPerExperiment: config.maxSlotsPerExperiment,
      maxExperimentsPerRun: config.maxExperimentsPerRun,
      maxListPages: config.maxListPages,
      maxResponseMiB: config.maxResponseMiB,
      removalPolicy,
    });

    const concurrency = mapConcurrency(config.plutoConcurrency);
    this.workflow = new ExportWorkflow(this, 'Workflow', {
      functions: this.exportFunctions.functions,
      lakeBucket: this.lake.bucket,
      lakePrefix: config.prefix,
      experimentConcurrency: concurrency.experiments,
      slotConcurrency: concurrency.slots,
      toleratedFailurePercentage: config.toleratedFailurePercentage,
    });
    // The ItemReaders read the item and slot lists, which are encrypted with the lake's key.
    this.lake.bucketKey?.grantDecrypt(this.workflow.stateMachine);

    this.runGuard = new RunGuard(this, 'RunGuard', {
      stateMachine: this.workflow.stateMachine,
      handler: this.exportFunctions.endFailedRun,
    });

    this.schedule = new ExportSchedule(this, 'Schedule', {
      stateMachine: this.workflow.stateMachine,
      expression: config.scheduleExpression,
      missingExperiments: config.missingExperiments,
      ...(config.fullRunScheduleExpression === undefined
        ? {}
        : { fullRunExpression: config.fullRunScheduleExpression }),
      ...(config.projectIds === undefined ? {} : { projectIds: config.projectIds }),
      ...(config.experimentIds === undefined ? {} : { experimentIds: config.experimentIds }),
    });

    this.monitoring = new ExportMonitoring(this, 'Monitoring', {
      stateMachine: this.workflow.stateMachine,
      functions: this.exportFunctions.functions,
      serviceName: this.exportFunctions.serviceName,
      encryptionKey: this.lake.key,
      scheduleGroup: this.schedule.group,
      ...(config.alarmEmail === undefined ? {} : { alarmEmail: config.alarmEmail }),
    });

    const outputs: Record<string, [string, string]> = {
      LakeBucketName: [this.lake.bucket.bucketName, 'The lake bucket'],
      LakeRoot: [this.lake.s3Url(''), 'The lake root (data/, runs/)'],
      PlutoTokenSecretId: [
        this.secret.secretId,
        'aws secretsmanager put-secret-value --secret-id <this> --secret-string <Pluto API token>',
      ],
      StateMachineArn: [
        this.workflow.stateMachine.stateMachineArn,
        'aws stepfunctions start-execution --state-machine-arn <this> --input \'{"runId":"manual-1"}\'',
      ],
      GlueDatabase: [this.lake.databaseName, 'Glue database of the tables'],
      AthenaWorkgroup: [this.lake.workgroup.ref, 'Athena workgroup for queries of the lake'],
      AlarmTopicArn: [this.monitoring.topic.topicArn, 'SNS topic of the alarms'],
      DashboardName: [this.monitoring.dashboard.dashboardName, 'CloudWatch dashboard of the runs'],
    };
    for (const [name, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, name, { value, description });
    }

    acknowledgeWildcards(this.exportFunctions, FUNCTION_WILDCARDS);
    acknowledgeWildcards(this.workflow, WORKFLOW_WILDCARDS);
  }
}
