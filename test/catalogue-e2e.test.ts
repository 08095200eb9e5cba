/**
 * Projects, analyses and file inventories exported end to end against the simulator and read back
 * by DuckDB from the real Parquet parts, compared with the simulator's ground truth; then a second
 * run over the unchanged organisation, which writes nothing and asks only the cheap requests.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_QUERIES } from '../functions/cli/start.js';
import {
  type RequestLog,
  type RunningSimulator,
  type SimulatorVariant,
  startSimulator,
} from '../functions/simulator/index.js';
import { readmeExampleQueries } from '../infra/example-queries.js';
import { exportWith, type FolderLake, lakeRegistry, SMALL_ORGANISATION } from './support/fault-harness.js';
import { queryLakeJson } from './support/lake-query.js';

type Row = Record<string, unknown>;
const SEED = 23;
const { lake, removeAll } = lakeRegistry();
let simulator: RunningSimulator;
let target: FolderLake;
let firstRunRequests: Readonly<Record<string, number>>;
let unchangedRunRequests: Readonly<Record<string, number>>;

const query = (sql: string, root = target.root): Promise<Row[]> => queryLakeJson(root, sql);
const iso = (text: string | null | undefined) =>
  text === null || text === undefined ? null : new Date(text.replace(/(\.\d{3})\d+/, '$1')).toISOString();
const timestamp = (value: unknown) => (value === null ? null : new Date(String(value)).toISOString());
const name = (person: { first_name?: string | null; last_name?: string | null } | null | undefined) =>
  person === null || person === undefined ? null : `${person.first_name} ${person.last_name}`;

const DATA_ENDPOINTS: readonly string[] = ['sample-data', 'assay-data', 'plot-data'];

/**
 * The requests of a run that read more than listings, details and one row: a download, a signed
 * URL, a data page of more than one row. Every request of the run must still be in the log.
 */
function costlyRequests(log: RequestLog): string[] {
  expect(log.recent).toHaveLength(log.total);
  return log.recent
    .filter(
      (r) =>
        r.path.endsWith('/download/') ||
        r.path.startsWith('signed/') ||
        (DATA_ENDPOINTS.includes(r.endpoint) && new URLSearchParams(r.query).get('limit') !== '1'),
    )
    .map((r) => `${r.path}${r.query}`);
}

/** How often the run asked each path: a dataset's path at most twice (its first and its last row). */
function requestsByPath(log: RequestLog): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { path } of log.recent) counts.set(path, (counts.get(path) ?? 0) + 1);
  return counts;
}

async function exportOrganisation(variants: readonly SimulatorVariant[], lakeName: string) {
  const running = await startSimulator({ seed: SEED, ...SMALL_ORGANISATION, variants });
  const into = await lake(lakeName);
  const output = await exportWith({ simulator: running, ...into, runId: 'run-1' });
  return { running, into, output };
}

beforeAll(async () => {
  const first = await exportOrganisation([], 'catalogue');
  simulator = first.running;
  target = first.into;
  expect(first.output).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
  firstRunRequests = { ...simulator.requests.byEndpoint };
});

afterAll(async () => {
  await simulator?.close();
  await removeAll();
});

