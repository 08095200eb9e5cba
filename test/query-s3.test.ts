import { describe, expect, it } from 'vitest';
import { s3SecretSql } from '../functions/adapters/duckdb-lake.js';
import { runCli } from './support/cli.js';

describe('query --lake s3://', () => {
  // This machine has neither DuckDB's httpfs extension nor the network to download it.
  it('without httpfs, exits 2 with one line naming the limitation and the way around it', async () => {
    const result = await runCli(['query', '--lake', 's3://acme-lake/exports', 'select count(*) from assay'], {
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'example-secret',
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'pluto-export: s3://acme-lake/exports/: DuckDB cannot read S3 here: its httpfs extension is not ' +
        'installed and could not be downloaded; copy the lake to a folder ' +
        '(aws s3 sync s3://acme-lake/exports/ ./lake) and query that\n',
    );
  });

  it('rejects a malformed S3 location naming --lake', async () => {
    const result = await runCli(['query', '--lake', 's3://Bad_Bucket', 'select 1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'pluto-export: --lake s3://Bad_Bucket: expected s3://bucket or s3://bucket/prefix\n',
    );
  });

  it('reads credentials, region and a custom endpoint from the standard AWS environment', () => {
    expect(
      s3SecretSql({
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: "se'cret",
        AWS_SESSION_TOKEN: 'token',
        AWS_DEFAULT_REGION: 'us-east-2',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4568',
      }),
    ).toBe(
      "CREATE SECRET lake_s3 (TYPE s3, KEY_ID 'AKIDEXAMPLE', SECRET 'se''cret', SESSION_TOKEN 'token', " +
        "REGION 'us-east-2', ENDPOINT '127.0.0.1:4568', USE_SSL false, URL_STYLE 'path')",
    );
    expect(s3SecretSql({ AWS_REGION: 'eu-west-1' })).toBe(
      "CREATE SECRET lake_s3 (TYPE s3, PROVIDER credential_chain, REGION 'eu-west-1')",
    );
  });
});
