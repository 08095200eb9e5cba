import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TableName } from '../functions/core/contract.js';
import { PlutoRateLimitedError } from '../functions/core/errors.js';
import { commitRecordKey } from '../functions/core/layout.js';
import type { RetryInfo } from '../functions/core/pluto/retry.js';
import {
  createFaultPlan,
  DAMAGED_BODY_FAULTS,
  DATA_ENDPOINTS,
  type FaultPlan,
  type FaultRule,
  LIST_ENDPOINTS,
  type RunningSimulator,
  startSimulator,
  TRANSIENT_FAULTS,
} from '../functions/simulator/index.js';
import {
  exportWith,
  FAST_SETTINGS,
  type FolderLake,
  lakeDigest,
  lakeRegistry,
  SMALL_ORGANISATION,
  stepRecorder,
  type TableDigest,
} from './support/fault-harness.js';
import { queryLake } from './support/lake-query.js';

let simulator: RunningSimulator;
let plan: FaultPlan | undefined;
let clean: FolderLake;
let cleanDigest: Record<TableName, TableDigest>;
const { lake, removeAll } = lakeRegistry();

function inject(rules: readonly FaultRule[], seed = 1): FaultPlan {
  plan = createFaultPlan(rules, { seed });
  return plan;
}

beforeAll(async () => {
  simulator = await startSimulator({ seed: 11, ...SMALL_ORGANISATION, faults: (r) => plan?.hook(r) });
  clean = await lake('clean');
  const output = await exportWith({ simulator, ...clean, runId: 'run-1' });
  expect(output.status).toBe('committed');
  cleanDigest = await lakeDigest(clean.root);
  expect(cleanDigest.assay.rows).toBeGreaterThan(0);
});

afterAll(async () => {
  await simulator?.close();
  await removeAll();
});

const exportable = () => simulator.truth.exportable.map((e) => e.id).sort();

