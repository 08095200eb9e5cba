/**
 * An object store in memory, for tests that need the port's semantics and no disk: put-if-absent
 * decided at the end of a write, streamed bodies invisible until complete, and compare-and-swap
 * that checks and writes in one synchronous step, so no other call can come between.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore, PutResult, StoredObject, VersionedObject } from '../../functions/core/ports.js';

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

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const entry = this.objects.get(key);
    return entry === undefined ? undefined : { body: entry.body.slice(), version: versionOf(entry.body) };
  }

  async replaceIfVersion(key: string, body: Uint8Array, version: string): Promise<boolean> {
    if (!this.isAt(key, version)) return false;
    this.objects.set(key, { body: body.slice(), lastModified: new Date() });
    return true;
  }

  async deleteIfVersion(key: string, version: string): Promise<boolean> {
    return this.isAt(key, version) && this.objects.delete(key);
  }

  private isAt(key: string, version: string): boolean {
    const entry = this.objects.get(key);
    return entry !== undefined && versionOf(entry.body) === version;
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

const versionOf = (body: Uint8Array) => createHash('sha256').update(body).digest('hex');
