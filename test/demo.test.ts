/**
 * The export `npm start` runs without a token, on its own demo organisation (same seed, experiments,
 * forbidden experiment and variants; fewer genes and samples): the summary and export_log show the
 * image plot as no_data and the PCA plot exported.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEMO_SIMULATOR, exportDemo } from '../functions/cli/demo.js';
import { queryLake } from './support/lake-query.js';

let root: string;
let code: number;
let summary: string[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pluto-demo-'));
  const printed: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    code = await exportDemo(join(root, 'demo-lake'), { ...DEMO_SIMULATOR, genes: [60, 90], samples: [4, 6] });
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  summary = printed.join('').split('\n');
});

afterAll(() => rm(root, { recursive: true, force: true }));

describe("npm start's demo export", () => {
  it('summarises four exported experiments, each with one no_data dataset (the image plot), and the forbidden one skipped', () => {
    expect(code).toBe(0);
    const rows = summary.filter((line) => /^PLX\d{6} /.test(line)).map((line) => line.split(/\s{2,}/));
    // Besides the image, every dataset (samples, assay, the other plots, metadata, files) exported.
    expect(rows.map(([, status]) => status).sort()).toEqual([
      'exported',
      'exported',
      'exported',
      'exported',
      'skipped',
    ]);
    for (const [, status, datasets] of rows) {
      if (status === 'exported') expect(datasets).toMatch(/^\d+ exported, 1 no_data$/);
    }
    expect(summary.find((line) => line.startsWith('run '))).toMatch(
      / committed in .*: 4 exported, 0 partial, 0 unchanged, 1 skipped, 0 failed -> /,
    );
  });

  it('records the image plot as no_data (image/png) and the PCA plot (sample_scatter_plot) as exported', async () => {
    const rows = await queryLake(
      join(root, 'demo-lake'),
      `select p.display_type, l.status, l.error_detail, p.result_rows
       from plots p join export_log l on l.experiment_id = p.experiment_id and l.plot_id = p.plot_id
       order by p.display_type, p.experiment_id`,
    );
    const byType = (type: string) => rows.filter((row) => row.display_type === type);
    expect(byType('image')).toHaveLength(4);
    for (const row of byType('image')) {
      expect(row.status).toBe('no_data');
      expect(String(row.error_detail)).toMatch(/ is image\/png, not a table$/);
    }
    expect(byType('sample_scatter_plot').map((row) => row.status)).toEqual(Array(4).fill('exported'));
    for (const row of byType('sample_scatter_plot')) expect(row.result_rows).toBeGreaterThanOrEqual(4);
    expect(byType('volcano_plot_v2').map((row) => row.status)).toEqual(Array(4).fill('exported'));
  });
});
