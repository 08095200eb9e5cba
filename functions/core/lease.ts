/**
 * The run lease: one object in the store that keeps a second run out while one is running. It
 * expires so that a run that died without releasing it does not lock the lake for ever.
 */
import { z } from 'zod';
import { LEASE_KEY } from './layout.js';
import type { ObjectStore } from './ports.js';
import { encodeJson, readJson } from './records.js';

export const leaseSchema = z.object({ runId: z.string(), acquiredAt: z.string(), expiresAt: z.string() });
export type Lease = z.infer<typeof leaseSchema>;

export async function acquireLease(
  store: ObjectStore,
  runId: string,
  now: Date,
  leaseTtlMs: number,
): Promise<boolean> {
  const lease: Lease = {
    runId,
    acquiredAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + leaseTtlMs).toISOString(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    if ((await store.putIfAbsent(LEASE_KEY, encodeJson(lease))).created) return true;
    const held = await readJson(store, LEASE_KEY, leaseSchema);
    if (held === undefined) continue;
    if (held.runId === runId) return true;
    if (Date.parse(held.expiresAt) > now.getTime()) return false;
    await store.delete(LEASE_KEY);
  }
  return false;
}

export async function releaseLease(store: ObjectStore, runId: string): Promise<void> {
  const held = await readJson(store, LEASE_KEY, leaseSchema);
  if (held?.runId === runId) await store.delete(LEASE_KEY);
}

export function readLease(store: ObjectStore): Promise<Lease | undefined> {
  return readJson(store, LEASE_KEY, leaseSchema);
}
