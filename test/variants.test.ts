/**
 * Every uncertain behaviour of the real API, switched on in the simulator one at a time and all
 * together, exported end to end: every table that can be exported equals a clean export, and
 * export_log names each dataset's status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TableName } from '../functions/core/contract.js';
import { SIMULATOR_VARIANTS, type SimulatorVariant, startSimulator } from '../functions/simulator/index.js';
import {
  exportWith,
  type FolderLake,
  lakeDigest,
  lakeRegistry,
  SMALL_ORGANISATION,
  type TableDigest,
} from './support/fault-harness.js';
import { queryLake } from './support/lake-query.js';

const SEED = 31;
const { lake, removeAll } = lakeRegistry();
let cleanDigest: Record<TableName, TableDigest>;

async function exportVariants(
  variants: readonly SimulatorVariant[],
  name: string,
  options: { genes?: readonly [number, number]; unpagedRowLimit?: number } = {},
) {
  const simulator = await startSimulator({
    seed: SEED,
    ...SMALL_ORGANISATION,
    ...(options.genes === undefined ? {} : { genes: options.genes }),
    variants,
  });
  const target = await lake(name);
  try {
    const output = await exportWith({
      simulator,
      ...target,
      runId: 'run-1',
      ...(options.unpagedRowLimit === undefined
        ? {}
        : { client: { unpagedRowLimit: options.unpagedRowLimit } }),
    });
    const statuses = await queryLake(
      target.root,
      `select experiment_id, dataset, status, error_detail from export_log where dataset like 'plot-%'`,
    );
    return {
      simulator,
      target,
      output,
      statuses,
      signed: simulator.requests.byEndpoint.signed ?? 0,
      plotDataQueries: simulator.requests.recent
        .filter((request) => request.endpoint === 'plot-data')
        .map((request) => `${request.path}${request.query}`),
    };
  } finally {
    await simulator.close();
  }
}

/** What readers see of the tables every variant must leave as a clean export has them. */
async function tablesOf(target: FolderLake, plotIds?: ReadonlySet<string>) {
  const digest = await lakeDigest(target.root);
  const { samples, assay, results, differential_expression } = digest;
  if (plotIds === undefined) return { samples, assay, results, differential_expression };
  const [kept] = await queryLake(
    target.root,
    `select count(*) as n from results where plot_id in (${[...plotIds].map((id) => `'${id}'`).join(',')})`,
  );
  return { samples, assay, resultsOfExtraPlots: kept?.n };
}

beforeAll(async () => {
  const clean = await lake('clean');
  const simulator = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION });
  try {
    expect((await exportWith({ simulator, ...clean, runId: 'run-1' })).status).toBe('committed');
  } finally {
    await simulator.close();
  }
  cleanDigest = await lakeDigest(clean.root);
  expect(cleanDigest.results.rows).toBeGreaterThan(0);
});

afterAll(() => removeAll());