describe('transient faults', () => {
  const kinds = [...new Set(TRANSIENT_FAULTS.map((f) => f.kind))];

  it.each(kinds)(
    'rides out %s on list and data requests and exports exactly the clean data',
    async (kind) => {
      const faults = TRANSIENT_FAULTS.filter((f) => f.kind === kind);
      // A damaged 403 body loses Pluto's detail, which export_log would then lack: not measured here.
      const exceptExperimentIds = simulator.truth.forbiddenExperimentIds;
      const injected = inject([
        { fault: faults, endpoints: LIST_ENDPOINTS, at: [1] },
        { fault: faults, endpoints: ['experiment'], at: [2], exceptExperimentIds },
        { fault: faults, endpoints: DATA_ENDPOINTS, probability: 0.25, times: 8, exceptExperimentIds },
      ]);
      const target = await lake(`transient-${kind}`);
      const output = await exportWith({ simulator, ...target, runId: 'run-1' });
      expect(output.status).toBe('committed');
      expect(injected.count(kind)).toBeGreaterThanOrEqual(6);
      expect(new Set(injected.fired.map((f) => f.endpoint)).size).toBeGreaterThanOrEqual(3);
      expect(await lakeDigest(target.root)).toEqual(cleanDigest);
    },
  );

  it.each(DAMAGED_BODY_FAULTS.map((f) => f.kind))(
    'rides out %s struck once per request (the client retries it once) and exports exactly the clean data',
    async (kind) => {
      const faults = DAMAGED_BODY_FAULTS.filter((f) => f.kind === kind);
      const exceptExperimentIds = simulator.truth.forbiddenExperimentIds;
      // One request at a time, so a struck request's retry is the next ordinal, never struck.
      const odd = Array.from({ length: 8 }, (_, i) => 2 * i + 1);
      const injected = inject([
        { fault: faults, endpoints: LIST_ENDPOINTS, at: [1] },
        { fault: faults, endpoints: ['experiment'], at: [2], exceptExperimentIds },
        { fault: faults, endpoints: DATA_ENDPOINTS, at: odd, exceptExperimentIds },
      ]);
      const target = await lake(`damaged-${kind}`);
      const output = await exportWith({ simulator, ...target, runId: 'run-1', concurrency: 1 });
      expect(output.status).toBe('committed');
      expect(injected.count(kind)).toBeGreaterThanOrEqual(kind === 'items-missing' ? 5 : 6);
      expect(await lakeDigest(target.root)).toEqual(cleanDigest);
    },
  );

  it('honours Retry-After in seconds and as an HTTP date, sleeping at least that long', async () => {
    const sleeps: number[] = [];
    inject([
      { fault: { kind: 'rate-limited', retryAfterSeconds: 7 }, endpoints: ['assay-data'], at: [1] },
      {
        fault: { kind: 'rate-limited', retryAfterSeconds: 9, as: 'http-date' },
        endpoints: ['sample-data'],
        at: [1],
      },
    ]);
    const target = await lake('retry-after');
    const output = await exportWith({
      simulator,
      ...target,
      runId: 'run-1',
      client: { sleep: async (ms) => void sleeps.push(ms) },
    });
    expect(output.status).toBe('committed');
    expect(sleeps.filter((ms) => ms === 7000)).toHaveLength(1);
    // An HTTP date has whole seconds: 9 s ahead is 8–9 s away by the time it is read.
    expect(sleeps.filter((ms) => ms > 7000 && ms <= 9000)).toHaveLength(1);
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
  });

  it('beyond the time budget, fails the step as rate-limited and the workflow Retry exports it', async () => {
    const sleeps: number[] = [];
    const injected = inject([
      {
        fault: { kind: 'rate-limited', retryAfterSeconds: 600 },
        endpoints: ['assay-data'],
        minLimit: 2,
        at: [1, 2],
      },
    ]);
    const recorder = stepRecorder();
    const target = await lake('rate-limited-step');
    const output = await exportWith({
      simulator,
      ...target,
      runId: 'run-1',
      client: { retryBudgetMs: 30_000, sleep: async (ms) => void sleeps.push(ms) },
      interceptStep: recorder.intercept,
    });
    expect(output.status).toBe('committed');
    expect(injected.count('rate-limited')).toBe(2);
    const limited = recorder.calls.filter((c) => c.error instanceof PlutoRateLimitedError);
    expect(limited.map((c) => c.step)).toEqual(['ExportSlot', 'ExportSlot']);
    expect(limited.map((c) => (c.error as PlutoRateLimitedError).retryAfterMs)).toEqual([600_000, 600_000]);
    expect(sleeps.filter((ms) => ms >= 30_000)).toEqual([]);
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
  });

  it('times out headers slower than the request timeout, retries, and exports the same data', async () => {
    const injected = inject([
      { fault: { kind: 'slow-headers', ms: 4000 }, endpoints: ['assay-data'], minLimit: 2, at: [2] },
      { fault: { kind: 'slow-headers', ms: 4000 }, endpoints: ['plots'], at: [1] },
    ]);
    const recorder = stepRecorder();
    const retries: RetryInfo[] = [];
    const target = await lake('slow-headers');
    const output = await exportWith({
      simulator,
      ...target,
      runId: 'run-1',
      client: { requestTimeoutMs: 1000, onRetry: (info) => retries.push(info) },
      interceptStep: recorder.intercept,
    });
    expect(output.status).toBe('committed');
    expect(injected.count('slow-headers')).toBe(2);
    // Each slowed request was given up on at the timeout and asked again by the client; no step
    // had to retry it. (A loaded machine may time out other requests too: those are retried alike.)
    const timedOut = retries
      .filter((r) => r.error.name === 'PlutoUpstreamError')
      .map((r) => r.error.message.match(/^Pluto did not answer (\S+) within 1000 ms$/)?.[1]);
    for (const slowed of injected.fired) {
      expect(
        timedOut.some(
          (path) => path?.startsWith(`${slowed.path}?`) && path.includes(`offset=${slowed.offset}`),
        ),
      ).toBe(true);
    }
    const failed = recorder.calls.filter((c) => c.error !== undefined).map((c) => c.error?.name);
    expect(failed).toEqual(['PlutoForbiddenError']);
    expect(await lakeDigest(target.root)).toEqual(cleanDigest);
  });
});

