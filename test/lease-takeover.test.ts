import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimFileName, FolderStore } from '../functions/adapters/folder-store.js';
import { S3Store } from '../functions/adapters/s3-store.js';
import { StoreError } from '../functions/core/errors.js';
import { LEASE_KEY } from '../functions/core/layout.js';
import { acquireLease, type LeaseOutcome, readLease, releaseLease } from '../functions/core/lease.js';
import type { ObjectStore } from '../functions/core/ports.js';
import { encodeJson } from '../functions/core/records.js';
import { MemoryStore } from './support/memory-store.js';
import { type RunningS3rver, startS3rver } from './support/s3rver.js';

const BUCKET = 'lease-lake';
const TTL_MS = 60_000;
const T0 = new Date('2026-06-01T00:00:00.000Z');
const LATER = new Date(T0.getTime() + 2 * TTL_MS);
const encode = (text: string) => new TextEncoder().encode(text);
const decode = (body: Uint8Array | undefined) =>
  body === undefined ? undefined : new TextDecoder().decode(body);

let root: string;
let s3rver: RunningS3rver;
let s3rverAnswering412: RunningS3rver;
let opened = 0;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'lease-takeover-'));
  [s3rver, s3rverAnswering412] = await Promise.all([
    startS3rver([BUCKET], { conditionalWrites: true }),
    startS3rver([BUCKET], { conditionalWrites: true, ifMatchMissingPreconditionFailed: true }),
  ]);
});
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  await Promise.all([s3rver.stop(), s3rverAnswering412.stop()]);
});

const STORES: { readonly name: string; open(): ObjectStore }[] = [
  { name: 'MemoryStore', open: () => new MemoryStore() },
  { name: 'FolderStore', open: () => new FolderStore(join(root, `lake-${opened++}`)) },
  {
    name: 'S3Store on s3rver',
    open: () => new S3Store({ bucket: BUCKET, prefix: `lake-${opened++}/` }, s3rver.client()),
  },
  {
    name: 'S3Store on s3rver answering If-Match on a missing key 412',
    open: () => new S3Store({ bucket: BUCKET, prefix: `lake-${opened++}/` }, s3rverAnswering412.client()),
  },
];

/** A lease as a run writes it; `expiresAt` after `acquiredAt` by the TTL. */
function leaseBody(runId: string, execution: string, at: Date, holder: { pid?: number; host?: string } = {}) {
  return encodeJson({
    runId,
    holder: { execution, startedAt: at.toISOString(), ...holder },
    acquiredAt: at.toISOString(),
    expiresAt: new Date(at.getTime() + TTL_MS).toISOString(),
  });
}

const request = (runId: string, execution: string, now = LATER) => ({
  runId,
  holder: { execution, startedAt: now.toISOString() },
  now,
  ttlMs: TTL_MS,
});

/**
 * The store as one run sees it: its first read of the lease is answered, then held until `goOn()`,
 * so a test decides when the run acts on what it read (the moment a race is lost or won).
 */
function heldAfterFirstLeaseRead(store: ObjectStore) {
  let reachedGate: () => void = () => undefined;
  let openGate: () => void = () => undefined;
  const read = new Promise<void>((resolve) => {
    reachedGate = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  let held = false;
  const view = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property !== 'get' && property !== 'getVersioned') return value.bind(target);
      return async (key: string) => {
        const found: unknown = await value.call(target, key);
        if (key === LEASE_KEY && !held) {
          held = true;
          reachedGate();
          await gate;
        }
        return found;
      };
    },
  });
  return { store: view, read, goOn: openGate };
}

const executionOf = (outcome: LeaseOutcome) =>
  outcome.acquired ? undefined : outcome.heldBy.holder?.execution;

