/**
 * Pluto's listings (and project details) held in memory, for unit tests of the steps that only list (StartRun): unknown
 * ids are answered the way Pluto answers them (400 `invalid_object_id`), refused ones with 403.
 * Data pages and plots are not listings: asking for them fails the test.
 */
import { PlutoForbiddenError, PlutoInvalidObjectError } from '../../functions/core/errors.js';
import type { PlutoExperiment } from '../../functions/core/pluto/model.js';
import type { PlutoApi } from '../../functions/core/ports.js';

export interface MemoryLab {
  /** Project id to the ids of its experiments. */
  readonly projects: Readonly<Record<string, readonly string[]>>;
  /** Experiments outside any project. */
  readonly unfiled?: readonly string[];
  /** Listed, but GET of the experiment answers 403. */
  readonly forbidden?: readonly string[];
}

export interface MemoryPluto extends PlutoApi {
  /** Every request, in order, e.g. `projects`, `projects/P1/experiments`, `experiments/PLX1`. */
  readonly requests: string[];
}

export function memoryPluto(lab: MemoryLab): MemoryPluto {
  const requests: string[] = [];
  const experiment = (id: string): PlutoExperiment => ({ pluto_id: id, name: `Experiment ${id}` });
  const filed = Object.values(lab.projects).flat();
  const unknownId = (kind: string, id: string) =>
    new PlutoInvalidObjectError(`Pluto answered 400 for ${kind} ${id}: invalid object id`, {
      code: 'invalid_object_id',
    });
  return {
    requests,
    async *listProjects() {
      requests.push('projects');
      for (const id of Object.keys(lab.projects)) yield { pluto_id: id, name: `Project ${id}` };
    },
    async getProject(projectId) {
      requests.push(`projects/${projectId}`);
      if (lab.projects[projectId] === undefined) throw unknownId('project', projectId);
      return { pluto_id: projectId, name: `Project ${projectId}` };
    },
    async *listProjectExperiments(projectId) {
      requests.push(`projects/${projectId}/experiments`);
      const ids = lab.projects[projectId];
      if (ids === undefined) throw unknownId('project', projectId);
      for (const id of ids) yield experiment(id);
    },
    async *listExperiments() {
      requests.push('experiments');
      for (const id of [...filed, ...(lab.unfiled ?? [])]) yield experiment(id);
    },
    async getExperiment(experimentId) {
      requests.push(`experiments/${experimentId}`);
      if (lab.forbidden?.includes(experimentId)) {
        throw new PlutoForbiddenError(`Pluto answered 403 for experiment ${experimentId}`);
      }
      if (!filed.includes(experimentId) && !lab.unfiled?.includes(experimentId)) {
        throw unknownId('experiment', experimentId);
      }
      return experiment(experimentId);
    },
    listPlots(experimentId) {
      throw new Error(`memoryPluto lists; it has no plots (asked for those of ${experimentId})`);
    },
    getDataPage(dataset) {
      throw new Error(`memoryPluto lists; it has no data pages (asked for ${JSON.stringify(dataset)})`);
    },
    getDownloadHeaders(dataset) {
      throw new Error(`memoryPluto lists; it has no downloads (asked for ${JSON.stringify(dataset)})`);
    },
    getAnalysis(analysisId) {
      throw new Error(`memoryPluto lists; it has no analyses (asked for ${analysisId})`);
    },
    listFiles(experimentId) {
      throw new Error(`memoryPluto lists; it has no files (asked for those of ${experimentId})`);
    },
    getQcReport(experimentId) {
      throw new Error(`memoryPluto lists; it has no QC reports (asked for that of ${experimentId})`);
    },
    downloadFile(experimentId, fileId) {
      throw new Error(`memoryPluto lists; it has no files (asked for ${fileId} of ${experimentId})`);
    },
  };
}