describe('simulator variants exported end to end', () => {
  it.each(['paging-ignored', 'signed-url-csv', 'signed-url-json'] as const)(
    '%s: every table equals a clean export, every plot exported',
    async (variant) => {
      const { target, output, statuses, signed } = await exportVariants([variant], variant);
      expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
      expect(statuses.every((row) => row.status === 'exported')).toBe(true);
      const { samples, assay, results, differential_expression } = cleanDigest;
      expect(await tablesOf(target)).toEqual({ samples, assay, results, differential_expression });
      // The simulator refuses a signed URL fetched with an Authorization header (400), as S3 does.
      expect(signed > 0).toBe(variant !== 'paging-ignored');
    },
  );

  it('image-plot: the image is no_data naming its content type, everything else as clean', async () => {
    const { simulator, target, output, statuses } = await exportVariants(['image-plot'], 'image-plot');
    expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
    const images = simulator.truth.exportable.flatMap((e) => [...e.images]);
    expect(images).toHaveLength(simulator.truth.exportable.length);
    const noData = statuses.filter((row) => row.status === 'no_data');
    expect(noData.map((row) => row.dataset).sort()).toEqual(images.map((id) => `plot-${id}`).sort());
    for (const row of noData) expect(String(row.error_detail)).toMatch(/ is image\/png, not a table$/);
    expect(statuses.filter((row) => row.status !== 'no_data').every((row) => row.status === 'exported')).toBe(
      true,
    );
    const { samples, assay, results, differential_expression } = cleanDigest;
    expect(await tablesOf(target)).toEqual({ samples, assay, results, differential_expression });
  });

  it('shared-analysis: the second plot repeats the analysis rows under its own plot_id, same analysis_id', async () => {
    const { simulator, target, output } = await exportVariants(['shared-analysis'], 'shared-analysis');
    expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
    const rows = await queryLake(
      target.root,
      `select analysis_id, count(distinct plot_id) as plots, count(*) as n,
              count(distinct (feature_id, column_name, value, value_text)) as distinct_cells
       from results where analysis_type = 'differential_expression' group by analysis_id`,
    );
    expect(rows).toHaveLength(simulator.truth.exportable.length);
    for (const row of rows) {
      expect(row.plots).toBe(2);
      expect(row.n).toBe(2 * Number(row.distinct_cells));
    }
  });

  it.each([
    ['pending-analysis', / is pending: it has no results yet$/],
    ['external-plot', / has no columns: the plot has no table$/],
  ] as const)(
    '%s: the plot without a table is no_data with its reason, everything else as clean',
    async (variant, reason) => {
      const { simulator, target, output, statuses, plotDataQueries } = await exportVariants(
        [variant],
        variant,
      );
      expect(output).toMatchObject({
        status: 'committed',
        experiments: { exported: 4, partial: 0, failed: 0 },
      });
      const tableless = simulator.truth.exportable.flatMap((e) => [...e.tableless]);
      expect(tableless).toHaveLength(simulator.truth.exportable.length);
      const noData = statuses.filter((row) => row.status === 'no_data');
      expect(noData.map((row) => row.dataset).sort()).toEqual(tableless.map((id) => `plot-${id}`).sort());
      for (const row of noData) expect(String(row.error_detail)).toMatch(reason);
      expect(
        statuses.filter((row) => row.status !== 'no_data').every((row) => row.status === 'exported'),
      ).toBe(true);
      // A pending analysis is known from the plot list: its data is never asked for.
      const askedForTableless = plotDataQueries.filter((query) => tableless.some((id) => query.includes(id)));
      expect(askedForTableless.length > 0).toBe(variant === 'external-plot');
      const { samples, assay, results, differential_expression } = cleanDigest;
      expect(await tablesOf(target)).toEqual({ samples, assay, results, differential_expression });
    },
  );

  it('plot-data-without-count: plot data is read in one request of limit=100000, every table as clean', async () => {
    const { target, output, statuses, plotDataQueries } = await exportVariants(
      ['plot-data-without-count'],
      'countless',
    );
    expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
    expect(statuses.every((row) => row.status === 'exported')).toBe(true);
    const unpaged = plotDataQueries.filter((query) => query.endsWith('?limit=100000&offset=0'));
    // Twice per plot: once to plan it, once by its one slot.
    expect(unpaged).toHaveLength(2 * statuses.length);
    const { samples, assay, results, differential_expression } = cleanDigest;
    expect(await tablesOf(target)).toEqual({ samples, assay, results, differential_expression });
  });

  it('plot-data-without-count: an answer of exactly the limit may be cut, so that plot fails and the rest commits', async () => {
    const rows = 60;
    const { simulator, target, output, statuses } = await exportVariants(['plot-data-without-count'], 'cut', {
      genes: [rows, rows],
      unpagedRowLimit: rows,
    });
    const experiments = simulator.truth.exportable.length;
    expect(output).toMatchObject({ status: 'committed', experiments: { exported: 0, partial: experiments } });
    const cut = simulator.truth.exportable.map((e) => `plot-${e.plots[0]?.uuid}`);
    const failed = statuses.filter((row) => row.status === 'failed');
    expect(failed.map((row) => row.dataset).sort()).toEqual(cut.sort());
    for (const row of failed) {
      expect(row.error_detail).toBe(
        `Pluto sent plot data without a count for lab/experiments/${row.experiment_id}/${String(row.dataset).replace('plot-', 'plots/')}/data/?limit=${rows}&offset=0, and exactly the ${rows} rows asked for: the table may be cut, so it was not exported`,
      );
    }
    expect(statuses.filter((row) => row.status !== 'failed').every((row) => row.status === 'exported')).toBe(
      true,
    );
    const [committed] = await queryLake(
      target.root,
      `select count(distinct experiment_id) as experiments, count(*) filter (where feature_id is null) as nulls,
              count(distinct plot_id) as plots from results`,
    );
    expect(committed).toEqual({ experiments, nulls: 0, plots: statuses.length - failed.length });
    const [samples] = await queryLake(target.root, 'select count(distinct experiment_id) as n from samples');
    expect(samples?.n).toBe(experiments);
  });

  it('all variants at once: every table that could be exported is committed', async () => {
    const { simulator, target, output, statuses } = await exportVariants(SIMULATOR_VARIANTS, 'all');
    expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
    const { exportable } = simulator.truth;
    const withoutTable = new Set(exportable.flatMap((e) => [...e.images, ...e.tableless]));
    const sharedPlots = exportable.flatMap((e) => {
      const de = e.plots[0];
      return e.plots.filter((plot) => plot !== de && plot.analysis?.uuid === de?.analysis?.uuid);
    });
    const counts = new Map<string, number>();
    for (const row of statuses) counts.set(String(row.status), (counts.get(String(row.status)) ?? 0) + 1);
    const plots = exportable.reduce((sum, e) => sum + e.plots.length, 0);
    expect(withoutTable.size).toBe(3 * exportable.length);
    expect(Object.fromEntries(counts)).toEqual({
      exported: plots - withoutTable.size,
      no_data: withoutTable.size,
    });
    const tables = await tablesOf(
      target,
      new Set([...withoutTable, ...sharedPlots.map((plot) => plot.uuid)]),
    );
    expect(tables).toMatchObject({ samples: cleanDigest.samples, assay: cleanDigest.assay });
    expect(sharedPlots).toHaveLength(exportable.length);
    const shared = exportable.reduce((sum, e) => {
      // With download-more-columns the shared plot's results are its wider download.
      const data = e.downloads.get(e.plots[0]?.uuid ?? '');
      return sum + (data === undefined ? 0 : data.rowCount * (data.headers.length - 1));
    }, 0);
    expect(tables.resultsOfExtraPlots).toBe(shared);
  });
});