describe.each(STORES)('lease on $name', ({ open }) => {
  it('two runs taking over one stale lease: exactly one holds it, in every order', async () => {
    const store = open();
    const orders = ['at once', 'first then second', 'second then first'] as const;
    const winners: string[] = [];
    for (let round = 0; round < 24; round++) {
      const order = orders[round % orders.length];
      await store.put(LEASE_KEY, leaseBody('run-dead', `dead-${round}`, T0));
      const first = heldAfterFirstLeaseRead(store);
      const second = heldAfterFirstLeaseRead(store);
      const firstOutcome = acquireLease(first.store, request('run-a', `a-${round}`));
      const secondOutcome = acquireLease(second.store, request('run-b', `b-${round}`));
      await Promise.all([first.read, second.read]);
      if (order === 'at once') {
        first.goOn();
        second.goOn();
      } else if (order === 'first then second') {
        first.goOn();
        await firstOutcome;
        second.goOn();
      } else {
        second.goOn();
        await secondOutcome;
        first.goOn();
      }
      const outcomes = await Promise.all([firstOutcome, secondOutcome]);
      const acquired = outcomes.filter((outcome) => outcome.acquired);
      expect(acquired, `round ${round} (${order})`).toHaveLength(1);
      const holder = (await readLease(store))?.holder?.execution;
      const winner = outcomes[0].acquired ? `a-${round}` : `b-${round}`;
      expect(holder, `round ${round}`).toBe(winner);
      expect(acquired[0]).toMatchObject({ tookOverFrom: { runId: 'run-dead' } });
      expect(outcomes.map(executionOf).filter((e) => e !== undefined)).toEqual([winner]);
      winners.push(winner.split('-')[0] ?? '');
      expect(await releaseLease(store, outcomes[0].acquired ? 'run-a' : 'run-b', winner)).toBe(true);
      expect(await readLease(store)).toBeUndefined();
    }
    // The runs released in order win in order: the orders were really played.
    expect(winners.filter((_, round) => orders[round % 3] === 'first then second')).toEqual(
      Array(8).fill('a'),
    );
    expect(winners.filter((_, round) => orders[round % 3] === 'second then first')).toEqual(
      Array(8).fill('b'),
    );
  });

  it('a run whose lease was taken over while it released does not delete its successor', async () => {
    const store = open();
    expect(await acquireLease(store, request('run-old', 'old', T0))).toEqual({ acquired: true });
    const old = heldAfterFirstLeaseRead(store);
    const releasing = releaseLease(old.store, 'run-old', 'old');
    await old.read;
    const takeover = await acquireLease(store, request('run-new', 'new'));
    expect(takeover).toMatchObject({ acquired: true, tookOverFrom: { runId: 'run-old' } });
    old.goOn();
    expect(await releasing).toBe(false);
    expect(await readLease(store)).toMatchObject({ runId: 'run-new', holder: { execution: 'new' } });
    expect(await releaseLease(store, 'run-old', 'old')).toBe(false);
    expect(await releaseLease(store, 'run-new', 'new')).toBe(true);
    expect(await readLease(store)).toBeUndefined();
  });

  it("a killed run's lease does not lock the lake: its process gone, or its time up", async () => {
    const store = open();
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    const here = { name: hostname(), isRunning: (pid: number) => pid !== deadPid };
    await store.put(LEASE_KEY, leaseBody('run-killed', 'killed', LATER, { pid: deadPid, host: hostname() }));
    expect(await acquireLease(store, { ...request('run-next', 'next'), host: here })).toMatchObject({
      acquired: true,
      tookOverFrom: { runId: 'run-killed', holder: { pid: deadPid } },
    });
    await store.put(LEASE_KEY, leaseBody('run-expired', 'expired', T0));
    expect(await acquireLease(store, request('run-after', 'after'))).toMatchObject({
      acquired: true,
      tookOverFrom: { runId: 'run-expired' },
    });
    expect(await readLease(store)).toMatchObject({ runId: 'run-after' });
    expect(await acquireLease(store, request('run-late', 'late'))).toMatchObject({
      acquired: false,
      heldBy: { runId: 'run-after' },
    });
  });

  it('replaces and deletes only at the version it read; a missing object has no version', async () => {
    const store = open();
    const key = 'runs/cas.json';
    expect(await store.deleteIfVersion('nowhere/cas.json', 'no-such-version')).toBe(false);
    expect(await store.getVersioned(key)).toBeUndefined();
    expect(await store.replaceIfVersion(key, encode('never'), 'no-such-version')).toBe(false);
    expect(await store.deleteIfVersion(key, 'no-such-version')).toBe(false);
    expect(await store.get(key)).toBeUndefined();

    await store.put(key, encode('one'));
    const one = await store.getVersioned(key);
    expect(decode(one?.body)).toBe('one');
    expect(await store.replaceIfVersion(key, encode('two'), one?.version ?? '')).toBe(true);
    const two = await store.getVersioned(key);
    expect(decode(two?.body)).toBe('two');
    expect(two?.version).not.toBe(one?.version);
    expect(await store.replaceIfVersion(key, encode('three'), one?.version ?? '')).toBe(false);
    expect(await store.deleteIfVersion(key, one?.version ?? '')).toBe(false);
    expect(decode(await store.get(key))).toBe('two');
    expect(await store.deleteIfVersion(key, two?.version ?? '')).toBe(true);
    expect(await store.get(key)).toBeUndefined();
    expect(await store.list('runs/')).toEqual([]);
  });
});

