/**
 * StartRun: lists what to export, takes the run lease, and writes the item list to the store.
 * The listing comes first so that a bad token fails before anything is written.
 */
import { allInOrder, limiter } from '../concurrency.js';
import { ConfigError, PlutoForbiddenError, PlutoInvalidObjectError, PlutoNotFoundError } from '../errors.js';
import { readManifest } from '../history.js';
import { ID_RULE, isSafeId } from '../ids.js';
import { abortKey, itemsKey, rejectedItemsKey, slotFailurePrefix } from '../layout.js';
import { acquireLease } from '../lease.js';
import { checkLimit } from '../limits.js';
import type { PlutoProject } from '../pluto/model.js';
import type { ObjectStore, PlutoApi } from '../ports.js';
import { encodeJson, type RejectedItem, readJson } from '../records.js';
import { describeUnsafeId } from '../safe-text.js';
import { limitsOf, runRequestsOf, type StepDeps } from './deps.js';
import { exportProjects } from './export-projects.js';
import {
  type ExperimentItem,
  experimentItemSchema,
  type RunInput,
  type StartRunInput,
  type StartRunOutput,
} from './messages.js';

export async function startRun(
  { run: input, execution }: StartRunInput,
  deps: StepDeps,
): Promise<StartRunOutput> {
  const { store, clock } = deps;
  const now = clock.now();
  const base = {
    runId: input.runId,
    execution,
    itemsKey: itemsKey(input.runId),
    full: input.full ?? false,
    missingExperiments: input.missingExperiments ?? 'keep',
    listedAll: input.experimentIds === undefined && input.projectIds === undefined,
  };

  // A failed or interrupted run has a manifest too, and resumes; only a committed one is over.
  if ((await readManifest(store, input.runId))?.status === 'committed') {
    return { ...base, status: 'committed', experimentCount: 0, startedAt: now.toISOString() };
  }

  const existingItems = await readJson(store, base.itemsKey, experimentItemSchema.array());
  const listing = existingItems === undefined ? await listExperiments(deps, input) : undefined;
  const items = existingItems ?? listing?.items ?? [];

  const lease = await acquireLease(store, {
    runId: input.runId,
    holder: {
      execution,
      ...(deps.host === undefined ? {} : { pid: deps.host.pid, host: deps.host.name }),
      startedAt: now.toISOString(),
    },
    now,
    ttlMs: deps.settings.leaseTtlMs,
    ...(deps.host === undefined ? {} : { host: deps.host }),
  });
  if (!lease.acquired) {
    return { ...base, status: 'leased', experimentCount: 0, startedAt: now.toISOString() };
  }
  if (lease.tookOverFrom !== undefined) deps.progress?.leaseTakenOver?.({ from: lease.tookOverFrom });
  if (listing !== undefined) {
    await exportProjects(input.runId, listing.projects, deps);
    // Before items.json, whose presence means the listing is complete.
    if (listing.rejected.length > 0) {
      await store.put(rejectedItemsKey(input.runId), encodeJson(listing.rejected));
    }
    await store.putIfAbsent(base.itemsKey, encodeJson(items));
  } else {
    await resume(store, input.runId);
  }
  deps.progress?.runPlanned?.({ runId: input.runId, experiments: items.length });
  return { ...base, status: 'started', experimentCount: items.length, startedAt: now.toISOString() };
}

/**
 * Projects are listed to learn each experiment's project; experiments outside any project come
 * from `lab/experiments/`. Filters narrow the set. A given id that Pluto does not know is a typo
 * to fix before anything starts: the run ends with every such id named. One Pluto knows but
 * refuses (403) is planned, so that the refusal is recorded. An id from the listing that cannot be
 * a key (a separator, a control character, too long) is set aside as rejected: the run goes on
 * without it.
 */
