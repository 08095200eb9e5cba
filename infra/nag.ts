/**
 * The cdk-nag (AwsSolutions) findings this stack acknowledges, each with its reason. Every other
 * finding fails `cdk synth`. Wildcards in IAM policies are acknowledged one finding at a time, and
 * only when a rule below explains that exact resource or action; a new wildcard stays an error.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

export interface WildcardRule {
  /** Matches the finding, e.g. `Resource::<LakeBucket.Arn>/runs/*` or `Action::s3:List*`. */
  readonly finding: RegExp;
  /** For a `Resource::` finding: it is acknowledged only when the wildcard grants no other action. */
  readonly onlyActions?: readonly string[];
  readonly reason: string;
}

interface PolicyStatementJson {
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** The AwsSolutions-IAM5 findings of a policy, as cdk-nag names them. */
export function wildcardFindings(policy: iam.CfnPolicy): { finding: string; actions: string[] }[] {
  const document = Stack.of(policy).resolve(policy.policyDocument) as { Statement?: PolicyStatementJson[] };
  const findings = new Map<string, string[]>();
  for (const statement of document.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    const actions = list(statement.Action);
    for (const action of actions.filter((a) => a.includes('*'))) findings.set(`Action::${action}`, []);
    for (const resource of list(statement.Resource).map(flattenCfnReference)) {
      if (!resource.includes('*')) continue;
      const key = `Resource::${resource}`;
      findings.set(key, [...(findings.get(key) ?? []), ...actions]);
    }
  }
  return [...findings].map(([finding, actions]) => ({ finding, actions }));
}

/** Acknowledges each wildcard finding under `scope` that a rule explains; returns what it acknowledged. */
export function acknowledgeWildcards(scope: IConstruct, rules: readonly WildcardRule[]): string[] {
  const acknowledged: string[] = [];
  for (const node of scope.node.findAll()) {
    if (!(node instanceof iam.CfnPolicy)) continue;
    for (const { finding, actions } of wildcardFindings(node)) {
      const rule = rules.find(
        (r) =>
          r.finding.test(finding) &&
          (r.onlyActions === undefined || actions.every((action) => r.onlyActions?.includes(action))),
      );
      if (rule === undefined) continue;
      const id = `AwsSolutions-IAM5[${finding}]`;
      Validations.of(node).acknowledge({ id, reason: rule.reason });
      acknowledged.push(`${node.node.path} ${id}`);
    }
  }
  return acknowledged;
}

const OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'];

/** The function roles: per-prefix object access, whose keys hold ids known only at run time. */
export const FUNCTION_WILDCARDS: readonly WildcardRule[] = [
  {
    finding: /^Resource::.+\/runs\/\*\/.+$/,
    onlyActions: OBJECT_ACTIONS,
    reason:
      'Run bookkeeping keys are runs/<run id>/... (functions/core/layout.ts), the run and experiment ids being known only at run time; each wildcard stands for such an id within the lake prefix',
  },
  {
    finding: /^Resource::.+\/files\/\*$/,
    onlyActions: OBJECT_ACTIONS,
    reason:
      "Copied files are files/experiment_id=<id>/<file uuid>/<name>, the ids and names known only at run time; the wildcard stays within the lake prefix's files/ folder",
  },
  {
    finding: /^Resource::.+\/data\/[a-z_]+\/(experiment_id|project_id|run_id)=\*\/\*$/,
    onlyActions: OBJECT_ACTIONS,
    reason:
      "Parquet parts are data/<table>/<partition key>=<id>/run_id=<run>/..., the ids being known only at run time; each wildcard stays within one named table's folder under the lake prefix",
  },
];

/** The state machine role, as CDK's Step Functions constructs grant it. */
export const WORKFLOW_WILDCARDS: readonly WildcardRule[] = [
  {
    finding: /^Resource::<[A-Za-z0-9]+\.Arn>:\*$/,
    onlyActions: ['lambda:InvokeFunction'],
    reason:
      "LambdaInvoke allows invoking the step's function and its versions and aliases (<function arn>:*); only this stack's export functions are named",
  },
  {
    finding: /^Resource::\*$/,
    onlyActions: [
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
    ],
    reason:
      'X-Ray trace submission and CloudWatch Logs vended log delivery (state machine logging) support no resource-level permissions',
  },
  {
    finding: /^Resource::.+\/runs\/\*\/\*$/,
    onlyActions: ['s3:GetObject'],
    reason:
      'The Distributed Map ItemReaders read lists a run writes under runs/<run id>/ (items.json, plans/<id>/slots.json), the ids being known only at run time; nothing outside the run records',
  },
  {
    finding: /^Resource::arn:<AWS::Partition>:states:.+:execution:.+(:|\/)\*$/,
    onlyActions: ['states:DescribeExecution', 'states:StopExecution', 'states:RedriveExecution'],
    reason:
      'A Distributed Map describes and stops its own child executions, whose names Step Functions generates at run time',
  },
];
