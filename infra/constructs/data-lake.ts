/**
 * The lake (design.md, Lake contract): the bucket, its encryption key and access-log bucket, the Glue database with
 * one table per contract table, and the Athena workgroup that queries them.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { TABLE_NAMES, type TableName } from '../../functions/core/contract.js';
import { glueTableInput } from '../../functions/core/glue-schema.js';
import type { ExampleQuery } from '../example-queries.js';

export const ATHENA_ENGINE_VERSION = 'Athena engine version 3';

export interface DataLakeProps {
  /**
   * Name of an existing bucket to export into; the stack then neither configures nor deletes it.
   * @default - a new bucket: SSL only, public access blocked, SSE-KMS, versioned, access-logged
   */
  readonly existingBucketName?: string;
  /**
   * ARN of the KMS key of the existing bucket's default encryption, when it uses one.
   * @default - the existing bucket uses S3-managed keys (ignored for a new bucket)
   */
  readonly existingBucketKeyArn?: string;
  /**
   * Key prefix of the lake root: '' or a folder path ending with '/'.
   * @default ''
   */
  readonly prefix?: string;
  /**
   * Name of the Glue database holding the tables.
   * @default 'pluto'
   */
  readonly databaseName?: string;
  /**
   * How long a replaced or deleted object version is kept before it expires; Athena query results
   * (`<prefix>athena-results/`) expire after the same time.
   * @default Duration.days(30)
   */
  readonly noncurrentVersionRetention?: Duration;
  /**
   * How long server access logs are kept.
   * @default Duration.days(365)
   */
  readonly accessLogRetention?: Duration;
  /**
   * What a stack delete does to the buckets and the key (a bucket is only deleted when empty).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Name of the Athena workgroup.
   * @default 'pluto-export-<databaseName>'
   */
  readonly workgroupName?: string;
  /**
   * Athena cancels a query of the workgroup after scanning this many bytes.
   * @default 100 GB
   */
  readonly bytesScannedCutoffPerQuery?: number;
  /**
   * Saved in the workgroup as named queries, so that the Athena console lists them.
   * @default - none
   */
  readonly namedQueries?: readonly ExampleQuery[];
}

const GIGABYTE = 1024 ** 3;

export class DataLake extends Construct {
  /** Encrypts the new bucket, Athena results, the secret and the alarm topic; rotated yearly. */
  readonly key: kms.Key;
  readonly bucket: s3.IBucket;
  /** The key objects in `bucket` are encrypted with, when it is not S3-managed. */
  readonly bucketKey: kms.IKey | undefined;
  /** Receives the new bucket's server access logs; absent for an existing bucket. */
  readonly accessLogsBucket: s3.Bucket | undefined;
  readonly prefix: string;
  readonly databaseName: string;
  readonly database: glue.CfnDatabase;
  readonly tables: Readonly<Record<TableName, glue.CfnTable>>;
  readonly workgroup: athena.CfnWorkGroup;
  /** Where Athena writes query results: `<prefix>athena-results/` in the lake bucket. */
  readonly athenaResultsPrefix: string;

