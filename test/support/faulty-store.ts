/**
 * Store and catalog faults for the reliability tests: wrappers that fail an operation before it
 * reaches the real store, or let it succeed and then fail as a crashed worker would.
 */
import type { TableName } from '../../functions/core/contract.js';
import { StoreError } from '../../functions/core/errors.js';
import type {
  Catalog,
  ObjectStore,
  PartitionPointer,
  PutResult,
  StoredObject,
  VersionedObject,
} from '../../functions/core/ports.js';

export type StoreOperation = 'putIfAbsent' | 'put' | 'get' | 'head' | 'list' | 'delete';

export interface StoreFaultRule {
  /** Default: the two writes, `putIfAbsent` and `put`. */
  readonly operations?: readonly StoreOperation[];
  /** Keys (or list prefixes) the rule applies to; default every key. */
  readonly key?: RegExp;
  /**
   * `fail`: StoreError before the operation reaches the store (nothing written).
   * `crash-after-write`: the operation succeeds, then StoreError, as if the worker died before returning.
   */
  readonly fault: 'fail' | 'crash-after-write';
  /** Strikes at most this many times per key; default every time (a store that keeps failing). */
  readonly timesPerKey?: number;
}

export interface StoreStrike {
  readonly operation: StoreOperation;
  readonly key: string;
  readonly fault: StoreFaultRule['fault'];
}

export class FaultyStore implements ObjectStore {
  readonly strikes: StoreStrike[] = [];
  private readonly perKey = new Map<string, number>();

  constructor(
    private readonly inner: ObjectStore,
    private readonly rules: readonly StoreFaultRule[],
  ) {}

  get location(): string {
    return this.inner.location;
  }

  putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    return this.run('putIfAbsent', key, () => this.inner.putIfAbsent(key, body));
  }

  /** A streamed write is the same write as `putIfAbsent`: rules on `putIfAbsent` strike it too. */
  putStreamIfAbsent(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    return this.run('putIfAbsent', key, () => this.inner.putStreamIfAbsent(key, body));
  }

  put(key: string, body: Uint8Array): Promise<void> {
    return this.run('put', key, () => this.inner.put(key, body));
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.run('get', key, () => this.inner.get(key));
  }

  /** Conditional reads and writes are the same operations as their plain ones for the rules. */
  getVersioned(key: string): Promise<VersionedObject | undefined> {
    return this.run('get', key, () => this.inner.getVersioned(key));
  }

  replaceIfVersion(key: string, body: Uint8Array, version: string): Promise<boolean> {
    return this.run('put', key, () => this.inner.replaceIfVersion(key, body, version));
  }

  deleteIfVersion(key: string, version: string): Promise<boolean> {
    return this.run('delete', key, () => this.inner.deleteIfVersion(key, version));
  }

  head(key: string): Promise<StoredObject | undefined> {
    return this.run('head', key, () => this.inner.head(key));
  }

  list(prefix: string): Promise<StoredObject[]> {
    return this.run('list', prefix, () => this.inner.list(prefix));
  }

  delete(key: string): Promise<void> {
    return this.run('delete', key, () => this.inner.delete(key));
  }

  async deleteAll(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
  }

  private async run<T>(operation: StoreOperation, key: string, call: () => Promise<T>): Promise<T> {
    const rule = this.rules.find(
      (r) =>
        (r.operations ?? ['putIfAbsent', 'put']).includes(operation) &&
        (r.key === undefined || r.key.test(key)) &&
        (r.timesPerKey === undefined || (this.perKey.get(strikeKey(r, key)) ?? 0) < r.timesPerKey),
    );
    if (rule === undefined) return call();
    this.perKey.set(strikeKey(rule, key), (this.perKey.get(strikeKey(rule, key)) ?? 0) + 1);
    this.strikes.push({ operation, key, fault: rule.fault });
    if (rule.fault === 'crash-after-write') await call();
    throw new StoreError(`Injected store fault (${rule.fault}) on ${operation} ${key}`);
  }
}

const strikeKey = (rule: StoreFaultRule, key: string) => `${rule.fault}:${rule.key?.source ?? '*'}:${key}`;

/** A catalog whose `putPartitions` fails before repointing, the first `failures` times. */
export class FaultyCatalog implements Catalog {
  failedPuts = 0;

  constructor(
    private readonly inner: Catalog,
    private failures: number,
  ) {}

  getPartition(table: TableName, partitionValue: string): Promise<PartitionPointer | undefined> {
    return this.inner.getPartition(table, partitionValue);
  }

  async putPartitions(pointers: readonly PartitionPointer[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      this.failedPuts++;
      throw new StoreError(`Injected catalog fault: putPartitions of ${pointers.length} pointer(s)`);
    }
    await this.inner.putPartitions(pointers);
  }

  deletePartitions(table: TableName, partitionValues: readonly string[]): Promise<void> {
    return this.inner.deletePartitions(table, partitionValues);
  }

  listPartitions(table: TableName): Promise<PartitionPointer[]> {
    return this.inner.listPartitions(table);
  }
}
