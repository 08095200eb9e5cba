/** One dataset never sinks an experiment: a plot that breaks is `failed`, the rest commits, the next run mends it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFaultPlan,
  type ExperimentTruth,
  type FaultPlan,
  type RunningSimulator,
  startSimulator,
} from '../functions/simulator/index.js';
import { exportWith, type FolderLake, lakeRegistry, SMALL_ORGANISATION } from './support/fault-harness.js';
import { queryLake } from './support/lake-query.js';

let simulator: RunningSimulator;
let plan: FaultPlan | undefined;
let target: FolderLake;
let experiment: ExperimentTruth;
const { lake, removeAll } = lakeRegistry();

beforeAll(async () => {
  simulator = await startSimulator({ seed: 23, ...SMALL_ORGANISATION, faults: (r) => plan?.hook(r) });
  experiment = simulator.truth.exportable[0] ?? expect.unreachable();
  target = await lake('partial');
});

afterAll(async () => {
  await simulator?.close();
  await removeAll();
});

const cellsOf = (rows: number, headers: readonly string[]) => rows * (headers.length - 1);

describe('an experiment with one failing plot', () => {
  it('commits samples, assay and the other plots as partial, then fetches only the failed plot next run', async () => {
    const broken = experiment.plots[0] ?? expect.unreachable();
    const brokenData = experiment.results.get(broken.uuid) ?? expect.unreachable();
    // The plot's header row changes while it is paged: PageDriftError, which no retry can mend.
    plan = createFaultPlan([
      { fault: { kind: 'headers-changed' }, experimentId: experiment.id, plotId: broken.uuid, minLimit: 2 },
    ]);
    const first = await exportWith({ simulator, ...target, runId: 'run-1' });
    expect(first).toMatchObject({ status: 'committed', experiments: { partial: 1, failed: 0 } });
    expect(first.experiments.exported).toBe(simulator.truth.exportable.length - 1);

    const log = await queryLake(
      target.root,
      `select dataset, status, error_code, rows_written from export_log
       where run_id = 'run-1' and experiment_id = '${experiment.id}' order by dataset`,
    );
    const byDataset = new Map(log.map((row) => [row.dataset, row]));
    expect(byDataset.get('experiment')).toMatchObject({ status: 'partial' });
    expect(byDataset.get(`plot-${broken.uuid}`)).toMatchObject({
      status: 'failed',
      error_code: 'PageDriftError',
      rows_written: 0,
    });
    expect(byDataset.get('samples')).toMatchObject({ status: 'exported' });
    expect(byDataset.get('assay')).toMatchObject({
      status: 'exported',
      rows_written: cellsOf(experiment.assay.rowCount, experiment.assay.headers),
    });
    const plotStatuses = log
      .filter((row) => String(row.dataset).startsWith('plot-'))
      .map((row) => row.status);
    expect(plotStatuses.sort()).toEqual([
      ...Array.from({ length: experiment.plots.length - 1 }, () => 'exported'),
      'failed',
    ]);

    const [queryable] = await queryLake(
      target.root,
      `select (select count(*) from assay where experiment_id = '${experiment.id}') as assay,
              (select count(*) from results where plot_id = '${broken.uuid}') as broken,
              (select count(distinct plot_id) from results where experiment_id = '${experiment.id}') as plots`,
    );
    expect(queryable).toEqual({
      assay: cellsOf(experiment.assay.rowCount, experiment.assay.headers),
      broken: 0,
      plots: experiment.plots.length - 1,
    });

    plan.stop();
    plan = undefined;
    simulator.requests.reset();
    const second = await exportWith({ simulator, ...target, runId: 'run-2' });
    expect(second).toMatchObject({
      status: 'committed',
      experiments: { exported: 1, partial: 0, unchanged: simulator.truth.exportable.length - 1 },
    });
    // Planning reads one row at each end of every dataset; only the mended plot is paged in full.
    const paged = simulator.requests.recent.filter((r) => !/[?&]limit=1(&|$)/.test(r.query));
    expect(new Set(paged.filter((r) => r.endpoint.endsWith('data')).map((r) => r.path))).toEqual(
      new Set([`lab/experiments/${experiment.id}/plots/${broken.uuid}/data/`]),
    );
    const mended = await queryLake(
      target.root,
      `select dataset, status from export_log where run_id = 'run-2' and experiment_id = '${experiment.id}'
       and dataset in ('experiment', 'assay', 'plot-${broken.uuid}') order by dataset`,
    );
    expect(mended).toEqual([
      { dataset: 'assay', status: 'unchanged' },
      { dataset: 'experiment', status: 'exported' },
      { dataset: `plot-${broken.uuid}`, status: 'exported' },
    ]);
    const [after] = await queryLake(
      target.root,
      `select (select count(*) from assay where experiment_id = '${experiment.id}') as assay,
              (select count(*) from results where plot_id = '${broken.uuid}') as broken`,
    );
    expect(after).toEqual({
      assay: cellsOf(experiment.assay.rowCount, experiment.assay.headers),
      broken: cellsOf(brokenData.rowCount, brokenData.headers),
    });
  });
});
