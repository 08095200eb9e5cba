/** Run history, read back from what runs leave in the store: manifests, commit records, pointers. */
import { EXPERIMENT_TABLES, type TableName } from './contract.js';
import { commitRecordKey, manifestKey } from './layout.js';
import { readLease } from './lease.js';
import type { Catalog, ObjectStore, StoredObject } from './ports.js';
import {
  type CommitRecord,
  commitRecordSchema,
  decodeJson,
  type Manifest,
  manifestSchema,
  readJson,
} from './records.js';

const MANIFEST_SUFFIX = '/manifest.json';
const ITEMS_SUFFIX = '/items.json';

export function readManifest(store: ObjectStore, runId: string): Promise<Manifest | undefined> {
  return readJson(store, manifestKey(runId), manifestSchema);
}

export interface RunSummary {
  readonly runId: string;
  /**
   * The manifest's status, or for a run without one: `running` while it holds the lease,
   * `unfinished` when it does not (its process was killed before it could record itself).
   */
  readonly status: Manifest['status'] | 'running' | 'unfinished';
  readonly startedAt: string;
  /** Absent while the run has no manifest. */
  readonly manifest?: Manifest;
}

/** Every run the lake has seen, newest first, whatever became of it. */
export async function listRuns(store: ObjectStore): Promise<RunSummary[]> {
  const objects = await store.list('runs/');
  const manifests = await listManifests(store, objects);
  const recorded = new Set(manifests.map((manifest) => manifest.runId));
  const leaseHolder = (await readLease(store))?.runId;
  const runs: RunSummary[] = manifests.map((manifest) => ({
    runId: manifest.runId,
    status: manifest.status,
    startedAt: manifest.startedAt,
    manifest,
  }));
  for (const object of objects) {
    if (!object.key.endsWith(ITEMS_SUFFIX)) continue;
    const runId = object.key.slice('runs/'.length, -ITEMS_SUFFIX.length);
    if (recorded.has(runId)) continue;
    runs.push({
      runId,
      status: runId === leaseHolder ? 'running' : 'unfinished',
      startedAt: object.lastModified.toISOString(),
    });
  }
  return runs.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
}

async function listManifests(store: ObjectStore, objects: readonly StoredObject[]): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const object of objects) {
    if (!object.key.endsWith(MANIFEST_SUFFIX)) continue;
    const body = await store.get(object.key);
    if (body !== undefined) manifests.push(decodeJson(manifestSchema, body, object.key));
  }
  return manifests;
}

export interface ExperimentStatus {
  readonly experimentId: string;
  /** Run each table partition points at; absent tables have no partition. */
  readonly pointers: Partial<Record<TableName, string>>;
  /** The commit record of the run the experiments table points at. */
  readonly current: CommitRecord | undefined;
  /** What each finished run did with the experiment, newest first. */
  readonly history: readonly CommitRecord[];
}

export async function experimentStatus(
  store: ObjectStore,
  catalog: Catalog,
  experimentId: string,
): Promise<ExperimentStatus> {
  const pointers: Partial<Record<TableName, string>> = {};
  for (const table of EXPERIMENT_TABLES) {
    const pointer = await catalog.getPartition(table, experimentId);
    if (pointer !== undefined) pointers[table] = pointer.runId;
  }
  const history = (await listRuns(store)).flatMap(
    (run) => run.manifest?.experiments.filter((record) => record.experimentId === experimentId) ?? [],
  );
  const currentRun = pointers.experiments;
  const body =
    currentRun === undefined ? undefined : await store.get(commitRecordKey(currentRun, experimentId));
  const current = body === undefined ? undefined : decodeJson(commitRecordSchema, body, experimentId);
  return { experimentId, pointers, current, history };
}
