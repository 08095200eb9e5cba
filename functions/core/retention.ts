/**
 * Retention: removes the data folders of superseded and abandoned runs after a grace period, and
 * never a folder a pointer uses. `runs/<run>/` (plans, commit records, manifest) stays as history.
 *
 * A folder `data/<table>/experiment_id=<id>/run_id=<run>/` goes when all of these hold:
 * - the table's pointer for that experiment names another run, or there is no pointer;
 * - `<run>` finished (its manifest exists) more than `graceMs` ago, or it is abandoned: it has no
 *   manifest, does not hold the lease, and nothing of it changed for `graceMs` (it was killed
 *   before it could finish). A run within the grace period may still commit or resume;
 * - the experiment's current commit (the run its `experiments` pointer names) finished more than
 *   `graceMs` ago: a reader that opened the previous folder just before the repoint may still read it.
 * A `projects` folder goes when its pointer names another run, its run finished (or was abandoned)
 * more than `graceMs` ago, and the run its pointer names finished more than `graceMs` ago.
 * `export_log` is never touched: each of its partitions is its own run's, and current.
 * Last, the store's own leftovers (a folder store's temporary files and empty folders) older than
 * `graceMs` go.
 */
import { EXPERIMENT_TABLES, type TableName } from './contract.js';
import { commitRecordKey, manifestKey, receiptPrefix, runPrefix } from './layout.js';
import { readLease } from './lease.js';
import type { Catalog, Clock, ObjectStore } from './ports.js';
import { commitRecordSchema, decodeJson, manifestSchema } from './records.js';

export interface RetentionOptions {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly clock: Clock;
  /** How long a superseded folder stays readable after it was superseded and its run finished. */
  readonly graceMs: number;
}

export interface RetentionResult {
  /** Folder prefixes removed, e.g. `data/assay/experiment_id=PLX1/run_id=r1/`. */
  readonly removedFolders: readonly string[];
  readonly removedObjects: number;
  /** Temporary files and empty folders the store removed. */
  readonly removedLeftovers: number;
}

const FOLDER = /^(data\/([^/]+)\/(?:experiment_id|project_id)=([^/]+)\/run_id=([^/]+)\/)[^/]+$/;

export async function removeSupersededRuns(options: RetentionOptions): Promise<RetentionResult> {
  const { store, catalog, graceMs } = options;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(`retention grace period must be a non-negative number of ms, got ${graceMs}`);
  }
  const cutoff = options.clock.now().getTime() - graceMs;
  const leaseHolder = (await readLease(store))?.runId;
  const finishedAt = memo((runId: string) => runFinishedAt(store, runId));
  const lastChangedAt = memo((runId: string) => runLastChangedAt(store, runId));
  // One listing of the experiments pointers instead of a catalog read per experiment.
  const currentRun = new Map(
    (await catalog.listPartitions('experiments')).map((pointer) => [pointer.partitionValue, pointer.runId]),
  );
  const committedAt = memo(async (experimentId: string) => {
    const runId = currentRun.get(experimentId);
    if (runId === undefined) return undefined;
    // A commit is made before its run finishes: a run finished before the cutoff settles it unread.
    const finished = await finishedAt(runId);
    if (finished !== undefined && finished <= cutoff) return finished;
    return commitFinishedAt(store, runId, experimentId);
  });

  // A failed or abandoned run resumed after the grace period must export again what retention
  // removed: its receipts would otherwise claim parts that are gone.
  const forgotten = new Set<string>();
  const receipts: string[] = [];
  const forgetUncommittedSlots = async (runId: string, experimentId: string) => {
    const id = `${runId}/${experimentId}`;
    if (forgotten.has(id)) return;
    forgotten.add(id);
    if ((await store.head(commitRecordKey(runId, experimentId))) !== undefined) return;
    receipts.push(...(await store.list(receiptPrefix(runId, experimentId))).map((receipt) => receipt.key));
  };

  const removedFolders: string[] = [];
  const removable: string[] = [];
  const settled = async (runId: string, changedAt: number) => {
    const finished = await finishedAt(runId);
    if (finished !== undefined) return finished <= cutoff;
    return runId !== leaseHolder && changedAt <= cutoff && (await lastChangedAt(runId)) <= cutoff;
  };
  const projectPointers = new Map(
    (await catalog.listPartitions('projects')).map((pointer) => [pointer.partitionValue, pointer.runId]),
  );
  for (const [folder, { experimentId: projectId, runId, keys, changedAt }] of await foldersOf(
    store,
    'projects',
  )) {
    const current = projectPointers.get(projectId);
    if (current === runId || !(await settled(runId, changedAt))) continue;
    const replacedAt = current === undefined ? undefined : await finishedAt(current);
    if (current !== undefined && (replacedAt === undefined || replacedAt > cutoff)) continue;
    removable.push(...keys);
    removedFolders.push(folder);
  }
  for (const table of EXPERIMENT_TABLES) {
    const pointed = new Map(
      (await catalog.listPartitions(table)).map((pointer) => [pointer.partitionValue, pointer.runId]),
    );
    for (const [folder, { experimentId, runId, keys, changedAt }] of await foldersOf(store, table)) {
      if (pointed.get(experimentId) === runId || !(await settled(runId, changedAt))) continue;
      const superseded = await committedAt(experimentId);
      if (superseded !== undefined && superseded > cutoff) continue;
      removable.push(...keys);
      removedFolders.push(folder);
      await forgetUncommittedSlots(runId, experimentId);
    }
  }
  // Receipts first: a slot without its receipt is exported again, a receipt without its part is not.
  if (receipts.length > 0) await store.deleteAll(receipts);
  await store.deleteAll(removable);
  const removedObjects = removable.length;
  const removedLeftovers = (await store.removeLeftovers?.(new Date(cutoff))) ?? 0;
  return { removedFolders, removedObjects, removedLeftovers };
}

