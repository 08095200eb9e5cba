/**
 * The Pluto API token in Secrets Manager: created empty, for
 * `aws secretsmanager put-secret-value --secret-id <id> --secret-string <token>`, or an existing one.
 */
import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
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
   * ARN of the customer managed key an existing secret is encrypted with; readers may decrypt with it.
   * @default - the existing secret uses the AWS managed key aws/secretsmanager
   */
  readonly existingSecretKeyArn?: string;
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
  /** The customer managed key of an imported secret, which its readers must be allowed to decrypt with. */
  readonly importedSecretKey: kms.IKey | undefined;
  /** What GetSecretValue takes: the ARN, or the name of a secret imported by name. */
  readonly secretId: string;

  constructor(scope: Construct, id: string, props: PlutoSecretProps = {}) {
    super(scope, id);
    if (props.existingSecretArn !== undefined && props.existingSecretName !== undefined) {
      throw new Error('PlutoSecret: give existingSecretArn or existingSecretName, not both');
    }
    this.importedSecretKey =
      props.existingSecretKeyArn === undefined
        ? undefined
        : kms.Key.fromKeyArn(this, 'ExistingSecretKey', props.existingSecretKeyArn);
    const encryptionKey =
      this.importedSecretKey === undefined ? {} : { encryptionKey: this.importedSecretKey };
    if (props.existingSecretArn !== undefined) {
      const arn = props.existingSecretArn;
      this.secret = secretsmanager.Secret.fromSecretAttributes(this, 'Secret', {
        ...(COMPLETE_ARN.test(arn) ? { secretCompleteArn: arn } : { secretPartialArn: arn }),
        ...encryptionKey,
      });
      this.secretId = arn;
      return;
    }
    if (props.existingSecretName !== undefined) {
      const name = props.existingSecretName;
      this.secret =
        props.existingSecretKeyArn === undefined
          ? secretsmanager.Secret.fromSecretNameV2(this, 'Secret', name)
          : secretsmanager.Secret.fromSecretAttributes(this, 'Secret', {
              // A name is a partial ARN: Secrets Manager appends six characters to it in the complete one.
              secretPartialArn: Stack.of(this).formatArn({
                service: 'secretsmanager',
                resource: 'secret',
                resourceName: name,
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              }),
              ...encryptionKey,
            });
      this.secretId = name;
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
