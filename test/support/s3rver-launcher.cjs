// s3rver 3.7.1 needs the OpenSSL legacy provider on Node >= 17, so it runs in its own process:
// `node --openssl-legacy-provider s3rver-launcher.cjs <directory> [--conditional-writes]
// [--if-match-missing=412] <bucket>...`. It prints `{"port":N}` once listening and exits when its
// parent closes stdin.
const S3rver = require('s3rver');

const args = process.argv.slice(2);
const directory = args[0];
const conditionalWrites = args.includes('--conditional-writes');
const ifMatchMissingStatus = args.includes('--if-match-missing=412') ? 412 : 404;
const buckets = args.slice(1).filter((arg) => !arg.startsWith('--'));
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});

// s3rver ignores If-None-Match and If-Match on writes. Amazon S3 (User Guide, "conditional writes"
// and "conditional deletes"):
// - PutObject or CompleteMultipartUpload with `If-None-Match: *` on a key that exists: 412
//   PreconditionFailed;
// - PutObject, CompleteMultipartUpload or DeleteObject with `If-Match: <etag>` when the object has
//   another ETag: 412 PreconditionFailed; when there is no object: 404 NoSuchKey (documented for
//   writes and measured for deletes). Some S3-compatible stores answer 412 there instead:
//   `--if-match-missing=412` models them.
// S3 checks the condition at the moment of the write, atomically. Here every request on one key
// waits for the one before it to be answered, so the check and the write cannot be separated
// by another request, and a read sees the ETag and the bytes of one write.
const keyQueues = new Map();

function objectOf(ctx) {
  const [, bucket, ...key] = ctx.path.split('/');
  if (bucket === undefined || bucket === '' || key.length === 0 || key.join('/') === '') return undefined;
  return { bucket, name: key.map(decodeURIComponent).join('/') };
}

async function oneRequestPerKey(ctx, next) {
  const object = objectOf(ctx);
  if (object === undefined) return next();
  const id = `${object.bucket}/${object.name}`;
  const before = keyQueues.get(id) ?? Promise.resolve();
  let release;
  const answered = new Promise((resolve) => {
    release = resolve;
  });
  const tail = before.then(() => answered);
  keyQueues.set(id, tail);
  const done = () => {
    release();
    if (keyQueues.get(id) === tail) keyQueues.delete(id);
  };
  // The body of a read is streamed after the middleware returns: the key is free once it is sent.
  ctx.res.once('finish', done);
  ctx.res.once('close', done);
  await before;
  await checkConditions(ctx, next, object);
}

async function checkConditions(ctx, next, object) {
  const isPut =
    ctx.method === 'PUT' && ctx.query.partNumber === undefined && ctx.query.uploadId === undefined;
  const isComplete = ctx.method === 'POST' && ctx.query.uploadId !== undefined;
  const isDelete = ctx.method === 'DELETE' && ctx.query.uploadId === undefined;
  const ifNoneMatch = ctx.get('if-none-match');
  const ifMatch = ctx.get('if-match');
  if ((isPut || isComplete) && ifNoneMatch === '*') {
    if (await ctx.app.store.existsObject(object.bucket, object.name)) {
      return refuse(ctx, 412, 'PreconditionFailed', object.name, 'If-None-Match');
    }
  } else if ((isPut || isComplete || isDelete) && ifMatch !== '') {
    const etag = await currentEtag(ctx, object);
    if (etag === undefined) {
      return ifMatchMissingStatus === 404
        ? refuse(ctx, 404, 'NoSuchKey', object.name)
        : refuse(ctx, 412, 'PreconditionFailed', object.name, 'If-Match');
    }
    if (ifMatch !== '*' && unquote(ifMatch) !== unquote(etag)) {
      return refuse(ctx, 412, 'PreconditionFailed', object.name, 'If-Match');
    }
  }
  await next();
}

async function currentEtag(ctx, object) {
  try {
    return (await ctx.app.store.getMetadata(object.bucket, object.name)).etag;
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
}

const unquote = (etag) => etag.replace(/^"|"$/g, '');

const MESSAGES = {
  PreconditionFailed: 'At least one of the pre-conditions you specified did not hold',
  NoSuchKey: 'The specified key does not exist.',
};

async function refuse(ctx, status, code, key, condition) {
  for await (const _ of ctx.req) {
    // The request body is read to its end before the answer, as S3 does.
  }
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${MESSAGES[code]}</Message>` +
    `${condition === undefined ? '' : `<Condition>${condition}</Condition>`}<Key>${key}</Key></Error>`;
}
if (conditionalWrites) server.middleware.unshift(oneRequestPerKey);

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
