/** `runs/<run>/report.md`: what a person wants to read after a run, rendered from its manifest. */
import type { CommitRecord, ExperimentCounts, Manifest } from '../records.js';

/** The run's experiment counts as one phrase, the same in the report and on the terminal. */
export const formatCounts = (counts: ExperimentCounts): string =>
  `${counts.exported} exported, ${counts.partial} partial, ${counts.unchanged} unchanged, ` +
  `${counts.skipped} skipped, ${counts.failed} failed`;

const rowsOf = (record: CommitRecord, pick: (dataset: string) => boolean) =>
  record.datasets.filter((d) => pick(d.dataset)).reduce((sum, d) => sum + d.rowsWritten, 0);

const seconds = (record: CommitRecord) =>
  ((Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 1000).toFixed(1);

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

export function renderRunReport(manifest: Manifest): string {
  const { counts } = manifest;
  const duration = ((Date.parse(manifest.finishedAt) - Date.parse(manifest.startedAt)) / 1000).toFixed(1);
  const exported = manifest.experiments.filter((r) => r.status === 'exported' || r.status === 'partial');
  const problems = manifest.experiments.filter((r) => r.status === 'skipped' || r.status === 'failed');
  const unchanged = manifest.experiments.filter((r) => r.status === 'unchanged');
  const lines = [
    `# Run ${manifest.runId}: ${manifest.status}`,
    '',
    `Started ${manifest.startedAt}, finished ${manifest.finishedAt} (${duration} s), code version ${manifest.codeVersion}.`,
    '',
    `${formatCounts(counts)}.`,
    '',
    '## Changed since the last run',
    '',
  ];
  if (exported.length === 0) lines.push('Nothing changed.');
  else {
    lines.push(
      '| experiment | change | samples rows | assay rows | results rows | seconds |',
      '|---|---|---:|---:|---:|---:|',
    );
    for (const r of exported) {
      const change =
        (r.previousRunId === undefined ? 'new' : `re-exported (was run ${r.previousRunId})`) +
        (r.status === 'partial' ? ', partial' : '');
      lines.push(
        `| ${r.experimentId} | ${change} | ${rowsOf(r, (d) => d === 'samples')} | ${rowsOf(r, (d) => d === 'assay')} | ${rowsOf(r, (d) => d.startsWith('plot-'))} | ${seconds(r)} |`,
      );
    }
  }
  lines.push('', '## Skipped and failed', '');
  const datasetProblems = exported.flatMap((r) =>
    r.datasets.filter((d) => d.error !== undefined).map((d) => ({ r, d })),
  );
  if (problems.length === 0 && datasetProblems.length === 0) lines.push('None.');
  else {
    lines.push('| experiment | dataset | status | error | detail |', '|---|---|---|---|---|');
    for (const r of problems) {
      const detail = r.error ? (r.error.detail ?? r.error.message) : '';
      const status = r.retired ? `${r.status}, retired` : r.status;
      lines.push(`| ${r.experimentId} | all | ${status} | ${r.error?.name ?? ''} | ${cell(detail)} |`);
    }
    for (const { r, d } of datasetProblems) {
      lines.push(
        `| ${r.experimentId} | ${d.dataset} | ${d.status} | ${d.error?.name ?? ''} | ${cell(d.error?.detail ?? d.error?.message ?? '')} |`,
      );
    }
  }
  lines.push('', '## Unchanged', '');
  lines.push(
    unchanged.length === 0
      ? 'None.'
      : unchanged.map((r) => `${r.experimentId} (current: run ${r.sourceRunId ?? '?'})`).join(', '),
  );
  return `${lines.join('\n')}\n`;
}
