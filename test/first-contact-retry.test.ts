/** The first contact's retry schedule, on its own: fixed attempts that fit the budget, Retry-After honoured within it. */
import { describe, expect, it } from 'vitest';
import {
  PlutoRateLimitedError,
  PlutoUnavailableError,
  PlutoUpstreamError,
} from '../functions/core/errors.js';
import { firstContactSchedule, withFirstContactRetry } from '../functions/core/pluto/first-contact.js';
import type { RetryInfo } from '../functions/core/pluto/retry.js';

describe('first contact schedule', () => {
  it('makes 4 attempts of a sixth of the budget whose waits add up to at most 0.9 of it', () => {
    const schedule = firstContactSchedule({ budgetMs: 60_000 });
    expect(schedule).toEqual({
      budgetMs: 60_000,
      attempts: 4,
      requestTimeoutMs: 10_000,
      delaysMs: [2000, 4000, 8000],
    });
    const worst =
      schedule.attempts * schedule.requestTimeoutMs + schedule.delaysMs.reduce((a, b) => a + b, 0);
    expect(worst).toBe(54_000);
  });

  it('gives up with PlutoUnavailableError after the last attempt, reporting each retry', async () => {
    const retries: RetryInfo[] = [];
    const slept: number[] = [];
    let calls = 0;
    const failing = withFirstContactRetry(
      async () => {
        calls++;
        throw new PlutoUpstreamError('Pluto answered 502');
      },
      firstContactSchedule({ budgetMs: 3000 }),
      'lab/projects/',
      { sleep: async (ms) => void slept.push(ms), onRetry: (info) => retries.push(info) },
    );
    await expect(failing).rejects.toThrow(
      new PlutoUnavailableError(
        'Pluto did not answer lab/projects/ after 4 attempt(s): Pluto answered 502; try again later',
      ),
    );
    expect(calls).toBe(4);
    expect(slept).toEqual([100, 200, 400]);
    expect(retries.map((r) => [r.attempt, r.attempts, r.delayMs])).toEqual([
      [1, 4, 100],
      [2, 4, 200],
      [3, 4, 400],
    ]);
  });

  it('waits as long as a Retry-After that fits the budget, and gives up on one that does not', async () => {
    const slept: number[] = [];
    let calls = 0;
    const result = await withFirstContactRetry(
      async () => {
        calls++;
        if (calls === 1) throw new PlutoRateLimitedError('429', { retryAfterMs: 1500 });
        return 'listed';
      },
      firstContactSchedule({ budgetMs: 3000 }),
      'lab/projects/',
      { sleep: async (ms) => void slept.push(ms), now: () => 0 },
    );
    expect(result).toBe('listed');
    expect(slept).toEqual([1500]);
    const tooLong = withFirstContactRetry(
      async () => {
        throw new PlutoRateLimitedError('429', { retryAfterMs: 3001 });
      },
      firstContactSchedule({ budgetMs: 3000 }),
      'lab/projects/',
      { sleep: async () => undefined, now: () => 0 },
    );
    await expect(tooLong).rejects.toBeInstanceOf(PlutoUnavailableError);
  });
});
