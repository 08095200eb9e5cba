/**
 * The whole product as a user runs it: the simulator, then `pluto-export export`, then queries
 * over the lake, compared value by value with the simulator's ground truth.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLE_NAMES } from '../functions/core/contract.js';
import { isDifferentialExpression } from '../functions/core/melt.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';
import { numericCell, sampleCell, tidyCells } from './support/expected.js';
import { snapshotFiles } from './support/lake-files.js';
import { queryLakeJson } from './support/lake-query.js';

type Row = Record<string, unknown>;

let simulator: RunningSimulator;
let root: string;

const query = (sql: string): Promise<Row[]> => queryLakeJson(root, sql);

const byKey = (a: Row, b: Row) => {
  const ka = JSON.stringify(Object.values(a));
  const kb = JSON.stringify(Object.values(b));
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

beforeAll(async () => {
  simulator = await startSimulator({ seed: 7, experiments: 4, genes: [120, 260], samples: [4, 9] });
  root = await mkdtemp(join(tmpdir(), 'pluto-e2e-'));
  const result = await runCli(
    ['export', '--api-url', simulator.url, '--out', root, '--run-id', 'run-1', '--rows-per-part', '700'],
    { PLUTO_API_TOKEN: simulator.truth.token },
  );
  expect(result.stderr).not.toContain(simulator.truth.token);
  expect(result.code, result.stderr).toBe(0);
});

afterAll(async () => {
  await simulator?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('export against the simulator, then query', () => {
  it('exports every assay cell with the contract value rules, keys unique', async () => {
    for (const experiment of simulator.truth.exportable) {
      const rows = await query(
        `select row_number, feature_id, feature_kind, sample_id, value, value_text from assay where experiment_id = '${experiment.id}'`,
      );
      const expected = [...tidyCells(experiment.assay)].map((cell) => {
        const { value, valueText } = numericCell(cell.cell);
        return {
          row_number: cell.rowNumber,
          feature_id: cell.key,
          feature_kind: experiment.assay.headers[0],
          sample_id: cell.column,
          value,
          value_text: valueText,
        };
      });
      expect(rows.length).toBe(experiment.assay.rowCount * (experiment.assay.headers.length - 1));
      expect(rows.sort(byKey)).toEqual(expected.sort(byKey));
    }
    const [keys] = await query(
      'select count(*) as n, count(distinct (experiment_id, row_number, sample_id)) as k from assay',
    );
    expect(keys?.n).toBe(keys?.k);
    const [special] = await query(
      "select count(*) filter (where value_text in ('NA', 'NaN', 'Inf')) as text_cells from assay",
    );
    expect(Number(special?.text_cells)).toBeGreaterThanOrEqual(3 * simulator.truth.exportable.length);
  });

  it('exports sample metadata as text with numbers beside it, big integers exact', async () => {
    for (const experiment of simulator.truth.exportable) {
      const rows = await query(
        `select row_number, sample_id, attribute, value, value_number from samples where experiment_id = '${experiment.id}'`,
      );
      const expected = [...tidyCells(experiment.samples)].map((cell) => {
        const { value, valueNumber } = sampleCell(cell.cell);
        return {
          row_number: cell.rowNumber,
          sample_id: cell.key,
          attribute: cell.column,
          value,
          value_number: valueNumber,
        };
      });
      expect(rows.sort(byKey)).toEqual(expected.sort(byKey));
    }
    const [barcode] = await query("select value from samples where attribute = 'library_barcode' limit 1");
    expect(String(barcode?.value)).toMatch(/^\d{19}$/);
  });

  it('exports every plot result, and the differential expression table typed', async () => {
    for (const experiment of simulator.truth.exportable) {
      for (const plot of experiment.plots) {
        const dataset = experiment.results.get(plot.uuid);
        if (dataset === undefined) throw new Error(`no truth for ${plot.uuid}`);
        const rows = await query(
          `select row_number, feature_id, column_name, value, value_text from results
           where experiment_id = '${experiment.id}' and plot_id = '${plot.uuid}'`,
        );
        const expected = [...tidyCells(dataset)].map((cell) => {
          const { value, valueText } = numericCell(cell.cell);
          return {
            row_number: cell.rowNumber,
            feature_id: cell.key,
            column_name: cell.column,
            value,
            value_text: valueText,
          };
        });
        expect(rows.sort(byKey)).toEqual(expected.sort(byKey));

        const de = await query(
          `select feature_id, log2_fold_change, adj_p_value from differential_expression
           where experiment_id = '${experiment.id}' and plot_id = '${plot.uuid}'`,
        );
        if (!isDifferentialExpression(dataset.headers)) {
          expect(de).toEqual([]);
          continue;
        }
        const log2 = dataset.headers.indexOf('Log2_Fold_Change');
        const adj = dataset.headers.indexOf('Adj_P_Value');
        const expectedDe = Array.from({ length: dataset.rowCount }, (_, i) => {
          const cells = dataset.row(i);
          return {
            feature_id: String(cells[0]),
            log2_fold_change: numericCell(cells[log2]).value,
            adj_p_value: numericCell(cells[adj]).value,
          };
        });
        expect(de.sort(byKey)).toEqual(expectedDe.sort(byKey));
      }
    }
  });

  it('exports one experiments row and the plots of each exportable experiment', async () => {
    const experiments = await query(
      'select experiment_id, project_id, name, sample_rows, assay_rows, plot_count, run_id from experiments order by experiment_id',
    );
    const exportable = [...simulator.truth.exportable].sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(experiments).toEqual(
      exportable.map((e) => ({
        experiment_id: e.id,
        project_id: e.projectId,
        name: e.metadata.name,
        sample_rows: e.samples.rowCount,
        assay_rows: e.assay.rowCount,
        plot_count: e.metadata.plot_count ?? null,
        run_id: 'run-1',
      })),
    );
    const plots = await query('select experiment_id, plot_id, result_rows from plots');
    const expectedPlots = exportable.flatMap((e) =>
      e.plots.map((p) => ({
        experiment_id: e.id,
        plot_id: p.uuid,
        result_rows: e.results.get(p.uuid)?.rowCount,
      })),
    );
    expect(plots.sort(byKey)).toEqual(expectedPlots.sort(byKey));
  });

  it('names the analysis behind every results and differential_expression row (analysis_id)', async () => {
    const rows = await query(
      `select 'results' as source, plot_id, analysis_id, count(*) as n from results group by all
       union all
       select 'differential_expression', plot_id, analysis_id, count(*) from differential_expression group by all`,
    );
    const analysisOf = new Map(
      simulator.truth.exportable.flatMap((e) => e.plots.map((p) => [p.uuid, p.analysis?.uuid])),
    );
    expect(rows.length).toBeGreaterThan(analysisOf.size);
    for (const row of rows) {
      expect(row.analysis_id, `${row.source} ${row.plot_id}`).toBe(analysisOf.get(String(row.plot_id)));
    }
  });

  it("records the forbidden experiment as skipped with Pluto's detail, and every exported dataset", async () => {
    const forbidden = simulator.truth.forbiddenExperimentIds[0];
    const skipped = await query(
      `select status, error_code, error_detail from export_log where experiment_id = '${forbidden}'`,
    );
    expect(skipped).toEqual([
      {
        status: 'skipped',
        error_code: 'PlutoForbiddenError',
        error_detail: expect.stringContaining('You do not have permission to perform this action.'),
      },
    ]);
    const assayLog = await query(
      "select experiment_id, api_count, rows_written from export_log where dataset = 'assay' order by experiment_id",
    );
    expect(assayLog).toEqual(
      [...simulator.truth.exportable]
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map((e) => ({
          experiment_id: e.id,
          api_count: e.assay.rowCount,
          rows_written: e.assay.rowCount * (e.assay.headers.length - 1),
        })),
    );
  });

  it('answers query --json from the command line, one view per table', async () => {
    const result = await runCli([
      'query',
      '--lake',
      root,
      '--json',
      `select ${TABLE_NAMES.map((t) => `(select count(*) from ${t}) as ${t}`).join(', ')}`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const [counts] = JSON.parse(result.stdout) as Row[];
    const truth = simulator.truth.exportable;
    const cells = (d: { rowCount: number; headers: readonly string[] }) =>
      d.rowCount * (d.headers.length - 1);
    expect(counts).toMatchObject({
      experiments: truth.length,
      samples: truth.reduce((s, e) => s + cells(e.samples), 0),
      assay: truth.reduce((s, e) => s + cells(e.assay), 0),
      plots: truth.reduce((s, e) => s + e.plots.length, 0),
      results: truth.reduce((s, e) => s + [...e.results.values()].reduce((t, d) => t + cells(d), 0), 0),
    });
  });

  it('changes and duplicates nothing when re-run with the same --run-id', async () => {
    const before = await snapshotFiles(root);
    simulator.requests.reset();
    const again = await runCli(['export', '--api-url', simulator.url, '--out', root, '--run-id', 'run-1'], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(again.code, again.stderr).toBe(0);
    expect(await snapshotFiles(root)).toEqual(before);
    expect(simulator.requests.total).toBe(0);
  });

  it('writes no data on a new run when nothing changed, and all experiments are unchanged', async () => {
    const parts = async () =>
      (await readdir(join(root, 'data'), { recursive: true })).filter((f) => f.endsWith('.parquet'));
    const before = await parts();
    const result = await runCli(['export', '--api-url', simulator.url, '--out', root, '--run-id', 'run-2'], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(result.code, result.stderr).toBe(0);
    const added = (await parts()).filter((file) => !before.includes(file));
    expect(added).toEqual(['export_log/run_id=run-2/part-export_log-00000.parquet']);
    const statuses = await query(
      "select status, count(*) as n from export_log where run_id = 'run-2' and dataset = 'experiment' group by 1 order by 1",
    );
    expect(statuses).toEqual([
      { status: 'skipped', n: 1 },
      { status: 'unchanged', n: simulator.truth.exportable.length },
    ]);
  });
});

/** A port on which nothing listens: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('a bad token', () => {
  it('exits 1 with one line naming PLUTO_API_TOKEN, publishes nothing, and never prints the token', async () => {
    const lake = await mkdtemp(join(tmpdir(), 'pluto-badtoken-'));
    for (const wrongToken of ['x'.repeat(40), 'not-a-pluto-key']) {
      const result = await runCli(['export', '--api-url', simulator.url, '--out', lake], {
        PLUTO_API_TOKEN: wrongToken,
      });
      expect(result.code).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^pluto-export: Pluto rejected the API token .*PLUTO_API_TOKEN/);
      expect(result.stdout + result.stderr).not.toContain(wrongToken);
      expect(await snapshotFiles(lake)).toEqual({});
    }
    await rm(lake, { recursive: true, force: true });
  });

  it('exits 2 at once, naming the URL, when nothing answers at --api-url', async () => {
    const lake = await mkdtemp(join(tmpdir(), 'pluto-unreachable-'));
    const port = await closedPort();
    const result = await runCli(['export', '--api-url', `http://127.0.0.1:${port}/`, '--out', lake], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `pluto-export: Cannot reach Pluto at http://127.0.0.1:${port}/ (connect ECONNREFUSED 127.0.0.1:${port} (ECONNREFUSED)): check the API URL and the network`,
    );
    expect(await snapshotFiles(lake)).toEqual({});
    await rm(lake, { recursive: true, force: true });
  });

  it('exits 2 naming PLUTO_API_TOKEN when it is not set', async () => {
    const result = await runCli([
      'export',
      '--api-url',
      simulator.url,
      '--out',
      join(tmpdir(), 'never-written'),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^pluto-export: PLUTO_API_TOKEN is not set/);
  });
});

describe('README', () => {
  it('has example SQL that runs against an exported lake and returns rows', async () => {
    const readme = await readFile('README.md', 'utf8');
    const block = /```sql\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const statements = block
      .split(';')
      .map((statement) => statement.replace(/--.*$/gm, '').trim())
      .filter((statement) => statement !== '');
    expect(statements.length).toBeGreaterThanOrEqual(8);
    for (const sql of statements) {
      const rows = await query(sql);
      expect(rows.length, sql).toBeGreaterThan(0);
    }
  });
});
