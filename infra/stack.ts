/**
 * The deployment (SPEC §7), minimal for now: the lake bucket, the Pluto token secret, one Lambda
 * function per workflow step and the export state machine.
 */
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { STATE_NAMES } from '../functions/core/workflow/messages.js';
import { ExportWorkflow, type WorkflowStep } from './workflow.js';

export interface PlutoExportStackProps extends StackProps {
  /**
   * Key prefix of the lake root in the bucket.
   * @default '' (the bucket root)
   */
  readonly lakePrefix?: string;
  /**
   * Base URL of the Pluto API.
   * @default 'https://api.pluto.bio/'
   */
  readonly plutoApiUrl?: string;
}

/** The handler file of each step, under `functions/handlers/`; each exports `handler`. */
const HANDLER_FILES: Readonly<Record<WorkflowStep, string>> = {
  startRun: 'start-run.ts',
  planExperiment: 'plan-experiment.ts',
  exportSlot: 'export-slot.ts',
  commitExperiment: 'commit-experiment.ts',
  recordExperimentFailure: 'record-experiment-failure.ts',
  finalizeRun: 'finalize-run.ts',
};

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export class PlutoExportStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly secret: secretsmanager.Secret;
  readonly functions: Readonly<Record<WorkflowStep, NodejsFunction>>;
  readonly workflow: ExportWorkflow;

  constructor(scope: Construct, id: string, props: PlutoExportStackProps = {}) {
    super(scope, id, props);
    const lakePrefix = props.lakePrefix ?? '';

    this.bucket = new s3.Bucket(this, 'Lake', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.secret = new secretsmanager.Secret(this, 'PlutoApiToken', {
      description:
        'Pluto API token of the export user: aws secretsmanager put-secret-value --secret-string <token>',
    });
    // Created without a value: a generated string would only ever be a wrong token.
    (this.secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride(
      'GenerateSecretString',
    );

    const environment = {
      LAKE_BUCKET: this.bucket.bucketName,
      LAKE_PREFIX: lakePrefix,
      PLUTO_API_URL: props.plutoApiUrl ?? 'https://api.pluto.bio/',
      PLUTO_SECRET_ARN: this.secret.secretArn,
    };
    const functions = {} as Record<WorkflowStep, NodejsFunction>;
    for (const [step, file] of Object.entries(HANDLER_FILES) as [WorkflowStep, string][]) {
      const fn = new NodejsFunction(this, `${STATE_NAMES[step]}Function`, {
        entry: fileURLToPath(new URL(`../functions/handlers/${file}`, import.meta.url)),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: fileURLToPath(new URL('../package-lock.json', import.meta.url)),
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: 1024,
        timeout: Duration.minutes(15),
        environment,
        bundling: {
          format: OutputFormat.ESM,
          target: 'node22',
          sourceMap: true,
          mainFields: ['module', 'main'],
          // Bundled CommonJS dependencies still call require().
          banner:
            "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        },
      });
      this.bucket.grantReadWrite(fn);
      this.secret.grantRead(fn);
      functions[step] = fn;
    }
    this.functions = functions;

    // The ItemReaders grant the state machine s3:GetObject on the bucket.
    this.workflow = new ExportWorkflow(this, 'Workflow', {
      functions,
      lakeBucket: this.bucket,
      lakePrefix,
    });
  }
}