describe('Pluto refuses one experiment or one plot', () => {
  it("skips the refused experiments with Pluto's detail in export_log and commits the others", async () => {
    const [a, b, c] = exportable();
    if (a === undefined || b === undefined || c === undefined) throw new Error('need three experiments');
    inject([
      { fault: { kind: 'refused', status: 404, detail: 'Not found.' }, experimentId: a },
      {
        fault: { kind: 'refused', status: 405, detail: 'Method "GET" not allowed.' },
        experimentId: b,
        endpoints: ['assay-data'],
      },
      {
        fault: {
          kind: 'refused',
          status: 403,
          detail: 'You do not have permission.',
          code: 'permission_denied',
        },
        experimentId: c,
        endpoints: ['sample-data'],
        minLimit: 2,
      },
    ]);
    const target = await lake('refused-experiments');
    const output = await exportWith({ simulator, ...target, runId: 'run-1' });
    expect(output).toMatchObject({ status: 'committed', experiments: { skipped: 4, failed: 0 } });
    const log = await queryLake(
      target.root,
      "select experiment_id, status, error_code, error_detail from export_log where dataset = 'experiment' order by 1",
    );
    // A refusal while planning reaches the Catch as Lambda reports it (name and message, which holds
    // Pluto's detail); one while paging is read back from the slot's failure record, code included.
    expect(log).toEqual(
      expect.arrayContaining([
        {
          experiment_id: a,
          status: 'skipped',
          error_code: 'PlutoNotFoundError',
          error_detail: `Pluto answered 404 for lab/experiments/${a}/: Not found.`,
        },
        {
          experiment_id: b,
          status: 'skipped',
          error_code: 'PlutoInactiveEndpointError',
          error_detail: `Pluto answered 405 for lab/experiments/${b}/assay-data/?limit=1&offset=0: Method "GET" not allowed.`,
        },
        {
          experiment_id: c,
          status: 'skipped',
          error_code: 'permission_denied',
          error_detail: 'You do not have permission.',
        },
      ]),
    );
    const committed = exportable().filter((id) => ![a, b, c].includes(id));
    expect(committed.length).toBeGreaterThan(0);
    for (const id of committed) {
      expect(await lakeDigest(target.root, { experimentId: id })).toEqual(
        await lakeDigest(clean.root, { experimentId: id }),
      );
    }
    const [pointed] = await queryLake(
      target.root,
      'select count(distinct experiment_id) as n from experiments',
    );
    expect(pointed?.n).toBe(committed.length);
  });

  it('skips an experiment and a plot answering 400 invalid_object_id, asking once, details kept', async () => {
    const [a, b] = exportable();
    const plot = simulator.truth.experiment(b ?? '').plots[0];
    if (a === undefined || b === undefined || plot === undefined) throw new Error('need two experiments');
    const injected = inject([
      { fault: { kind: 'invalid-object-id' }, experimentId: a },
      {
        fault: { kind: 'invalid-object-id', details: { plot_id: plot.uuid } },
        experimentId: b,
        plotId: plot.uuid,
      },
    ]);
    const target = await lake('invalid-object-id');
    const output = await exportWith({ simulator, ...target, runId: 'run-1' });
    expect(output).toMatchObject({ status: 'committed', experiments: { skipped: 2, failed: 0 } });
    // One request each: a 400 is retried neither by the client nor by the workflow.
    expect(injected.fired.map((f) => f.endpoint).sort()).toEqual(['experiment', 'plot-data']);
    const log = await queryLake(
      target.root,
      `select experiment_id, dataset, status, error_code, error_detail, error_details from export_log
       where (experiment_id = '${a}' and dataset = 'experiment') or dataset = 'plot-${plot.uuid}' order by 1`,
    );
    expect(log).toEqual([
      {
        experiment_id: a,
        dataset: 'experiment',
        status: 'skipped',
        error_code: 'PlutoInvalidObjectError',
        error_detail: `Pluto answered 400 for lab/experiments/${a}/: Invalid id: lab/experiments/${a}/ (invalid_object_id)`,
        error_details: null,
      },
      {
        experiment_id: b,
        dataset: `plot-${plot.uuid}`,
        status: 'skipped',
        error_code: 'invalid_object_id',
        error_detail: `Invalid id: lab/experiments/${b}/plots/${plot.uuid}/data/`,
        error_details: `{"plot_id":"${plot.uuid}"}`,
      },
    ]);
    const [exported] = await queryLake(
      target.root,
      `select count(distinct plot_id) as plots from results where experiment_id = '${b}'`,
    );
    expect(exported?.plots).toBe(simulator.truth.experiment(b).plots.length - 1);
  });

  it('commits an experiment without a refused plot, whose export_log row is skipped with the detail', async () => {
    const experiment = simulator.truth.exportable[0];
    const plot = experiment?.plots[0];
    if (experiment === undefined || plot === undefined) throw new Error('need a plot');
    inject([
      {
        fault: { kind: 'refused', status: 403, detail: 'This plot is private.' },
        experimentId: experiment.id,
        plotId: plot.uuid,
      },
    ]);
    const target = await lake('refused-plot');
    const output = await exportWith({ simulator, ...target, runId: 'run-1' });
    expect(output.status).toBe('committed');
    const log = await queryLake(
      target.root,
      `select dataset, plot_id, status, error_code, error_detail from export_log
       where experiment_id = '${experiment.id}' and dataset like 'plot-%' order by dataset`,
    );
    expect(log).toContainEqual({
      dataset: `plot-${plot.uuid}`,
      plot_id: plot.uuid,
      status: 'skipped',
      error_code: 'PlutoForbiddenError',
      error_detail: 'This plot is private.',
    });
    expect(log.filter((row) => row.status === 'exported')).toHaveLength(experiment.plots.length - 1);
    const [results] = await queryLake(
      target.root,
      `select count(*) filter (where plot_id = '${plot.uuid}') as refused, count(distinct plot_id) as plots
       from results where experiment_id = '${experiment.id}'`,
    );
    expect(results).toEqual({ refused: 0, plots: experiment.plots.length - 1 });
    const [plotRow] = await queryLake(
      target.root,
      `select result_rows from plots where plot_id = '${plot.uuid}'`,
    );
    expect(plotRow).toEqual({ result_rows: null });
    const digest = await lakeDigest(target.root, { experimentId: experiment.id });
    const reference = await lakeDigest(clean.root, { experimentId: experiment.id });
    expect(digest.samples).toEqual(reference.samples);
    expect(digest.assay).toEqual(reference.assay);
  });

  it('still skips a refusal whose body arrives damaged, with the HTTP status text as detail', async () => {
    const [forbidden] = simulator.truth.forbiddenExperimentIds;
    inject([{ fault: { kind: 'truncated-json' }, experimentId: forbidden, endpoints: ['experiment'] }]);
    const target = await lake('damaged-refusal');
    expect((await exportWith({ simulator, ...target, runId: 'run-1' })).status).toBe('committed');
    expect(
      await queryLake(
        target.root,
        `select status, error_code, error_detail from export_log where experiment_id = '${forbidden}'`,
      ),
    ).toEqual([
      {
        status: 'skipped',
        error_code: 'PlutoForbiddenError',
        error_detail: `Pluto answered 403 for lab/experiments/${forbidden}/: Forbidden`,
      },
    ]);
  });

  it('exports an empty dataset as zero rows, counted in export_log', async () => {
    const experiment = simulator.truth.exportable[0];
    const plot = experiment?.plots[0];
    if (experiment === undefined || plot === undefined) throw new Error('need a plot');
    inject([{ fault: { kind: 'empty-dataset' }, experimentId: experiment.id, plotId: plot.uuid }]);
    const target = await lake('empty-dataset');
    const output = await exportWith({ simulator, ...target, runId: 'run-1' });
    expect(output).toMatchObject({ status: 'committed', experiments: { failed: 0 } });
    const [log] = await queryLake(
      target.root,
      `select status, api_count, rows_written, parts from export_log where dataset = 'plot-${plot.uuid}'`,
    );
    // A differential expression plot: one (empty) part of results, one of differential_expression.
    expect(log).toEqual({ status: 'exported', api_count: 0, rows_written: 0, parts: 2 });
    const [counts] = await queryLake(
      target.root,
      `select (select count(*) from results where plot_id = '${plot.uuid}') as results,
              (select result_rows from plots where plot_id = '${plot.uuid}') as result_rows`,
    );
    expect(counts).toEqual({ results: 0, result_rows: 0 });
  });
});