describe('FolderStore compare-and-swap claims', () => {
  it('a claim left by a process gone from this host is passed; one a living process holds wins', async () => {
    const lake = join(root, `claims-${opened++}`);
    const store = new FolderStore(lake);
    await store.put(LEASE_KEY, leaseBody('run-dead', 'dead', T0));
    const version = (await store.getVersioned(LEASE_KEY))?.version ?? '';
    const claimPath = join(lake, 'runs', claimFileName('_lease.json', version, 0));
    const claim = (claimant: { pid: number; host: string }) => {
      rmSync(claimPath, { force: true });
      symlinkSync(`${claimant.pid}@${claimant.host}`, claimPath);
    };
    const claims = () => readdirSync(join(lake, 'runs')).filter((name) => name.includes('claim'));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;

    claim({ pid: process.pid, host: hostname() });
    expect(await acquireLease(store, request('run-a', 'a'))).toMatchObject({
      acquired: false,
      heldBy: { runId: 'run-dead' },
    });
    claim({ pid: deadPid, host: 'another-host' });
    expect(await acquireLease(store, request('run-a', 'a'))).toMatchObject({ acquired: false });
    expect(await readLease(store)).toMatchObject({ runId: 'run-dead' });

    claim({ pid: deadPid, host: hostname() });
    expect(await acquireLease(store, request('run-a', 'a'))).toMatchObject({
      acquired: true,
      tookOverFrom: { runId: 'run-dead' },
    });
    expect(await readLease(store)).toMatchObject({ runId: 'run-a' });
    expect(claims()).toEqual([]);
  });
});

describe('S3Store conditional requests', () => {
  const conflict = (name: string, status: number) =>
    new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

  it('sends the ETag it read as IfMatch, and reads 409 ConditionalRequestConflict as a lost race', async () => {
    const client = new S3Client({ region: 'us-east-1' });
    const mock = mockClient(client);
    const store = new S3Store({ bucket: BUCKET, prefix: 'p/' }, client);
    mock.on(PutObjectCommand).rejects(conflict('ConditionalRequestConflict', 409));
    mock.on(DeleteObjectCommand).rejects(conflict('ConditionalRequestConflict', 409));
    expect(await store.replaceIfVersion(LEASE_KEY, encode('x'), '"etag-1"')).toBe(false);
    expect(await store.deleteIfVersion(LEASE_KEY, '"etag-1"')).toBe(false);
    expect(mock.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Key: `p/${LEASE_KEY}`,
      IfMatch: '"etag-1"',
    });
    expect(mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: `p/${LEASE_KEY}`,
      IfMatch: '"etag-1"',
    });
    // A conflict on a create is not a taken key: it stays an error, retried like any other.
    await expect(store.putIfAbsent(LEASE_KEY, encode('x'))).rejects.toBeInstanceOf(StoreError);
    mock.restore();
  });

  it.each([
    ['S3 (404 NoSuchKey on a missing key)', () => s3rver, 404, 'NoSuchKey'],
    ['the 412 variant', () => s3rverAnswering412, 412, 'PreconditionFailed'],
  ])('s3rver models If-Match as %s', async (_, server, missingStatus, missingCode) => {
    const client = server().client();
    const Key = `model-${opened++}/object`;
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => 'ok',
        (error: S3ServiceException) => `${error.$metadata.httpStatusCode} ${error.name}`,
      );
    expect(
      await failure(client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'a', IfMatch: '"x"' }))),
    ).toBe(`${missingStatus} ${missingCode}`);
    expect(await failure(client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key, IfMatch: '"x"' })))).toBe(
      `${missingStatus} ${missingCode}`,
    );
    const { ETag } = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'a' }));
    expect(
      await failure(client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'b', IfMatch: '"x"' }))),
    ).toBe('412 PreconditionFailed');
    expect(await failure(client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key, IfMatch: '"x"' })))).toBe(
      '412 PreconditionFailed',
    );
    const read = async () =>
      (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key }))).Body?.transformToString();
    expect(await read()).toBe('a');
    expect(
      await failure(client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'b', IfMatch: ETag }))),
    ).toBe('ok');
    expect(await read()).toBe('b');
    expect(await failure(client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key, IfMatch: ETag })))).toBe(
      '412 PreconditionFailed',
    );
    const current = (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key }))).ETag;
    expect(
      await failure(client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key, IfMatch: current }))),
    ).toBe('ok');
    expect(await failure(read())).toBe('404 NoSuchKey');
  });
});
