#!/usr/bin/env node
// An S3-compatible server for cameo's integration tests (tests/integration/
// test_s3.py): s3rver on a loopback port, with one key pair of the test's
// choosing (the built-in S3RVER pair is revoked, so any other credentials
// are refused) and the buckets it names. s3rver checks SigV4 signatures of
// header-signed and presigned requests and the expiry of presigned URLs.
//
// usage: node s3rver.js --dir DIR --port PORT --access-key AK --secret-key SK [--bucket NAME]...
// Prints "READY <port>" on stdout once it listens; stops on SIGTERM/SIGINT.
'use strict';

const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');

function parse(argv) {
  const o = { buckets: [], port: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k}: missing value`);
    if (k === '--dir') o.dir = v;
    else if (k === '--port') o.port = Number(v);
    else if (k === '--access-key') o.accessKey = v;
    else if (k === '--secret-key') o.secretKey = v;
    else if (k === '--bucket') o.buckets.push(v);
    else throw new Error(`${k}: unknown flag`);
  }
  if (!o.dir || !o.accessKey || !o.secretKey) throw new Error('--dir, --access-key and --secret-key are required');
  return o;
}

const o = parse(process.argv.slice(2));
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(o.accessKey, o.secretKey);

const server = new S3rver({
  address: '127.0.0.1',
  port: o.port,
  directory: o.dir,
  silent: true,
  configureBuckets: o.buckets.map((name) => ({ name, configs: [] })),
});

server.run().then(
  (addr) => process.stdout.write(`READY ${addr.port}\n`),
  (err) => {
    process.stderr.write(`s3rver: ${err.message}\n`);
    process.exit(1);
  },
);

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close().then(() => process.exit(0), () => process.exit(0)));
}
