/** Progress for humans: a redrawn bar on a terminal, one plain line per event otherwise. */

import { describeHolder, type Lease } from '../core/lease.js';
import type { RetryInfo } from '../core/pluto/retry.js';
import { printable } from '../core/safe-text.js';
import type { ProgressListener } from '../core/workflow/deps.js';
import type { TerminalStream } from './terminal.js';

/** The one row total the CLI shows, named the same everywhere (progress, summary, `runs`). */
export const ROWS_WRITTEN = 'rows written';
export const ROWS_WRITTEN_MEANING =
  'rows written = Parquet rows this run wrote to the lake tables (export_log.rows_written)';

export interface ExperimentOutcome {
  experimentId: string;
  status: string;
  rows: number;
  durationMs: number;
}

interface InFlight {
  readonly startedAt: number;
  rows: number;
  lastSlotAt?: number;
}

export class TerminalProgress implements ProgressListener {
  readonly outcomes: ExperimentOutcome[] = [];
  private experiments = 0;
  private slotsPlanned = 0;
  private slotsDone = 0;
  /** Rows of finished experiments, as their commit counts them. */
  private finishedRows = 0;
  private readonly inFlight = new Map<string, InFlight>();
  private readonly startedAt = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly stream: TerminalStream,
    private readonly interactive = stream.isTTY === true,
  ) {}

  runPlanned({ runId, experiments }: { runId: string; experiments: number }): void {
    this.experiments = experiments;
    this.line(`run ${runId}: ${experiments} experiment(s) to check`);
  }

  experimentPlanned({ experimentId, slots }: { experimentId: string; slots: number; rows: number }): void {
    this.inFlight.set(experimentId, { startedAt: Date.now(), rows: 0 });
    this.slotsPlanned += slots;
    if (!this.interactive) this.line(`${experimentId}: changed, exporting ${slots} slot(s)`);
    this.draw();
  }

  partWritten({ experimentId, rows }: { experimentId: string; rows: number }): void {
    const flight = this.inFlight.get(experimentId);
    if (flight !== undefined) flight.rows += rows;
    this.draw();
  }

  slotExported({ experimentId }: { experimentId: string }): void {
    this.slotsDone++;
    const flight = this.inFlight.get(experimentId);
    if (flight !== undefined) flight.lastSlotAt = Date.now();
    this.draw(true);
  }

  /**
   * An experiment's duration runs from its plan to its last slot: commits wait for the whole
   * run's slots, so measured to the commit every experiment would show the run's duration.
   */
  experimentFinished({
    experimentId,
    status,
    rows,
  }: {
    experimentId: string;
    status: string;
    rows: number;
  }): void {
    const flight = this.inFlight.get(experimentId);
    this.inFlight.delete(experimentId);
    const startedAt = flight?.startedAt ?? Date.now();
    const outcome = {
      experimentId,
      status,
      rows,
      durationMs: (flight?.lastSlotAt ?? Date.now()) - startedAt,
    };
    this.outcomes.push(outcome);
    this.finishedRows += rows;
    if (!this.interactive)
      this.line(
        `${experimentId}: ${status} (${rows.toLocaleString('en-US')} ${ROWS_WRITTEN}, ${formatMs(outcome.durationMs)})`,
      );
    this.draw(true);
  }

  /** Parquet rows written so far: finished experiments as committed, the others part by part. */
  get rowsWritten(): number {
    let rows = this.finishedRows;
    for (const flight of this.inFlight.values()) rows += flight.rows;
    return rows;
  }

  /** Every retry is shown as it happens, so a slow or failing Pluto is never a silent screen. */
  retrying({ attempt, attempts, delayMs, error }: RetryInfo): void {
    const next = attempt + 1;
    const count = attempts === undefined ? `attempt ${next}` : `${next} of ${attempts}`;
    this.line(`${error.message.split('\n')[0]}: retrying (${count}) after ${formatMs(delayMs)}`);
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
    const width = 30;
    // Slots are the unit of work: the bar moves as each finishes, not only when an experiment commits.
    const fraction =
      this.slotsPlanned === 0
        ? this.outcomes.length / Math.max(1, this.experiments)
        : this.slotsDone / this.slotsPlanned;
    const filled = Math.round(Math.min(1, fraction) * width);
    const rows = this.rowsWritten;
    const seconds = Math.max(0.001, (now - this.startedAt) / 1000);
    this.stream.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.outcomes.length}/${this.experiments} experiments, ` +
        `${this.slotsDone}/${this.slotsPlanned} slots, ${rows.toLocaleString('en-US')} ${ROWS_WRITTEN}, ` +
        `${Math.round(rows / seconds).toLocaleString('en-US')} rows/s`,
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

/** A plain aligned text table; cells lose control characters, which could drive the terminal. */
export function formatTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const text = rows.map((row) =>
    row.map((cell) => (cell === null || cell === undefined ? 'NULL' : printable(String(cell)))),
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