interface Folder {
  /** The partition value: an experiment id, or a project id for `projects`. */
  readonly experimentId: string;
  readonly runId: string;
  readonly keys: string[];
  /** When the newest file of the folder was written. */
  changedAt: number;
}

async function foldersOf(store: ObjectStore, table: TableName): Promise<Map<string, Folder>> {
  const folders = new Map<string, Folder>();
  for (const object of await store.list(`data/${table}/`)) {
    const match = FOLDER.exec(object.key);
    if (match === null) continue;
    const [, folder = '', , experimentId = '', runId = ''] = match;
    const found = folders.get(folder) ?? { experimentId, runId, keys: [], changedAt: 0 };
    found.keys.push(object.key);
    found.changedAt = Math.max(found.changedAt, object.lastModified.getTime());
    folders.set(folder, found);
  }
  return folders;
}

/** When the run's manifest says it finished; undefined while it has none. */
async function runFinishedAt(store: ObjectStore, runId: string): Promise<number | undefined> {
  const body = await store.get(manifestKey(runId));
  if (body === undefined) return undefined;
  return Date.parse(decodeJson(manifestSchema, body, manifestKey(runId)).finishedAt);
}

/** When anything under `runs/<run>/` last changed: a run writes there after every slot it exports. */
async function runLastChangedAt(store: ObjectStore, runId: string): Promise<number> {
  let latest = 0;
  for (const object of await store.list(runPrefix(runId)))
    latest = Math.max(latest, object.lastModified.getTime());
  return latest;
}

/** When the run's commit of the experiment was made. */
async function commitFinishedAt(store: ObjectStore, runId: string, experimentId: string): Promise<number> {
  const key = commitRecordKey(runId, experimentId);
  const body = await store.get(key);
  // A pointer without its commit record is not understood here: treat the folder as just superseded.
  if (body === undefined) return Number.POSITIVE_INFINITY;
  return Date.parse(decodeJson(commitRecordSchema, body, key).finishedAt);
}

function memo<T>(load: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const cache = new Map<string, Promise<T>>();
  return (key) => {
    let found = cache.get(key);
    if (found === undefined) {
      found = load(key);
      cache.set(key, found);
    }
    return found;
  };
}
