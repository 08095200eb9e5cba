/**
 * Daily runs that cost nothing when nothing changed: change detection, missing experiments and
 * the run history, against the simulator over HTTP and the local lake. Each case has its own
 * simulator and lake, exported once as day-1 before the case changes anything.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listRuns } from '../functions/core/history.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import type { FinalizeOutput, RunInput } from '../functions/core/workflow/messages.js';
import { openLake } from '../functions/local/lake-location.js';
import { runLocalExport } from '../functions/local/local-export.js';
import { type ExperimentTruth, type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';
import { queryLakeJson } from './support/lake-query.js';
import { fixedSecret } from './support/secrets.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A simulated lab and a lake holding its first export, day-1; `cleanup` gets what removes them. */
async function exportedLab(cleanup: (() => Promise<void>)[] = cleanups) {
  const simulator: RunningSimulator = await startSimulator({
    seed: 11,
    experiments: 5,
    genes: [150, 300],
    samples: [4, 7],
  });
  const root = await mkdtemp(join(tmpdir(), 'pluto-incremental-'));
  cleanup.push(async () => {
    await simulator.close();
    await rm(root, { recursive: true, force: true });
  });

  async function exportRun(runId: string, extra: Partial<RunInput> = {}): Promise<FinalizeOutput> {
    const { store, catalog } = await openLake(root);
    return runLocalExport({
      input: { runId, ...extra },
      store,
      catalog,
      pluto: createPlutoClient({
        baseUrl: simulator.url,
        secrets: fixedSecret(simulator.truth.token),
        version: 'test',
      }),
      settings: {
        rowsPerPart: 500,
        pageSize: 100,
        rowGroupRows: 131_072,
        prefetchPages: 1,
        leaseTtlMs: 60_000,
        supersededRunGraceMs: 7 * 86_400_000,
        codeVersion: 'test',
      },
      experimentConcurrency: 2,
      slotConcurrency: 2,
      retryDelayScale: 0,
    });
  }

  const query = (sql: string) => queryLakeJson(root, sql);
  const statuses = async (runId: string) =>
    Object.fromEntries(
      (
        await query(
          `select experiment_id, status from export_log where run_id = '${runId}' and dataset = 'experiment' order by 1`,
        )
      ).map((row) => [row.experiment_id, row.status]),
    );
  const parquetFiles = async () =>
    (await readdir(join(root, 'data'), { recursive: true }))
      .filter((file) => file.endsWith('.parquet'))
      .sort();

  const first = await exportRun('day-1');
  expect(first.experiments).toMatchObject({ exported: 4, skipped: 1 });
  return { simulator, root, exportRun, query, statuses, parquetFiles };
}

