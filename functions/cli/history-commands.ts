import { ConfigError } from '../core/errors.js';
import { experimentStatus, listRuns } from '../core/history.js';
import { printable } from '../core/safe-text.js';
import { openLake } from '../local/lake-location.js';
import { CLI_DEFAULTS } from './defaults.js';
import { formatMs, formatTable } from './progress.js';
import { stderr, stdout } from './terminal.js';

const openExistingLake = (lake: string | undefined) =>
  openLake(lake ?? CLI_DEFAULTS.lake, { option: '--lake', mustExist: true });

export async function runRunsCommand(options: {
  lake?: string;
  limit?: string;
  json?: boolean;
}): Promise<number> {
  const limit = options.limit === undefined ? CLI_DEFAULTS.runsShown : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new ConfigError('--limit must be a whole number of at least 1');
  const { store } = await openExistingLake(options.lake);
  const runs = (await listRuns(store)).slice(0, limit);
  const rows = runs.map(({ runId, status, startedAt, manifest }) => ({
    run_id: runId,
    status,
    started_at: startedAt,
    duration:
      manifest === undefined ? null : formatMs(Date.parse(manifest.finishedAt) - Date.parse(startedAt)),
    exported: manifest?.counts.exported ?? null,
    partial: manifest?.counts.partial ?? null,
    unchanged: manifest?.counts.unchanged ?? null,
    skipped: manifest?.counts.skipped ?? null,
    failed: manifest?.counts.failed ?? null,
    rows_written:
      manifest?.experiments
        .filter((r) => r.status === 'exported' || r.status === 'partial')
        .reduce((sum, r) => sum + r.datasets.reduce((s, d) => s + d.rowsWritten, 0), 0) ?? null,
  }));
  if (options.json) stdout.write(`${JSON.stringify(rows)}\n`);
  else if (rows.length === 0) stdout.write('No runs yet.\n');
  else {
    const columns = Object.keys(rows[0] ?? {});
    stdout.write(
      `${formatTable(
        columns,
        rows.map((row) => Object.values(row)),
      )}\n`,
    );
  }
  return 0;
}

export async function runStatusCommand(options: {
  lake?: string;
  json?: boolean;
  experimentId: string;
}): Promise<number> {
  const { store, catalog } = await openExistingLake(options.lake);
  const status = await experimentStatus(store, catalog, options.experimentId);
  const neverSeen = status.history.length === 0 && Object.keys(status.pointers).length === 0;
  if (options.json) {
    stdout.write(`${JSON.stringify(status)}\n`);
    return neverSeen ? 1 : 0;
  }
  if (neverSeen) {
    stderr.write(
      `pluto-export: no run in ${store.location} has seen experiment ${status.experimentId}: check the id\n`,
    );
    return 1;
  }
  const out: string[] = [`${status.experimentId}`];
  const current = status.current;
  if (current === undefined) out.push('  current: nothing committed (no partitions point at a run)');
  else {
    out.push(
      `  current: run ${current.runId}, committed ${current.finishedAt}, project ${current.projectId ?? '-'}`,
      `  fingerprint: ${current.fingerprint ?? '-'}`,
      formatTable(
        ['dataset', 'status', 'api_count', 'rows_written', 'parts', 'bytes'],
        current.datasets.map((d) => [
          d.dataset,
          d.status,
          d.apiCount,
          d.rowsWritten,
          d.parts.length,
          d.parts.reduce((s, p) => s + p.bytes, 0),
        ]),
      )
        .split('\n')
        .map((line) => `  ${line}`)
        .join('\n'),
    );
  }
  out.push(
    `  partitions: ${
      Object.entries(status.pointers)
        .map(([table, run]) => `${table}=${run}`)
        .join(', ') || 'none'
    }`,
    '  history (newest first):',
    ...status.history.map(
      (r) =>
        `    ${r.runId}: ${r.status}${r.retired ? ' (retired)' : ''}${r.error ? ` — ${printable(r.error.detail ?? r.error.message)}` : ''}`,
    ),
  );
  stdout.write(`${out.join('\n')}\n`);
  return 0;
}
