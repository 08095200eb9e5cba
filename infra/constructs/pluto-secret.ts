/**
 * The Pluto API token in Secrets Manager: created empty, for
 * `aws secretsmanager put-secret-value --secret-id <id> --secret-string <token>`, or an existing one.
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface PlutoSecretProps {
  /**
   * ARN of an existing secret holding the token.
   * @default - a new secret, unless existingSecretName is given
   */
  readonly existingSecretArn?: string;
  /**
   * Name of an existing secret holding the token.
   * @default - a new secret, unless existingSecretArn is given
   */
  readonly existingSecretName?: string;
  /**
   * Encrypts a new secret.
   * @default - the AWS managed key aws/secretsmanager
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * What a stack delete does to a new secret.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Secrets Manager appends six characters to the name in a secret's complete ARN. */
const COMPLETE_ARN = /:secret:.+-[A-Za-z0-9]{6}$/;

export class PlutoSecret extends Construct {
  readonly secret: secretsmanager.ISecret;
  /** What GetSecretValue takes: the ARN, or the name of a secret imported by name. */
  readonly secretId: string;

  constructor(scope: Construct, id: string, props: PlutoSecretProps = {}) {
    super(scope, id);
    if (props.existingSecretArn !== undefined && props.existingSecretName !== undefined) {
      throw new Error('PlutoSecret: give existingSecretArn or existingSecretName, not both');
    }
    if (props.existingSecretArn !== undefined) {
      const arn = props.existingSecretArn;
      this.secret = secretsmanager.Secret.fromSecretAttributes(
        this,
        'Secret',
        COMPLETE_ARN.test(arn) ? { secretCompleteArn: arn } : { secretPartialArn: arn },
      );
      this.secretId = arn;
      return;
    }
    if (props.existingSecretName !== undefined) {
      this.secret = secretsmanager.Secret.fromSecretNameV2(this, 'Secret', props.existingSecretName);
      this.secretId = props.existingSecretName;
      return;
    }
    const secret = new secretsmanager.Secret(this, 'Secret', {
      description:
        'Pluto API token of the export user: aws secretsmanager put-secret-value --secret-id <this> --secret-string <token>',
      ...(props.encryptionKey === undefined ? {} : { encryptionKey: props.encryptionKey }),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    // Created without a value: a generated string would only ever be a wrong token.
    (secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride(
      'GenerateSecretString',
    );
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Pluto issues the API token in its web app and offers no API to rotate it, so no rotation Lambda can; the owner puts a new value with put-secret-value',
    });
    this.secret = secret;
    this.secretId = secret.secretArn;
  }
}