async function listExperiments(
  deps: StepDeps,
  input: RunInput,
): Promise<{
  items: ExperimentItem[];
  rejected: RejectedItem[];
  projects: Map<string, PlutoProject | undefined>;
}> {
  const { pluto } = deps;
  // StartRun runs alone: the listings of the projects go out with the run's whole budget.
  const limit = limiter(runRequestsOf(deps));
  const projectOf = new Map<string, string>();
  const unknownProjects: string[] = [];
  const projects =
    input.projectIds === undefined
      ? await listProjects(pluto)
      : new Map(input.projectIds.map((id) => [id, undefined]));
  const listAll = input.experimentIds === undefined && input.projectIds === undefined;
  const [perProject, outsideProjects] = await allInOrder([
    allInOrder(
      [...projects.keys()].map((projectId) =>
        limit(async () => {
          try {
            const ids: string[] = [];
            for await (const experiment of pluto.listProjectExperiments(projectId))
              ids.push(experiment.pluto_id);
            return { projectId, ids };
          } catch (error) {
            if (input.projectIds === undefined || !isUnknownId(error)) throw error;
            return { projectId, ids: undefined };
          }
        }),
      ),
    ),
    listAll
      ? limit(async () => {
          const ids: string[] = [];
          for await (const experiment of pluto.listExperiments()) ids.push(experiment.pluto_id);
          return ids;
        })
      : Promise.resolve([]),
  ] as const);
  for (const { projectId, ids } of perProject) {
    if (ids === undefined) unknownProjects.push(projectId);
    for (const id of ids ?? []) if (!projectOf.has(id)) projectOf.set(id, projectId);
  }

  let ids: string[];
  const unknownExperiments: string[] = [];
  if (input.experimentIds !== undefined) {
    ids = [...new Set(input.experimentIds)];
    const known = await allInOrder(
      ids.map((id) =>
        projectOf.has(id) ? Promise.resolve(true) : limit(() => isKnownExperiment(pluto, id)),
      ),
    );
    unknownExperiments.push(...ids.filter((_, index) => !known[index]));
  } else if (input.projectIds !== undefined) {
    ids = [...projectOf.keys()];
  } else {
    ids = [...new Set([...projectOf.keys(), ...outsideProjects])];
  }
  const unknown = [
    ...(unknownProjects.length === 0 ? [] : [`projects ${unknownProjects.join(', ')}`]),
    ...(unknownExperiments.length === 0 ? [] : [`experiments ${unknownExperiments.join(', ')}`]),
  ];
  if (unknown.length > 0) {
    throw new ConfigError(
      `Pluto does not know ${unknown.join(' or ')}: check the ids given (nothing was exported)`,
    );
  }
  const unique = [...new Set(ids)].sort();
  const items = unique
    .filter(isSafeId)
    .map((experimentId) => ({ experimentId, projectId: projectOf.get(experimentId) ?? null }));
  checkLimit(
    items.length,
    limitsOf(deps.settings).maxExperimentsPerRun,
    "Pluto's listing of experiments",
    'maxExperimentsPerRun',
  );
  const rejected = unique
    .filter((id) => !isSafeId(id))
    .map((id) => {
      const shownId = describeUnsafeId(id);
      return {
        shownId,
        projectId: projectOf.get(id) ?? null,
        error: {
          name: 'InvalidIdError',
          message: `Pluto listed an experiment with the id ${shownId}, which is not ${ID_RULE}; it was not exported`,
        },
      };
    });
  return { items, rejected, projects };
}

async function isKnownExperiment(pluto: PlutoApi, experimentId: string): Promise<boolean> {
  try {
    await pluto.getExperiment(experimentId);
    return true;
  } catch (error) {
    if (isUnknownId(error)) return false;
    if (error instanceof PlutoForbiddenError) return true;
    throw error;
  }
}

const isUnknownId = (error: unknown) =>
  error instanceof PlutoInvalidObjectError || error instanceof PlutoNotFoundError;

async function listProjects(pluto: PlutoApi): Promise<Map<string, PlutoProject | undefined>> {
  const projects = new Map<string, PlutoProject | undefined>();
  for await (const project of pluto.listProjects()) {
    const id = project.pluto_id ?? project.uuid;
    if (id !== undefined) projects.set(id, project);
  }
  return projects;
}

/**
 * Started again after a run-fatal error: the cause is taken as fixed, and the slot failures of the
 * aborted attempt must not be read as this attempt's.
 */
async function resume(store: ObjectStore, runId: string): Promise<void> {
  for (const failure of await store.list(slotFailurePrefix(runId))) await store.delete(failure.key);
  await store.delete(abortKey(runId));
}