describe('projects, analyses and files against the simulator', () => {
  it('projects: one row per project, every field as lab/projects/{id}/ gives it', async () => {
    const rows = await query(
      `select project_id, uuid, name, description, owner_name, share_level, is_archived, experiments_count,
              created_at, run_id from projects order by project_id`,
    );
    const expected = [...simulator.truth.projects]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map(({ id, detail }) => ({
        project_id: id,
        uuid: detail.uuid,
        name: detail.name,
        description: detail.description,
        owner_name: name(detail.owner),
        share_level: detail.share_level,
        is_archived: false,
        experiments_count: detail.experiments_count,
        created_at: iso(detail.created_at),
        run_id: 'run-1',
      }));
    expect(rows.map((row) => ({ ...row, created_at: timestamp(row.created_at) }))).toEqual(expected);
    expect(expected.every((row) => row.owner_name !== null && (row.experiments_count ?? 0) > 0)).toBe(true);
  });

  it('experiments: uuid, description, archived flag and genome build as typed columns', async () => {
    const rows = await query(
      'select experiment_id, uuid, description, is_archived, genome_build from experiments order by experiment_id',
    );
    const expected = simulator.truth.exportable
      .map(({ id, metadata }) => ({
        experiment_id: id,
        uuid: metadata.uuid,
        description: metadata.description,
        is_archived: false,
        genome_build: metadata.organism?.genome_build,
      }))
      .sort((a, b) => (a.experiment_id < b.experiment_id ? -1 : 1));
    expect(rows).toEqual(expected);
    expect(new Set(rows.map((row) => row.genome_build))).toEqual(
      new Set(expected.map((row) => row.genome_build)),
    );
  });

  it('analyses: one row per analysis behind the plots, methods and parameters as served', async () => {
    const rows = await query(
      `select experiment_id, analysis_id, analysis_type, name, pipeline_version, pipeline_status, methods,
              parameters, created_at, plot_ids, source from analyses`,
    );
    const expected = simulator.truth.exportable.flatMap((experiment) =>
      [...experiment.analyses.values()].map((analysis) => ({
        experiment_id: experiment.id,
        analysis_id: analysis.uuid,
        analysis_type: analysis.analysis_type,
        name: analysis.name,
        pipeline_version: analysis.pipeline_version,
        pipeline_status: analysis.pipeline_status,
        methods: analysis.methods,
        parameters: analysis.parameters,
        created_at: iso(analysis.created_at),
        plot_ids: experiment.plots.filter((p) => p.analysis?.uuid === analysis.uuid).map((p) => p.uuid),
        source: 'analysis',
      })),
    );
    const actual = rows.map((row) => ({
      ...row,
      parameters: JSON.parse(String(row.parameters)),
      plot_ids: JSON.parse(String(row.plot_ids)),
      created_at: timestamp(row.created_at),
    }));
    const order = (a: Row, b: Row) => (String(a.analysis_id) < String(b.analysis_id) ? -1 : 1);
    expect(actual.sort(order)).toEqual(expected.sort(order));
    expect(actual.some((row) => (row.parameters as { method?: string }).method !== undefined)).toBe(true);
  });

  it('files: the whole inventory, names exactly as Pluto gives them, nothing copied unless asked', async () => {
    const rows = await query(
      'select experiment_id, file_id, data_type, file_name, size_bytes, created_at, copy_status, lake_key from files',
    );
    const expected = simulator.truth.exportable.flatMap((experiment) =>
      experiment.files.map((file) => ({
        experiment_id: experiment.id,
        file_id: file.uuid,
        data_type: file.dataType,
        file_name: file.fileName,
        size_bytes: file.size,
        created_at: iso(file.createdAt),
        copy_status: 'not_requested',
        lake_key: null,
      })),
    );
    const order = (a: Row, b: Row) => (String(a.file_id) < String(b.file_id) ? -1 : 1);
    expect(rows.map((row) => ({ ...row, created_at: timestamp(row.created_at) })).sort(order)).toEqual(
      expected.sort(order),
    );
    expect(new Set(expected.map((row) => row.data_type))).toEqual(
      new Set(['attachment', 'qc_report', 'bam']),
    );
  });

  it("README: results joined to their analysis give each plot's analysis, parameters and cell count", async () => {
    const sql = readmeExampleQueries().find((q) => q.name.startsWith('results joined to the analysis'))?.sql;
    const rows = await query(String(sql));
    const expected = simulator.truth.exportable.flatMap((experiment) =>
      experiment.plots.map((plot) => {
        const analysis = experiment.analyses.get(String(plot.analysis?.uuid));
        const data = experiment.results.get(plot.uuid);
        return {
          experiment_id: experiment.id,
          plot_id: plot.uuid,
          analysis_type: analysis?.analysis_type,
          analysis_name: analysis?.name,
          pipeline_version: analysis?.pipeline_version,
          parameters: analysis?.parameters,
          methods: analysis?.methods,
          cells: (data?.rowCount ?? 0) * ((data?.headers.length ?? 1) - 1),
        };
      }),
    );
    const order = (a: Row, b: Row) =>
      `${a.experiment_id}${a.plot_id}` < `${b.experiment_id}${b.plot_id}` ? -1 : 1;
    expect(
      rows.map((row) => ({ ...row, parameters: JSON.parse(String(row.parameters)) })).sort(order),
    ).toEqual(expected.sort(order));
  });

  it('README: the inventory query names the experiments of the project with a protocol attachment', async () => {
    const sql = readmeExampleQueries().find((q) => q.name.includes('protocol'))?.sql;
    const rows = await query(String(sql));
    const project = simulator.truth.projects.find((p) => p.detail.name === 'Neuroinflammation atlas');
    const expected = simulator.truth.exportable
      .filter((experiment) => experiment.projectId === project?.id)
      .flatMap((experiment) =>
        experiment.files
          .filter((f) => f.dataType === 'attachment' && f.fileName.toLowerCase().includes('protocol'))
          .map((f) => ({
            project: 'Neuroinflammation atlas',
            experiment_id: experiment.id,
            experiment: experiment.metadata.name,
            file_name: f.fileName,
            size_bytes: f.size,
            lake_key: null,
          })),
      );
    expect(expected.length).toBeGreaterThan(0);
    expect(rows).toEqual(expected.sort((a, b) => (a.experiment_id < b.experiment_id ? -1 : 1)));
  });

  it("npm start's demo queries show the projects, an analysis with its methods, and the attachments", async () => {
    const answer = (title: string) =>
      query(EXAMPLE_QUERIES.find((q) => q.title.startsWith(title))?.sql ?? 'select 1 where false');
    expect((await answer('Projects')).map((row) => row.project_id)).toEqual(
      simulator.truth.projects.map((p) => p.id).sort(),
    );
    const analyses = await answer('The analysis behind each differential expression plot');
    expect(analyses.length).toBeGreaterThan(0);
    expect(analyses.every((row) => String(row.methods).includes(String(row.analysis)))).toBe(true);
    const files = await answer('Attachments and QC reports');
    expect(files.length).toBe(
      simulator.truth.exportable.flatMap((e) => e.files).filter((f) => f.dataType !== 'bam').length,
    );
  });

  it('a second run over the unchanged organisation writes nothing and asks only the cheap requests', async () => {
    const before = await readdir(join(target.root, 'data'), { recursive: true });
    simulator.requests.reset();
    const output = await exportWith({ simulator, ...target, runId: 'run-2' });
    expect(output).toMatchObject({
      status: 'committed',
      experiments: { exported: 0, partial: 0, unchanged: simulator.truth.exportable.length },
    });
    const after = await readdir(join(target.root, 'data'), { recursive: true });
    // Only the run's own export_log partition is new.
    expect(
      after.filter((path) => !before.includes(path)).every((path) => path.startsWith('export_log')),
    ).toBe(true);
    const requests = simulator.requests.byEndpoint;
    expect(requests.project).toBe(simulator.truth.projects.length);
    expect(requests.analysis).toBe(firstRunRequests.analysis);
    expect(requests.files).toBe(simulator.truth.exportable.length);
    expect(costlyRequests(simulator.requests)).toEqual([]);
    const byPath = requestsByPath(simulator.requests);
    expect(Math.max(...byPath.values())).toBeLessThanOrEqual(2);
    expect((await query('select distinct run_id from projects')).map((row) => row.run_id)).toEqual(['run-1']);
    unchangedRunRequests = { ...requests };
  });

  it('download-more-columns under results source auto: the second unchanged run asks the same cheap requests, no download', async () => {
    const { running, into, output } = await exportOrganisation(['download-more-columns'], 'wider');
    try {
      expect(output).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
      const wider = running.truth.exportable.flatMap((e) =>
        [...e.downloads].filter(
          ([plotId, d]) => d.headers.length > (e.results.get(plotId)?.headers.length ?? 0),
        ),
      ).length;
      expect(wider).toBeGreaterThan(0);
      // The first run read each wider download whole, to plan and to export it.
      expect(running.requests.byEndpoint['signed-download']).toBeGreaterThanOrEqual(2 * wider);
      running.requests.reset();
      const second = await exportWith({ simulator: running, ...into, runId: 'run-2' });
      expect(second).toMatchObject({
        status: 'committed',
        experiments: { exported: 0, partial: 0, unchanged: running.truth.exportable.length },
      });
      expect(costlyRequests(running.requests)).toEqual([]);
      expect(Math.max(...requestsByPath(running.requests).values())).toBeLessThanOrEqual(2);
      expect(running.requests.byEndpoint).toEqual(unchangedRunRequests);
    } finally {
      await running.close();
    }
  });
});