describe('incremental export', () => {
  it('fetches no data pages and writes no parts when nothing changed', async () => {
    const { simulator, exportRun, parquetFiles } = await exportedLab();
    const before = await parquetFiles();
    simulator.requests.reset();
    const output = await exportRun('day-2');
    expect(output.experiments).toEqual({ exported: 0, partial: 0, unchanged: 4, skipped: 1, failed: 0 });
    const dataRequests = simulator.requests.recent.filter((r) =>
      /(sample-data|assay-data|\/data)\/$/.test(r.path),
    );
    expect(dataRequests.length).toBeGreaterThan(0);
    expect(dataRequests.every((r) => new URLSearchParams(r.query).get('limit') === '1')).toBe(true);
    // Per project: its experiments and its detail. Per experiment: itself, its plot list, a first
    // and last row per dataset (3 plots at most), its analyses, its file inventory and its QC report. Results
    // source auto keeps each plot's choice from the last commit: no download is asked.
    const exportable = simulator.truth.exportable;
    const bound =
      2 * simulator.truth.projects.length +
      2 +
      exportable.reduce((n, e) => n + 2 + 2 * (2 + e.plots.length) + e.analyses.size + 2, 0) +
      1;
    expect(simulator.requests.total).toBeLessThanOrEqual(bound);
    const added = (await parquetFiles()).filter((file) => !before.includes(file));
    expect(added).toEqual(['export_log/run_id=day-2/part-export_log-00000.parquet']);
  });

  it('re-exports only the experiment whose assay values changed, and queries return the new values', async () => {
    const { simulator, exportRun, query, statuses } = await exportedLab();
    const [changed, ...others] = simulator.truth.exportable;
    if (changed === undefined) throw new Error('no experiments');
    simulator.truth.setCell(changed.id, 'assay', 0, 1, 424242.5);
    const output = await exportRun('day-2');
    expect(output.experiments).toMatchObject({ exported: 1, unchanged: others.length });
    const log = await statuses('day-2');
    expect(log[changed.id]).toBe('exported');
    for (const other of others) expect(log[other.id]).toBe('unchanged');
    const [cell] = await query(
      `select value, (select run_id from experiments where experiment_id = '${changed.id}') as run_id from assay
       where experiment_id = '${changed.id}' and row_number = 0 and sample_id = '${changed.assay.headers[1]}'`,
    );
    expect(cell).toEqual({ value: 424242.5, run_id: 'day-2' });
  });

  it('re-exports an experiment whose plot status changed', async () => {
    const { simulator, exportRun, query, statuses } = await exportedLab();
    const target = simulator.truth.exportable[1];
    const plot = target?.plots[0];
    if (target === undefined || plot === undefined) throw new Error('no plot');
    simulator.truth.setPlotStatus(target.id, plot.uuid, 'archived');
    const output = await exportRun('day-2');
    expect(output.experiments.exported).toBe(1);
    expect((await statuses('day-2'))[target.id]).toBe('exported');
    const [row] = await query(`select status from plots where plot_id = '${plot.uuid}'`);
    expect(row?.status).toBe('archived');
  });

  it('misses a change in a middle row, as documented, and --full picks it up', async () => {
    const { simulator, exportRun, query } = await exportedLab();
    const target = simulator.truth.exportable[2];
    if (target === undefined) throw new Error('no experiment');
    const middle = Math.floor(target.assay.rowCount / 2);
    simulator.truth.setCell(target.id, 'assay', middle, 2, 31337.25);
    const sql = `select value from assay where experiment_id = '${target.id}' and row_number = ${middle}
                 and sample_id = '${target.assay.headers[2]}'`;
    expect((await exportRun('day-2')).experiments.exported).toBe(0);
    expect((await query(sql))[0]?.value).not.toBe(31337.25);
    expect((await exportRun('day-3', { full: true })).experiments.exported).toBe(4);
    expect((await query(sql))[0]?.value).toBe(31337.25);
  });

  it('keeps an experiment that disappeared by default, and retires it on request', async () => {
    const { simulator, exportRun, query, parquetFiles } = await exportedLab();
    const gone = simulator.truth.exportable[3];
    if (gone === undefined) throw new Error('no experiment');
    const count = `select count(*) as n from assay where experiment_id = '${gone.id}'`;
    const cells = gone.assay.rowCount * (gone.assay.headers.length - 1);
    simulator.truth.removeExperiment(gone.id);

    await exportRun('day-2');
    const [kept] = await query(
      `select status, error_code, error_detail from export_log where run_id = 'day-2' and experiment_id = '${gone.id}'`,
    );
    expect(kept).toMatchObject({ status: 'skipped', error_code: 'ExperimentNotListedError' });
    expect(String(kept?.error_detail)).toContain('is kept');
    expect((await query(count))[0]?.n).toBe(cells);

    const filesBefore = await parquetFiles();
    await exportRun('day-3', { missingExperiments: 'retire' });
    expect((await query(count))[0]?.n).toBe(0);
    expect(
      (await query(`select count(*) as n from experiments where experiment_id = '${gone.id}'`))[0]?.n,
    ).toBe(0);
    const goneFiles = filesBefore.filter((file) => file.includes(`experiment_id=${gone.id}/`));
    expect(goneFiles.length).toBeGreaterThan(0);
    const filesAfter = await parquetFiles();
    for (const file of goneFiles) expect(filesAfter).toContain(file);
  });
});

