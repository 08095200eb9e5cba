/**
 * The state-machine definition the local runner executes, synthesized from the same
 * `ExportWorkflow` construct the stack deploys, with imported functions (no bundling). Building a
 * CDK app costs more than a second at start-up, so `npm run definition` writes the result to
 * `functions/local/workflow-definition.json` once, and a test keeps that file equal to this.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { STEP_NAMES, WORKFLOW_STEPS, type WorkflowStep } from '../functions/core/workflow/messages.js';
import { ExportWorkflow } from './workflow.js';

const LOCAL_ACCOUNT = '000000000000';
const LOCAL_REGION = 'us-east-1';
const PSEUDO_PARAMETERS: Readonly<Record<string, string>> = {
  'AWS::Partition': 'aws',
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

/** Each Task's Resource names its function as `function:<StateName>`, which the local runner maps to a step. */
export function synthesizeLocalDefinition(): object {
  const outdir = mkdtempSync(join(tmpdir(), 'pluto-export-asl-'));
  try {
    // Only the ASL is wanted: CloudFormation schema validation of this throwaway template costs seconds.
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'PlutoExportLocalWorkflow', {
      env: { account: LOCAL_ACCOUNT, region: LOCAL_REGION },
    });
    const functions = Object.fromEntries(
      WORKFLOW_STEPS.map((step) => {
        const name = STEP_NAMES[step];
        const arn = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`;
        return [step, lambda.Function.fromFunctionArn(stack, name, arn)];
      }),
    ) as Record<WorkflowStep, lambda.IFunction>;
    const workflow = new ExportWorkflow(stack, 'Workflow', {
      functions,
      lakeBucket: s3.Bucket.fromBucketName(stack, 'Lake', 'local-lake'),
    });
    const template = app.synth().getStackArtifact(stack.artifactId).template as {
      Resources: Record<string, { Properties?: { DefinitionString?: unknown } }>;
    };
    const logicalId = stack.getLogicalId(workflow.stateMachine.node.defaultChild as CfnStateMachine);
    return JSON.parse(
      resolveIntrinsics(template.Resources[logicalId]?.Properties?.DefinitionString),
    ) as object;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function resolveIntrinsics(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const join = (value as { 'Fn::Join'?: unknown })['Fn::Join'];
    if (Array.isArray(join) && join.length === 2 && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map(resolveIntrinsics).join(join[0]);
    }
    const ref = (value as { Ref?: unknown }).Ref;
    if (typeof ref === 'string' && PSEUDO_PARAMETERS[ref] !== undefined) return PSEUDO_PARAMETERS[ref];
  }
  throw new Error(
    `the local workflow definition holds an intrinsic it cannot resolve: ${JSON.stringify(value)}`,
  );
}