describe('uncertain shapes of the new resources', () => {
  it('analysis-detail-missing: each analysis still has its row, from what the plot carries', async () => {
    const { running, into, output } = await exportOrganisation(['analysis-detail-missing'], 'no-analysis');
    try {
      expect(output).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
      const rows = await query(
        'select analysis_id, name, pipeline_version, methods, parameters, source from analyses',
        into.root,
      );
      const expected = running.truth.exportable.flatMap((e) =>
        [...e.analyses.values()].map((a) => ({
          analysis_id: a.uuid,
          name: a.name,
          pipeline_version: a.pipeline_version,
          methods: null,
          parameters: null,
          source: 'plot',
        })),
      );
      const order = (a: Row, b: Row) => (String(a.analysis_id) < String(b.analysis_id) ? -1 : 1);
      expect(rows.sort(order)).toEqual(expected.sort(order));
    } finally {
      await running.close();
    }
  });

  it('project-detail-refused: each project keeps the row its listing gives', async () => {
    const { running, into, output } = await exportOrganisation(['project-detail-refused'], 'no-project');
    try {
      expect(output.status).toBe('committed');
      const rows = await query(
        'select project_id, name, owner_name, experiments_count from projects',
        into.root,
      );
      expect(rows.sort((a, b) => (String(a.project_id) < String(b.project_id) ? -1 : 1))).toEqual(
        [...running.truth.projects]
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map((p) => ({ project_id: p.id, name: p.object.name, owner_name: null, experiments_count: null })),
      );
    } finally {
      await running.close();
    }
  });

  it('files-paged and files-without-size: the same inventory, paged by data_type, sizes null', async () => {
    const { running, into, output } = await exportOrganisation(
      ['files-paged', 'files-without-size'],
      'paged',
    );
    try {
      expect(output).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
      const rows = await query(
        'select file_id, file_name, size_bytes from files order by file_id',
        into.root,
      );
      const files = running.truth.exportable.flatMap((e) => e.files);
      expect(rows).toEqual(
        files
          .map((f) => ({ file_id: f.uuid, file_name: f.fileName, size_bytes: null }))
          .sort((a, b) => (a.file_id < b.file_id ? -1 : 1)),
      );
      // One request per experiment, then one per data type holding more than one file.
      const paged = running.truth.exportable.reduce((sum, e) => {
        const types = e.files.map((f) => f.dataType);
        return sum + new Set(types.filter((type, i) => types.indexOf(type) !== i)).size;
      }, 0);
      expect(paged).toBeGreaterThan(0);
      expect(running.requests.byEndpoint.files).toBe(running.truth.exportable.length + paged);
    } finally {
      await running.close();
    }
  });
});
