/**
 * StartRun and PlanExperiment issue their independent Pluto requests at once, within their share
 * of the run's budget, and come to the same result as one request at a time. Requests in flight
 * are counted from undici's diagnostics channels, so what is counted is real HTTP requests to the
 * simulator.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { StoreCatalog } from '../functions/adapters/store-catalog.js';
import { allInOrder, limiter, type MapConcurrency, mapConcurrency } from '../functions/core/concurrency.js';
import { itemsKey, planKey } from '../functions/core/layout.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import { planSchema, readJson } from '../functions/core/records.js';
import { exportSettings } from '../functions/core/settings.js';
import { type StepDeps, systemClock } from '../functions/core/workflow/deps.js';
import { planExperiment } from '../functions/core/workflow/plan-experiment.js';
import { startRun } from '../functions/core/workflow/start-run.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { fixedSecret } from './support/secrets.js';

/** The most HTTP requests this process had in flight at once while `run` ran. */
async function mostInFlight<T>(run: () => Promise<T>): Promise<{ result: T; most: number; made: number }> {
  const open = new Set<object>();
  let most = 0;
  let made = 0;
  const created = (message: unknown) => {
    open.add((message as { request: object }).request);
    made++;
    most = Math.max(most, open.size);
  };
  const ended = (message: unknown) => open.delete((message as { request: object }).request);
  subscribe('undici:request:create', created);
  subscribe('undici:request:trailers', ended);
  subscribe('undici:request:error', ended);
  try {
    return { result: await run(), most, made };
  } finally {
    unsubscribe('undici:request:create', created);
    unsubscribe('undici:request:trailers', ended);
    unsubscribe('undici:request:error', ended);
  }
}

let simulator: RunningSimulator;
const roots: string[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ seed: 5, experiments: 4, genes: [30, 40], samples: [3, 5] });
});

afterAll(async () => {
  await simulator?.close();
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

afterEach(() => simulator.requests.reset());

async function depsWith(concurrency: MapConcurrency | undefined): Promise<StepDeps> {
  const root = await mkdtemp(join(tmpdir(), 'request-concurrency-'));
  roots.push(root);
  const store = new FolderStore(root);
  return {
    store,
    catalog: new StoreCatalog(store),
    pluto: createPlutoClient({
      baseUrl: simulator.url,
      secrets: fixedSecret(simulator.truth.token),
      version: 'test',
    }),
    clock: systemClock,
    settings: exportSettings(),
    ...(concurrency === undefined ? {} : { concurrency }),
  };
}

const requestsMade = () => simulator.requests.recent.map((r) => `${r.path}${r.query}`).sort();

describe('PlanExperiment', () => {
  it("issues its reads its experiment's share at a time and plans exactly what one at a time plans", async () => {
    const experiment = simulator.truth.exportable[0];
    if (experiment === undefined) throw new Error('no experiment');
    expect(experiment.plots.length).toBeGreaterThan(0);
    const plans = [];
    const requests = [];
    for (const slots of [1, 3]) {
      const deps = await depsWith(slots === 1 ? undefined : { experiments: 2, slots });
      simulator.requests.reset();
      const { result, most, made } = await mostInFlight(() =>
        planExperiment(
          { runId: 'r1', full: true, item: { experimentId: experiment.id, projectId: null } },
          deps,
        ),
      );
      expect(result.action).toBe('export');
      expect(most, `share ${slots}`).toBe(slots);
      expect(made).toBe(simulator.requests.total);
      const plan = await readJson(deps.store, planKey('r1', experiment.id), planSchema);
      if (plan === undefined) throw new Error('no plan was written');
      plans.push({ ...plan, plannedAt: undefined });
      requests.push(requestsMade());
    }
    expect(plans[1]).toEqual(plans[0]);
    expect(requests[1]).toEqual(requests[0]);
    expect(plans[0]?.datasets.map((d) => d.dataset)).toEqual([
      'samples',
      'assay',
      ...experiment.plots.map((p) => `plot-${p.uuid}`).sort(),
    ]);
  });
});

describe('StartRun', () => {
  it("lists the projects' experiments and the experiments outside any project at once, within the run's budget", async () => {
    const outcomes = [];
    for (const concurrency of [undefined, mapConcurrency(4)]) {
      const deps = await depsWith(concurrency);
      simulator.requests.reset();
      const { result, most } = await mostInFlight(() =>
        startRun({ run: { runId: 'r1' }, execution: 'local:test' }, deps),
      );
      expect(result.status).toBe('started');
      const byEndpoint = simulator.requests.byEndpoint;
      // Two projects' listings and lab/experiments/ are ready together once the projects are listed.
      expect(byEndpoint['project-experiments']).toBe(2);
      expect(byEndpoint.experiments).toBe(1);
      expect(most).toBe(concurrency === undefined ? 1 : 3);
      outcomes.push({ items: await deps.store.get(itemsKey('r1')), requests: requestsMade() });
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  });
});

describe('limiter', () => {
  it('runs at most its limit at once, starting tasks in the order given', async () => {
    const limit = limiter(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit(async () => {
          started.push(i);
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setImmediate(resolve));
          running--;
          return i * 2;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(most).toBe(3);
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('starts nothing more after a task fails: the waiting ones fail with its error', async () => {
    const limit = limiter(2);
    const started: number[] = [];
    const refused = new Error('token refused');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        limit(async () => {
          started.push(i);
          if (i === 1) throw refused;
          await new Promise((resolve) => setImmediate(resolve));
          return i;
        }),
      ),
    );
    expect(started).toEqual([0, 1]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([
      0,
      'token refused',
      'token refused',
      'token refused',
      'token refused',
      'token refused',
    ]);
  });
});

describe('allInOrder', () => {
  it('waits for every promise, then throws the error of the first in order, not in time', async () => {
    let lateSettled = false;
    const late = new Promise<number>((resolve) =>
      setTimeout(() => {
        lateSettled = true;
        resolve(1);
      }, 5),
    );
    const first = new Promise<number>((_, reject) =>
      setTimeout(() => reject(new Error('first in order')), 2),
    );
    const second = Promise.reject(new Error('first in time'));
    await expect(allInOrder([late, first, second])).rejects.toThrow('first in order');
    expect(lateSettled).toBe(true);
    expect(await allInOrder([Promise.resolve('a'), Promise.resolve(2)] as const)).toEqual(['a', 2]);
  });
});