  constructor(scope: Construct, id: string, props: DataLakeProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.prefix = props.prefix ?? '';
    this.databaseName = props.databaseName ?? 'pluto';
    this.athenaResultsPrefix = `${this.prefix}athena-results/`;

    // Access-log delivery authorised by a bucket policy rather than the legacy log-delivery ACL.
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    this.key = new kms.Key(this, 'Key', {
      description: 'pluto-export: the lake, its Athena results, the Pluto token and the alarm topic',
      enableKeyRotation: true,
      removalPolicy,
    });

    if (props.existingBucketName === undefined) {
      this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        // Server access log delivery writes only to buckets with S3-managed encryption.
        encryption: s3.BucketEncryption.S3_MANAGED,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ expiration: props.accessLogRetention ?? Duration.days(365) }],
        removalPolicy,
      });
      Validations.of(this.accessLogsBucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'This is the access-log bucket of the lake; logging it into itself would log its own log writes',
      });
      const lake = new s3.Bucket(this, 'Bucket', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        versioned: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: 'lake/',
        lifecycleRules: [
          {
            // A killed writer's parts stay billed until the upload is aborted; no upload of a
            // function (15 minutes at most) or of a local export is still going a day later.
            id: 'abort-incomplete-multipart-uploads',
            abortIncompleteMultipartUploadAfter: Duration.days(1),
          },
          {
            id: 'expire-old-versions',
            noncurrentVersionExpiration: props.noncurrentVersionRetention ?? Duration.days(30),
            expiredObjectDeleteMarker: true,
          },
          {
            id: 'expire-athena-results',
            prefix: this.athenaResultsPrefix,
            expiration: props.noncurrentVersionRetention ?? Duration.days(30),
          },
        ],
        removalPolicy,
      });
      this.bucket = lake;
      this.bucketKey = this.key;
    } else {
      this.accessLogsBucket = undefined;
      this.bucketKey =
        props.existingBucketKeyArn === undefined
          ? undefined
          : kms.Key.fromKeyArn(this, 'ExistingBucketKey', props.existingBucketKeyArn);
      this.bucket = s3.Bucket.fromBucketAttributes(this, 'Bucket', {
        bucketName: props.existingBucketName,
        ...(this.bucketKey === undefined ? {} : { encryptionKey: this.bucketKey }),
      });
    }

    const stack = Stack.of(this);
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description:
          'Pluto (pluto.bio) experiments exported by pluto-export; partitions are written by each run',
        locationUri: this.s3Url('data/'),
      },
    });

    const tables = {} as Record<TableName, glue.CfnTable>;
    for (const name of TABLE_NAMES) {
      // The same table input the Glue catalog adapter derives its partitions from.
      const table = new glue.CfnTable(this, `Table-${name}`, {
        catalogId: stack.account,
        databaseName: this.databaseName,
        tableInput: glueTableInput(name, this.bucket.bucketName, this.prefix),
      });
      table.node.addDependency(this.database);
      tables[name] = table;
    }
    this.tables = tables;

    this.workgroup = new athena.CfnWorkGroup(this, 'Workgroup', {
      name: props.workgroupName ?? `pluto-export-${this.databaseName}`,
      description: `Queries of the Glue database ${this.databaseName}`,
      state: 'ENABLED',
      recursiveDeleteOption: removalPolicy === RemovalPolicy.DESTROY,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? 100 * GIGABYTE,
        engineVersion: { selectedEngineVersion: ATHENA_ENGINE_VERSION },
        resultConfiguration: {
          outputLocation: this.s3Url('athena-results/'),
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: this.key.keyArn },
          aclConfiguration: { s3AclOption: 'BUCKET_OWNER_FULL_CONTROL' },
        },
      },
    });
    for (const [i, query] of (props.namedQueries ?? []).entries()) {
      const named = new athena.CfnNamedQuery(this, `Query${i + 1}`, {
        name: query.name,
        database: this.databaseName,
        queryString: query.sql,
        workGroup: this.workgroup.ref,
      });
      named.node.addDependency(this.database);
    }
  }

  /** `s3://bucket/<prefix><path>`. */
  s3Url(path: string): string {
    return `s3://${this.bucket.bucketName}/${this.prefix}${path}`;
  }

  /** ARN of the objects under `<prefix><pattern>`, for IAM. */
  objectsArn(pattern: string): string {
    return this.bucket.arnForObjects(`${this.prefix}${pattern}`);
  }

  /** The Glue catalog, database and table ARNs IAM needs to act on these tables' partitions. */
  glueArns(tableNames: readonly TableName[]): string[] {
    const stack = Stack.of(this);
    return [
      stack.formatArn({ service: 'glue', resource: 'catalog' }),
      stack.formatArn({ service: 'glue', resource: 'database', resourceName: this.databaseName }),
      ...tableNames.map((table) =>
        stack.formatArn({
          service: 'glue',
          resource: 'table',
          resourceName: `${this.databaseName}/${table}`,
        }),
      ),
    ];
  }
}
