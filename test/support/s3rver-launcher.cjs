// s3rver 3.7.1 needs the OpenSSL legacy provider on Node >= 17, so it runs in its own process:
// `node --openssl-legacy-provider s3rver-launcher.cjs <directory> <bucket>...`. It prints
// `{"port":N}` once listening and exits when its parent closes stdin.
const S3rver = require('s3rver');

const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});

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
