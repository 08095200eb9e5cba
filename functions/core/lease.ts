/**
 * The run lease: one object in the store that keeps a second run out while one is running.
 *
 * It is held by one execution (a Step Functions execution ARN deployed, one local export
 * locally), not by a run id: a second execution of the same run id is kept out like any other
 * run, so it cannot resume (and clear the failure records of) a run that is still going. A local
 * holder also records its process id and host, so a later run on that host takes over at once
 * from a process that is gone; otherwise the lease expires, so a run that died without releasing
 * it does not lock the lake for ever. Taking over and releasing are compare-and-swap on the lease's
 * version: a run changes only the lease it read, so two runs that find one stale lease cannot both
 * take it, and a run whose lease was taken over cannot delete its successor's.
 */
import { z } from 'zod';
import { LEASE_KEY } from './layout.js';
import type { ObjectStore } from './ports.js';
import { decodeJson, encodeJson, readJson } from './records.js';

export const leaseHolderSchema = z.object({
  /** The execution: its ARN in AWS, `local:<host>:<pid>:<uuid>` for a local export. */
  execution: z.string().min(1),
  /** Process id and host of a local export; absent in AWS, where a process says nothing. */
  pid: z.number().int().positive().optional(),
  host: z.string().optional(),
  startedAt: z.string(),
});
export type LeaseHolder = z.infer<typeof leaseHolderSchema>;

export const leaseSchema = z.object({
  runId: z.string(),
  /** Absent in a lease written before holders were recorded: such a lease is kept until it expires. */
  holder: leaseHolderSchema.optional(),
  acquiredAt: z.string(),
  expiresAt: z.string(),
});
export type Lease = z.infer<typeof leaseSchema>;

/** The machine a local export runs on, to tell whether a lease's holder process still exists. */
export interface LocalHost {
  readonly name: string;
  isRunning(pid: number): boolean;
}

export interface LeaseRequest {
  readonly runId: string;
  readonly holder: LeaseHolder;
  readonly now: Date;
  readonly ttlMs: number;
  /** Given locally: a holder on this host whose process is gone is taken over at once. */
  readonly host?: LocalHost;
}

export type LeaseOutcome =
  | { readonly acquired: true; readonly tookOverFrom?: Lease }
  | { readonly acquired: false; readonly heldBy: Lease };

export async function acquireLease(store: ObjectStore, request: LeaseRequest): Promise<LeaseOutcome> {
  const lease: Lease = {
    runId: request.runId,
    holder: request.holder,
    acquiredAt: request.now.toISOString(),
    expiresAt: new Date(request.now.getTime() + request.ttlMs).toISOString(),
  };
  const body = encodeJson(lease);
  for (let attempt = 0; attempt < 3; attempt++) {
    if ((await store.putIfAbsent(LEASE_KEY, body)).created) return { acquired: true };
    const found = await readVersionedLease(store);
    if (found === undefined) continue;
    const held = found.lease;
    if (isHeldBy(held, request.runId, request.holder.execution)) return { acquired: true };
    if (Date.parse(held.expiresAt) > request.now.getTime() && !holderIsGone(held, request.host)) {
      return { acquired: false, heldBy: held };
    }
    if (await store.replaceIfVersion(LEASE_KEY, body, found.version))
      return { acquired: true, tookOverFrom: held };
  }
  const heldBy = await readLease(store);
  return heldBy === undefined ? { acquired: false, heldBy: lease } : { acquired: false, heldBy };
}

/**
 * Releases the lease if `execution` of `runId` holds it; a lease another execution took, even
 * while this call ran, is left alone. True when this call released it.
 */
export async function releaseLease(store: ObjectStore, runId: string, execution: string): Promise<boolean> {
  const found = await readVersionedLease(store);
  if (found === undefined || !isHeldBy(found.lease, runId, execution)) return false;
  return store.deleteIfVersion(LEASE_KEY, found.version);
}

export function readLease(store: ObjectStore): Promise<Lease | undefined> {
  return readJson(store, LEASE_KEY, leaseSchema);
}

async function readVersionedLease(
  store: ObjectStore,
): Promise<{ readonly lease: Lease; readonly version: string } | undefined> {
  const found = await store.getVersioned(LEASE_KEY);
  return found === undefined
    ? undefined
    : { lease: decodeJson(leaseSchema, found.body, LEASE_KEY), version: found.version };
}

export function isHeldBy(lease: Lease, runId: string, execution: string): boolean {
  return lease.runId === runId && (lease.holder === undefined || lease.holder.execution === execution);
}

/** Only a holder on this very host can be known dead: its process id names no running process. */
function holderIsGone(lease: Lease, host: LocalHost | undefined): boolean {
  const holder = lease.holder;
  if (host === undefined || holder?.pid === undefined || holder.host !== host.name) return false;
  return !host.isRunning(holder.pid);
}

/** `run X (process 123 on host, started ...)`: who holds a lease, for messages. */
export function describeHolder(lease: Lease): string {
  const holder = lease.holder;
  if (holder === undefined) return `run ${lease.runId}`;
  const where =
    holder.pid === undefined
      ? `execution ${holder.execution}`
      : `process ${holder.pid} on ${holder.host ?? '?'}`;
  return `run ${lease.runId} (${where}, started ${holder.startedAt})`;
}
