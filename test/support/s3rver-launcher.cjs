// s3rver 3.7.1 needs the OpenSSL legacy provider on Node >= 17, so it runs in its own process:
// `node --openssl-legacy-provider s3rver-launcher.cjs <directory> [--conditional-writes] <bucket>...`.
// It prints `{"port":N}` once listening and exits when its parent closes stdin.
const S3rver = require('s3rver');

const args = process.argv.slice(2);
const directory = args[0];
const conditionalWrites = args.includes('--conditional-writes');
const buckets = args.slice(1).filter((arg) => arg !== '--conditional-writes');
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});

// s3rver ignores If-None-Match on writes. Amazon S3 answers 412 PreconditionFailed to a PutObject or
// CompleteMultipartUpload carrying `If-None-Match: *` when the key exists (S3 User Guide,
// "conditional writes"). This models that, checked when the request arrives: S3 checks at the
// moment of the write, which differs only for two writers racing on one key.
async function refuseTakenKeys(ctx, next) {
  const condition = ctx.get('if-none-match');
  const isPut =
    ctx.method === 'PUT' && ctx.query.partNumber === undefined && ctx.query.uploadId === undefined;
  const isComplete = ctx.method === 'POST' && ctx.query.uploadId !== undefined;
  const [, bucket, ...key] = ctx.path.split('/');
  if (condition === '*' && (isPut || isComplete) && key.length > 0) {
    const name = key.map(decodeURIComponent).join('/');
    if (await ctx.app.store.existsObject(bucket, name)) {
      for await (const _ of ctx.req) {
        // The request body is read to its end before the answer, as S3 does.
      }
      ctx.status = 412;
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>' +
        '<Message>At least one of the pre-conditions you specified did not hold</Message>' +
        `<Condition>If-None-Match</Condition><Key>${name}</Key></Error>`;
      return;
    }
  }
  await next();
}
if (conditionalWrites) server.middleware.unshift(refuseTakenKeys);

server.run((error, address) => {
  if (error) {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