describe('run history', () => {
  // Read-only cases over one history: day-1, day-2 with nothing changed, day-3 with the first
  // experiment's assay changed.
  const historyCleanup: (() => Promise<void>)[] = [];
  let history: Awaited<ReturnType<typeof exportedLab>> & { changed: ExperimentTruth };
  beforeAll(async () => {
    const lab = await exportedLab(historyCleanup);
    const changed = lab.simulator.truth.exportable[0];
    if (changed === undefined) throw new Error('no experiments');
    await lab.exportRun('day-2');
    lab.simulator.truth.setCell(changed.id, 'assay', 0, 1, 424242.5);
    await lab.exportRun('day-3');
    history = { ...lab, changed };
  });
  afterAll(async () => {
    for (const cleanup of historyCleanup) await cleanup();
  });

  it('lists runs newest first from their manifests, on the command line too', async () => {
    const { root } = history;
    const { store } = await openLake(root);
    const runs = await listRuns(store);
    expect(runs.every((run) => run.status === 'committed')).toBe(true);
    const manifests = runs.flatMap((run) => (run.manifest === undefined ? [] : [run.manifest]));
    expect(manifests.map((m) => [m.runId, m.counts.exported, m.counts.unchanged])).toEqual([
      ['day-3', 1, 3],
      ['day-2', 0, 4],
      ['day-1', 4, 0],
    ]);
    const result = await runCli(['runs', '--lake', root, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => [r.run_id, r.exported, r.unchanged, r.skipped, r.failed])).toEqual(
      manifests.map((m) => [
        m.runId,
        m.counts.exported,
        m.counts.unchanged,
        m.counts.skipped,
        m.counts.failed,
      ]),
    );
  });

  it('writes a report that names what changed, with counts that match the manifest', async () => {
    const { simulator, root, changed } = history;
    const { store } = await openLake(root);
    const day3 = (await listRuns(store)).find((m) => m.runId === 'day-3')?.manifest;
    const report = await readFile(join(root, 'runs', 'day-3', 'report.md'), 'utf8');
    expect(report).toContain(`# Run day-3: committed`);
    expect(report).toContain(
      `${day3?.counts.exported} exported, ${day3?.counts.partial} partial, ${day3?.counts.unchanged} unchanged, ${day3?.counts.skipped} skipped, ${day3?.counts.failed} failed.`,
    );
    expect(report).toMatch(new RegExp(`\\| ${changed.id} \\| re-exported \\(was run day-1\\) \\|`));
    const forbidden = simulator.truth.forbiddenExperimentIds[0] ?? '';
    expect(report).toMatch(
      new RegExp(`\\| ${forbidden} \\| all \\| skipped \\| PlutoForbiddenError \\| .*permission`),
    );
  });

  it('tells what is current for one experiment and where it came from', async () => {
    const { root, changed } = history;
    const result = await runCli(['status', '--lake', root, '--json', changed.id]);
    expect(result.code, result.stderr).toBe(0);
    const status = JSON.parse(result.stdout) as {
      pointers: Record<string, string>;
      current: { runId: string; datasets: { dataset: string; apiCount: number }[] };
      history: { runId: string; status: string }[];
    };
    expect(status.pointers.assay).toBe('day-3');
    expect(status.current.runId).toBe('day-3');
    expect(status.current.datasets.find((d) => d.dataset === 'assay')?.apiCount).toBe(changed.assay.rowCount);
    expect(status.history.map((h) => `${h.runId}:${h.status}`)).toEqual([
      'day-3:exported',
      'day-2:unchanged',
      'day-1:exported',
    ]);
  });
});
