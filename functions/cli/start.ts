/**
 * `npm start`: with PLUTO_API_TOKEN, export the real organisation into ./lake; without it, export
 * the simulator's demo organisation into ./demo-lake and answer a few example queries.
 */

import { openLakeQuery, toJsonRows } from '../adapters/duckdb-lake.js';
import type { SecretReader } from '../core/ports.js';
import { DEFAULT_COPY_FILE_TYPES } from '../core/settings.js';
import { openLake } from '../local/lake-location.js';
import { DEMO_ORGANISATION } from '../simulator/demo.js';
import { startSimulator } from '../simulator/index.js';
import { runExportCommand } from './export-command.js';
import { formatTable } from './progress.js';
import { runMain } from './run-main.js';
import { stdout } from './terminal.js';

export const DEMO_LAKE = 'demo-lake';

export const EXAMPLE_QUERIES: readonly { title: string; sql: string }[] = [
  {
    title: 'Experiments and their sizes',
    sql: 'select experiment_id, name, organism, experiment_type, sample_rows, assay_rows, plot_count from experiments order by experiment_id',
  },
  {
    title: 'Projects',
    sql: 'select project_id, name, owner_name, share_level, experiments_count from projects order by project_id',
  },
  {
    title: 'The analysis behind each differential expression plot, with its methods and parameters',
    sql: `select a.experiment_id, a.name as analysis, a.pipeline_version, a.parameters, a.methods
from analyses a where a.analysis_type = 'differential_expression' order by 1 limit 3`,
  },
  {
    title: 'Assay cells per experiment, with the cells that were not numbers',
    sql: 'select experiment_id, count(*) as cells, round(avg(value), 3) as mean_value, count(value_text) as text_cells from assay group by experiment_id order by experiment_id',
  },
  {
    title: 'Strongest significant differential expression across all experiments',
    sql: 'select experiment_id, gene_symbol, round(log2_fold_change, 3) as log2fc, adj_p_value from differential_expression where adj_p_value < 0.05 order by abs(log2_fold_change) desc limit 5',
  },
  {
    title: 'GAPDH in every experiment, by treatment dose (assay joined to sample metadata)',
    sql: `select a.experiment_id, s.value as dose, count(*) as samples, round(avg(a.value), 1) as mean_expression
from assay a join samples s
  on s.experiment_id = a.experiment_id and s.sample_id = a.sample_id and s.attribute = 'treatment.dose'
where a.feature_id = 'GAPDH'
group by 1, 2 order by 1, 2`,
  },
  {
    title: 'Attachments and QC reports of every experiment',
    sql: `select experiment_id, data_type, file_name, size_bytes, copy_status, lake_key from files
where data_type in ('attachment', 'qc_report') order by 1, 2, 3`,
  },
  {
    title: 'What the run did (export_log)',
    sql: 'select run_id, status, count(*) as datasets, sum(rows_written) as rows_written from export_log group by 1, 2 order by 1, 2',
  },
];

async function main(): Promise<number> {
  if (process.env.PLUTO_API_TOKEN?.trim()) return runExportCommand({});

  stdout.write('PLUTO_API_TOKEN is not set: exporting the built-in demo organisation instead.\n');
  // The demo shows a plot without a table (an image: no_data) beside the PCA and volcano plots.
  const simulator = await startSimulator({ ...DEMO_ORGANISATION, variants: ['image-plot'] });
  const secrets: SecretReader = {
    getToken: async () => simulator.truth.token,
    refresh: async () => simulator.truth.token,
  };
  try {
    const code = await runExportCommand(
      { 'api-url': simulator.url, out: DEMO_LAKE, files: DEFAULT_COPY_FILE_TYPES.join(',') },
      secrets,
    );
    if (code !== 0) return code;
  } finally {
    await simulator.close();
  }

  const lake = await openLakeQuery({ root: DEMO_LAKE, catalog: (await openLake(DEMO_LAKE)).catalog });
  try {
    for (const { title, sql } of EXAMPLE_QUERIES) {
      const rows = toJsonRows(await lake.query(sql));
      const columns = rows[0] === undefined ? [] : Object.keys(rows[0]);
      stdout.write(
        `\n-- ${title}\n${sql}\n${formatTable(
          columns,
          rows.map((row) => columns.map((c) => row[c])),
        )}\n`,
      );
    }
  } finally {
    lake.close();
  }
  stdout.write(
    `\nAsk your own: npm run --silent pluto-export -- query --lake ${DEMO_LAKE} "select count(*) from assay"\n`,
  );
  return 0;
}

runMain(main);
