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

async function exportVariants(variants: readonly SimulatorVariant[], name: string) {
  const simulator = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION, variants });
  const target = await lake(name);
  try {
    const output = await exportWith({ simulator, ...target, runId: 'run-1' });
    const statuses = await queryLake(
      target.root,
      `select experiment_id, dataset, status, error_detail from export_log where dataset like 'plot-%'`,
    );
    return { simulator, target, output, statuses, signed: simulator.requests.byEndpoint.signed ?? 0 };
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

  it('all variants at once: every table that could be exported is committed', async () => {
    const { simulator, target, output, statuses } = await exportVariants(SIMULATOR_VARIANTS, 'all');
    expect(output).toMatchObject({ status: 'committed', experiments: { partial: 0, failed: 0 } });
    const extra = new Set(
      simulator.truth.exportable.flatMap((e) => e.plots.slice(e.plots.length - 2).map((plot) => plot.uuid)),
    );
    const counts = new Map<string, number>();
    for (const row of statuses) counts.set(String(row.status), (counts.get(String(row.status)) ?? 0) + 1);
    const plots = simulator.truth.exportable.reduce((sum, e) => sum + e.plots.length, 0);
    expect(Object.fromEntries(counts)).toEqual({
      exported: plots - simulator.truth.exportable.length,
      no_data: simulator.truth.exportable.length,
    });
    const tables = await tablesOf(target, extra);
    expect(tables).toMatchObject({ samples: cleanDigest.samples, assay: cleanDigest.assay });
    const shared = simulator.truth.exportable.reduce((sum, e) => {
      const data = e.results.get(e.plots.at(-2)?.uuid ?? '');
      return sum + (data === undefined ? 0 : data.rowCount * (data.headers.length - 1));
    }, 0);
    expect(tables.resultsOfExtraPlots).toBe(shared);
  });
});
