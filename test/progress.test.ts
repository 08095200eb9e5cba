/** The terminal progress: one row total, a bar that moves by slots, durations per experiment. */
import { describe, expect, it } from 'vitest';
import { TerminalProgress } from '../functions/cli/progress.js';

function capture(interactive: boolean) {
  const writes: string[] = [];
  const stream = {
    write: (text: string) => writes.push(text) > 0,
    isTTY: interactive,
  } as unknown as NodeJS.WriteStream;
  return { progress: new TerminalProgress(stream, interactive), writes };
}

describe('TerminalProgress', () => {
  it('moves the bar slot by slot and counts rows written as the commit does', () => {
    const { progress, writes } = capture(true);
    progress.runPlanned({ runId: 'run-1', experiments: 2 });
    progress.experimentPlanned({ experimentId: 'A', slots: 2, rows: 0 });
    progress.experimentPlanned({ experimentId: 'B', slots: 2, rows: 0 });
    progress.partWritten({ experimentId: 'A', rows: 100 });
    progress.slotExported({ experimentId: 'A' });
    expect(writes.at(-1)).toContain(
      '[########......................] 0/2 experiments, 1/4 slots, 100 rows written',
    );
    progress.partWritten({ experimentId: 'A', rows: 50 });
    progress.slotExported({ experimentId: 'A' });
    progress.partWritten({ experimentId: 'B', rows: 7 });
    progress.slotExported({ experimentId: 'B' });
    expect(writes.at(-1)).toContain('0/2 experiments, 3/4 slots, 157 rows written');
    // The commit adds the experiment's metadata rows: its own total replaces the parts counted so far.
    progress.experimentFinished({ experimentId: 'A', status: 'exported', rows: 152 });
    expect(progress.rowsWritten).toBe(159);
    expect(writes.at(-1)).toContain('1/2 experiments, 3/4 slots, 159 rows written');
  });

  it('prints one line per experiment with its rows written and its own duration', () => {
    const { progress, writes } = capture(false);
    progress.runPlanned({ runId: 'run-1', experiments: 1 });
    progress.experimentPlanned({ experimentId: 'A', slots: 1, rows: 0 });
    progress.experimentFinished({ experimentId: 'A', status: 'exported', rows: 1234 });
    expect(writes).toHaveLength(3);
    expect(writes[2]).toMatch(/^A: exported \(1,234 rows written, \d+ ms\)\n$/);
    expect(progress.outcomes).toEqual([
      { experimentId: 'A', status: 'exported', rows: 1234, durationMs: expect.any(Number) },
    ]);
  });

  it('shows a retry as a line of its own, with its place in a fixed number of attempts', () => {
    const { progress, writes } = capture(false);
    progress.retrying({ attempt: 1, attempts: 4, delayMs: 2000, error: new Error('Pluto answered 503') });
    progress.retrying({ attempt: 3, delayMs: 180, error: new Error('Pluto answered 502') });
    expect(writes).toEqual([
      'Pluto answered 503: retrying (2 of 4) after 2.0 s\n',
      'Pluto answered 502: retrying (attempt 4) after 180 ms\n',
    ]);
  });
});