describe('page drift', () => {
  type DriftKind = 'row-inserted' | 'row-deleted' | 'headers-changed' | 'shuffled' | 'long-page';
  const drifts: readonly [DriftKind, Partial<FaultRule>, RegExp][] = [
    [
      'row-inserted',
      { minLimit: 2, minOffset: FAST_SETTINGS.pageSize },
      /count changed from \d+ to \d+ while paging/,
    ],
    [
      'row-deleted',
      { minLimit: 2, minOffset: FAST_SETTINGS.pageSize },
      /count changed from \d+ to \d+ while paging/,
    ],
    [
      'headers-changed',
      { minLimit: 2, minOffset: FAST_SETTINGS.pageSize },
      /the header row changed while paging/,
    ],
    // The first page of the dataset: the plan's first-row digest is what can reveal a new order.
    [
      'shuffled',
      { minLimit: 2, maxOffset: 0 },
      /rows changed while paging \(row 0 is not the row planned: re-sorted or edited\)/,
    ],
    ['long-page', { minLimit: 2, maxOffset: 0 }, /more than the limit of 40 \(page longer than limit\)/],
  ];

  let drift: FolderLake;

  beforeAll(async () => {
    plan = undefined;
    drift = await lake('drift');
    expect((await exportWith({ simulator, ...drift, runId: 'run-1' })).status).toBe('committed');
  });

  it.each(drifts)(
    '%s fails the dataset with PageDriftError; the experiment commits as partial without it',
    async (kind, where, message) => {
      const [victim] = exportable();
      if (victim === undefined) throw new Error('no experiment');
      const runId = `run-${kind}`;
      const injected = inject([
        { fault: { kind }, experimentId: victim, endpoints: ['assay-data'], ...where },
      ]);
      const output = await exportWith({ simulator, ...drift, runId, full: true });
      expect(output).toMatchObject({ status: 'committed', experiments: { partial: 1, failed: 0 } });
      expect(injected.count(kind)).toBeGreaterThan(0);

      const [assayLog, experimentLog] = await queryLake(
        drift.root,
        `select dataset, status, error_code, error_detail from export_log
         where run_id = '${runId}' and experiment_id = '${victim}' and dataset in ('assay', 'experiment')
         order by dataset`,
      );
      expect(assayLog).toMatchObject({ status: 'failed', error_code: 'PageDriftError' });
      expect(String(assayLog?.error_detail)).toMatch(message);
      expect(experimentLog).toMatchObject({ status: 'partial', error_code: null });
      expect(await drift.store.head(commitRecordKey(runId, victim))).toBeDefined();
      expect(await drift.catalog.getPartition('assay', victim)).toBeUndefined();
      expect(await drift.catalog.getPartition('samples', victim)).toMatchObject({ runId });
      const {
        export_log: _victimLog,
        assay: victimAssay,
        ...victimTables
      } = await lakeDigest(drift.root, { experimentId: victim });
      const {
        export_log: _cleanVictimLog,
        assay: _cleanAssay,
        ...cleanVictimTables
      } = await lakeDigest(clean.root, { experimentId: victim });
      expect(victimTables).toEqual(cleanVictimTables);
      expect(victimAssay.rows).toBe(0);
      for (const other of exportable().filter((id) => id !== victim)) {
        expect(await drift.catalog.getPartition('assay', other)).toMatchObject({ runId });
        const { export_log: _otherLog, ...otherTables } = await lakeDigest(drift.root, {
          experimentId: other,
        });
        const { export_log: _cleanOtherLog, ...cleanOtherTables } = await lakeDigest(clean.root, {
          experimentId: other,
        });
        expect(otherTables).toEqual(cleanOtherTables);
      }
    },
  );

  it('reports the drift, not an earlier slot failure that a workflow Retry already overcame', async () => {
    const [victim] = exportable();
    if (victim === undefined) throw new Error('no experiment');
    inject([
      {
        fault: { kind: 'rate-limited', retryAfterSeconds: 600 },
        experimentId: victim,
        endpoints: ['assay-data'],
        minLimit: 2,
        maxOffset: 0,
        at: [1],
      },
      // Slot 1 at the earliest (a slot holds at least 42 rows here, pages 40).
      {
        fault: { kind: 'row-deleted' },
        experimentId: victim,
        endpoints: ['assay-data'],
        minLimit: 2,
        minOffset: 80,
      },
    ]);
    const output = await exportWith({
      simulator,
      ...drift,
      runId: 'run-recovered-then-drift',
      full: true,
      concurrency: 1,
    });
    expect(output).toMatchObject({ status: 'committed', experiments: { partial: 1, failed: 0 } });
    // The drift fails the assay alone, so its later slots are still read (and see the deletion too).
    const [first, ...later] = plan?.fired.map((f) => f.kind) ?? [];
    expect(first).toBe('rate-limited');
    expect(new Set(later)).toEqual(new Set(['row-deleted']));
    const [log] = await queryLake(
      drift.root,
      `select status, error_code, error_detail from export_log
       where run_id = 'run-recovered-then-drift' and experiment_id = '${victim}' and dataset = 'assay'`,
    );
    expect(log).toMatchObject({ status: 'failed', error_code: 'PageDriftError' });
    expect(String(log?.error_detail)).toMatch(/assay at offset \d+: count changed from \d+ to \d+/);
  });
});
