/** Run history, read back from what runs leave in the store: manifests, commit records, pointers. */
import { EXPERIMENT_TABLES, type TableName } from './contract.js';
import { commitRecordKey, manifestKey } from './layout.js';
import type { Catalog, ObjectStore } from './ports.js';
import {
  type CommitRecord,
  commitRecordSchema,
  decodeJson,
  type Manifest,
  manifestSchema,
  readJson,
} from './records.js';

const MANIFEST_SUFFIX = '/manifest.json';

export function readManifest(store: ObjectStore, runId: string): Promise<Manifest | undefined> {
  return readJson(store, manifestKey(runId), manifestSchema);
}

/** Every finished run, newest first. */
export async function listRuns(store: ObjectStore): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const object of await store.list('runs/')) {
    if (!object.key.endsWith(MANIFEST_SUFFIX)) continue;
    const body = await store.get(object.key);
    if (body !== undefined) manifests.push(decodeJson(manifestSchema, body, object.key));
  }
  return manifests.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
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
  const history = (await listRuns(store)).flatMap((run) =>
    run.experiments.filter((record) => record.experimentId === experimentId),
  );
  const currentRun = pointers.experiments;
  const body =
    currentRun === undefined ? undefined : await store.get(commitRecordKey(currentRun, experimentId));
  const current = body === undefined ? undefined : decodeJson(commitRecordSchema, body, experimentId);
  return { experimentId, pointers, current, history };
}
