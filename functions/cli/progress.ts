/** Progress for humans: a redrawn bar on a terminal, one plain line per event otherwise. */
import { describeHolder, type Lease } from '../core/lease.js';
import type { ProgressListener } from '../core/workflow/deps.js';

export interface ExperimentOutcome {
  experimentId: string;
  status: string;
  rows: number;
  durationMs: number;
}

export class TerminalProgress implements ProgressListener {
  readonly outcomes: ExperimentOutcome[] = [];
  private total = 0;
  private rows = 0;
  private readonly startedAt = Date.now();
  private readonly experimentStarted = new Map<string, number>();
  private lastDraw = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly interactive = stream.isTTY === true,
  ) {}

  runPlanned({ runId, experiments }: { runId: string; experiments: number }): void {
    this.total = experiments;
    this.line(`run ${runId}: ${experiments} experiment(s) to check`);
  }

  experimentPlanned({ experimentId, slots }: { experimentId: string; slots: number; rows: number }): void {
    this.experimentStarted.set(experimentId, Date.now());
    if (!this.interactive) this.line(`${experimentId}: changed, exporting ${slots} slot(s)`);
    this.draw();
  }

  partWritten({ rows }: { rows: number }): void {
    this.rows += rows;
    this.draw();
  }

  experimentFinished({
    experimentId,
    status,
    rows,
  }: {
    experimentId: string;
    status: string;
    rows: number;
  }): void {
    const started = this.experimentStarted.get(experimentId) ?? Date.now();
    const outcome = { experimentId, status, rows, durationMs: Date.now() - started };
    this.outcomes.push(outcome);
    if (!this.interactive)
      this.line(`${experimentId}: ${status} (${rows} rows, ${formatMs(outcome.durationMs)})`);
    this.draw(true);
  }

  leaseTakenOver({ from }: { from: Lease }): void {
    const why =
      Date.parse(from.expiresAt) <= Date.now() ? `lease expired at ${from.expiresAt}` : 'process is gone';
    this.line(`pluto-export: taking over the lease of ${describeHolder(from)}: its ${why}`);
  }

  finish(): void {
    if (this.interactive) this.stream.write('\n');
  }

  private draw(force = false): void {
    if (!this.interactive) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const done = this.outcomes.length;
    const width = 30;
    const filled = this.total === 0 ? width : Math.round((done / this.total) * width);
    const seconds = Math.max(0.001, (now - this.startedAt) / 1000);
    this.stream.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} experiments, ` +
        `${this.rows.toLocaleString('en-US')} rows written, ${Math.round(this.rows / seconds).toLocaleString('en-US')} rows/s`,
    );
  }

  private line(text: string): void {
    if (this.interactive) this.stream.write(`\r${text}\n`);
    else this.stream.write(`${text}\n`);
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A plain aligned text table. */
export function formatTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const text = rows.map((row) =>
    row.map((cell) => (cell === null || cell === undefined ? 'NULL' : String(cell))),
  );
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...text.map((row) => (row[i] ?? '').length)),
  );
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [render(columns), render(widths.map((w) => '-'.repeat(w))), ...text.map(render)].join('\n');
}
