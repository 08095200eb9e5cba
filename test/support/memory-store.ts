/**
 * An object store in memory, for tests that need the port's semantics and no disk: put-if-absent
 * decided at the end of a write, streamed bodies invisible until complete.
 */
import type { ObjectStore, PutResult, StoredObject } from '../../functions/core/ports.js';

interface Entry {
  readonly body: Uint8Array;
  readonly lastModified: Date;
}

export class MemoryStore implements ObjectStore {
  readonly location = 'memory://lake/';
  private readonly objects = new Map<string, Entry>();

  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    if (this.objects.has(key)) return { created: false };
    this.objects.set(key, { body: body.slice(), lastModified: new Date() });
    return { created: true };
  }

  async putStreamIfAbsent(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of body) chunks.push(chunk.slice());
    return this.putIfAbsent(key, Buffer.concat(chunks));
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, { body: body.slice(), lastModified: new Date() });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.objects.get(key)?.body.slice();
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const entry = this.objects.get(key);
    return entry === undefined
      ? undefined
      : { key, size: entry.body.byteLength, lastModified: entry.lastModified };
  }

  async list(prefix: string): Promise<StoredObject[]> {
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, entry]) => ({ key, size: entry.body.byteLength, lastModified: entry.lastModified }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async deleteAll(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.objects.delete(key);
  }
}
