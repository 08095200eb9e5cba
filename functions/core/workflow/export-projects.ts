/**
 * The `projects` table, written by StartRun from the projects it listed. Each project is its own
 * partition: a project whose detail is unchanged since the commit its pointer names costs one
 * request and writes nothing; a changed one gets a new part, a record, and its pointer flipped.
 */
import { allInOrder, limiter } from '../concurrency.js';
import { isSafeId } from '../ids.js';
import { partitionLocation, partKey, projectRecordKey } from '../layout.js';
import { projectRow, TableRows } from '../melt.js';
import type { PlutoProject } from '../pluto/model.js';
import { publishPart } from '../publish-part.js';
import {
  canonicalJson,
  encodeJson,
  type ProjectRecord,
  projectRecordSchema,
  readJson,
  sha256,
} from '../records.js';
import { datasetOutcomeOf } from './dataset-outcome.js';
import { runRequestsOf, type StepDeps } from './deps.js';

/** `listed`: each project id with the object `lab/projects/` gave, or undefined when not listed. */
export async function exportProjects(
  runId: string,
  listed: ReadonlyMap<string, PlutoProject | undefined>,
  deps: StepDeps,
): Promise<ProjectRecord[]> {
  const limit = limiter(runRequestsOf(deps));
  const records = await allInOrder(
    [...listed]
      .filter(([projectId]) => isSafeId(projectId))
      .map(([projectId, listing]) => limit(() => exportProject(runId, projectId, listing, deps))),
  );
  return records.filter((record) => record !== undefined);
}

/** One project's partition: written when its detail changed since the commit its pointer names. */
async function exportProject(
  runId: string,
  projectId: string,
  listing: PlutoProject | undefined,
  deps: StepDeps,
): Promise<ProjectRecord | undefined> {
  const project = await projectDetail(projectId, listing, deps);
  const digest = sha256(canonicalJson(project));
  const pointer = await deps.catalog.getPartition('projects', projectId);
  if (pointer !== undefined) {
    const previous = await readJson(
      deps.store,
      projectRecordKey(pointer.runId, projectId),
      projectRecordSchema,
    );
    if (previous?.digest === digest) return undefined;
  }
  const rows = new TableRows('projects');
  rows.appendRow(projectRow(project, { runId, exportedAt: deps.clock.now() }));
  const { part } = await publishPart(deps.store, partKey('projects', projectId, runId, 'project', 0), rows);
  const record: ProjectRecord = {
    runId,
    projectId,
    digest,
    part,
    exportedAt: deps.clock.now().toISOString(),
  };
  await deps.store.putIfAbsent(projectRecordKey(runId, projectId), encodeJson(record));
  await deps.catalog.putPartitions([
    {
      table: 'projects',
      partitionValue: projectId,
      runId,
      location: partitionLocation('projects', projectId, runId),
    },
  ]);
  return record;
}

/**
 * `lab/projects/{id}/`, which Pluto's R client documents; Pluto's Python SDK tests say the API may
 * refuse it, and then the listed object (or the bare id) stands in.
 */
async function projectDetail(
  projectId: string,
  listing: PlutoProject | undefined,
  deps: StepDeps,
): Promise<PlutoProject> {
  try {
    return await deps.pluto.getProject(projectId);
  } catch (error) {
    if (datasetOutcomeOf(error, 'results') === undefined) throw error;
    return listing ?? { pluto_id: projectId };
  }
}
