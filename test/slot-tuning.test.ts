/**
 * `--row-group-rows` and `--prefetch-pages` through the real command line: the row groups DuckDB
 * finds in each assay part are those asked for, and the cells are the simulator's whatever the
 * read-ahead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExportConfig } from '../functions/cli/export-command.js';
import { SETTINGS } from '../functions/core/settings.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';
import { type FolderLake, lakeRegistry } from './support/fault-harness.js';
import { plainDuckdb, queryLake } from './support/lake-query.js';

const ROW_GROUP_ROWS = 1_000;
const { lake, removeAll } = lakeRegistry();
let simulator: RunningSimulator;
let tuned: FolderLake;

/** Per assay part file: its rows and the rows of each of its row groups, in file order. */
async function assayRowGroups(root: string): Promise<{ rows: number; groups: number[] }[]> {
  const rows = await plainDuckdb(
    `SELECT file_name, row_group_id, any_value(row_group_num_rows)::INTEGER
     FROM parquet_metadata('${root}/data/assay/**/*.parquet')
     GROUP BY file_name, row_group_id ORDER BY file_name, row_group_id`,
  );
  const byFile = new Map<string, number[]>();
  for (const [file, , groupRows] of rows) {
    byFile.set(String(file), [...(byFile.get(String(file)) ?? []), Number(groupRows)]);
  }
  return [...byFile.values()].map((groups) => ({ rows: groups.reduce((a, b) => a + b, 0), groups }));
}

beforeAll(async () => {
  simulator = await startSimulator({ seed: 5, experiments: 2, genes: [1_500, 2_500], samples: [4, 6] });
  tuned = await lake('tuned');
  const result = await runCli(
    [
      'export',
      '--api-url',
      simulator.url,
      '--out',
      tuned.root,
      '--row-group-rows',
      String(ROW_GROUP_ROWS),
      '--prefetch-pages',
      '0',
    ],
    { PLUTO_API_TOKEN: simulator.truth.token },
  );
  expect(result.code, result.stderr).toBe(0);
});

afterAll(async () => {
  await simulator.close();
  await removeAll();
});

describe('slot tuning from the command line', () => {
  it('--row-group-rows 1000 cuts each assay part into row groups of 1,000 rows, the last one the rest', async () => {
    const parts = await assayRowGroups(tuned.root);
    const expectedCells = simulator.truth.exportable.map(
      (e) => e.assay.rowCount * (e.assay.headers.length - 1),
    );
    expect(parts.map((p) => p.rows).sort()).toEqual([...expectedCells].sort());
    for (const { rows, groups } of parts) {
      const whole = Math.floor(rows / ROW_GROUP_ROWS);
      const rest = rows % ROW_GROUP_ROWS;
      expect(groups).toEqual([...Array(whole).fill(ROW_GROUP_ROWS), ...(rest === 0 ? [] : [rest])]);
      expect(groups.length).toBeGreaterThan(5);
    }
  });

  it('--prefetch-pages 0 exports every assay cell as the simulator serves it', async () => {
    for (const experiment of simulator.truth.exportable) {
      const { assay } = experiment;
      const back = await queryLake(
        tuned.root,
        `SELECT row_number, sample_id, value, value_text FROM assay
         WHERE experiment_id = '${experiment.id}' ORDER BY row_number, sample_id`,
      );
      const expected = Array.from({ length: assay.rowCount }, (_, row) =>
        assay.headers.slice(1).map((sample, column) => ({ row, sample, cell: assay.cell(row, column + 1) })),
      )
        .flat()
        .sort((a, b) => a.row - b.row || (a.sample < b.sample ? -1 : a.sample > b.sample ? 1 : 0));
      expect(back).toHaveLength(expected.length);
      back.forEach((got, i) => {
        const want = expected[i];
        expect([got.row_number, got.sample_id]).toEqual([want?.row, want?.sample]);
        const cell = want?.cell;
        if (typeof cell === 'number') expect([got.value, got.value_text]).toEqual([cell, null]);
        else if (cell === null) expect([got.value, got.value_text]).toEqual([null, null]);
        else if (got.value_text === null) expect(got.value).toBe(Number(cell));
        else expect([got.value, got.value_text]).toEqual([null, cell]);
      });
    }
  });

  it('bad values are one line naming the option; the defaults are the settings', () => {
    expect(() => parseExportConfig({ 'row-group-rows': '0' })).toThrow(
      '--row-group-rows: Too small: expected number to be >=1',
    );
    expect(() => parseExportConfig({ 'prefetch-pages': '9' })).toThrow(
      `--prefetch-pages: Too big: expected number to be <=${SETTINGS.prefetchPages.max}`,
    );
    const defaults = parseExportConfig({});
    expect([defaults.rowGroupRows, defaults.prefetchPages]).toEqual([
      SETTINGS.rowGroupRows.default,
      SETTINGS.prefetchPages.default,
    ]);
  });
});
