/** The exporter's real parts, wired for the benchmark: HTTP client to the simulator, folder store. */
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import type { ObjectStore, PutResult, StoredObject, VersionedObject } from '../functions/core/ports.js';
import { exportSettings } from '../functions/core/settings.js';
import { CODE_VERSION } from '../functions/core/version.js';
import { type StepDeps, systemClock } from '../functions/core/workflow/deps.js';
import { SIMULATOR_TOKEN } from '../functions/simulator/index.js';

/** The CLI's default settings. */
export const EXPORT_SETTINGS = exportSettings();

export function simulatorClient(baseUrl: string) {
  const token = async () => SIMULATOR_TOKEN;
  return createPlutoClient({ baseUrl, secrets: { getToken: token, refresh: token }, version: CODE_VERSION });
}

export function benchDeps(baseUrl: string, store: ObjectStore): StepDeps {
  return {
    store,
    catalog: new StoreCatalog(store),
    pluto: simulatorClient(baseUrl),
    clock: systemClock,
    settings: EXPORT_SETTINGS,
  };
}

export interface StoreCounts {
  puts: number;
  gets: number;
  heads: number;
  lists: number;
  deletes: number;
  bytesWritten: number;
}

/** Counts the store operations (S3 requests when the store is S3) the exporter makes. */
export class CountingStore implements ObjectStore {
  readonly counts: StoreCounts = { puts: 0, gets: 0, heads: 0, lists: 0, deletes: 0, bytesWritten: 0 };

  constructor(private readonly inner: ObjectStore) {}

  get location(): string {
    return this.inner.location;
  }

  putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    this.counts.puts++;
    this.counts.bytesWritten += body.byteLength;
    return this.inner.putIfAbsent(key, body);
  }

  putStreamIfAbsent(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    this.counts.puts++;
    const counts = this.counts;
    async function* counted() {
      for await (const chunk of body) {
        counts.bytesWritten += chunk.byteLength;
        yield chunk;
      }
    }
    return this.inner.putStreamIfAbsent(key, counted());
  }

  put(key: string, body: Uint8Array): Promise<void> {
    this.counts.puts++;
    this.counts.bytesWritten += body.byteLength;
    return this.inner.put(key, body);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    this.counts.gets++;
    return this.inner.get(key);
  }

  getVersioned(key: string): Promise<VersionedObject | undefined> {
    this.counts.gets++;
    return this.inner.getVersioned(key);
  }

  replaceIfVersion(key: string, body: Uint8Array, version: string): Promise<boolean> {
    this.counts.puts++;
    this.counts.bytesWritten += body.byteLength;
    return this.inner.replaceIfVersion(key, body, version);
  }

  deleteIfVersion(key: string, version: string): Promise<boolean> {
    this.counts.deletes++;
    return this.inner.deleteIfVersion(key, version);
  }

  head(key: string): Promise<StoredObject | undefined> {
    this.counts.heads++;
    return this.inner.head(key);
  }

  list(prefix: string): Promise<StoredObject[]> {
    this.counts.lists++;
    return this.inner.list(prefix);
  }

  delete(key: string): Promise<void> {
    this.counts.deletes++;
    return this.inner.delete(key);
  }

  deleteAll(keys: readonly string[]): Promise<void> {
    this.counts.deletes += Math.ceil(keys.length / 1_000);
    return this.inner.deleteAll(keys);
  }
}
