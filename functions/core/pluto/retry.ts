/**
 * Retries within a time budget, with full-jitter exponential backoff
 * (delay = random() × min(cap, base × 2^(attempt−1))).
 */
import { PlutoBadResponseError, PlutoExportError, PlutoRateLimitedError } from '../errors.js';

export interface RetryInfo {
  /** The attempt that just failed, from 1. */
  readonly attempt: number;
  /** How many attempts there will be at most, where that is fixed in advance. */
  readonly attempts?: number;
  readonly delayMs: number;
  readonly error: Error;
}

export interface RetryPolicy {
  /** Total time for one call: attempts plus the waits between them. */
  readonly budgetMs: number;
  readonly baseMs?: number;
  readonly capMs?: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** Milliseconds, monotonic; measures the time spent in attempts. */
  readonly now?: () => number;
  readonly onRetry?: (info: RetryInfo) => void;
}

export const DEFAULT_BACKOFF_BASE_MS = 250;
export const DEFAULT_BACKOFF_CAP_MS = 20_000;

/**
 * The client's retry decision for one call: a retryable class, or the call's first bad response;
 * a second answer that breaks the schema will not heal.
 */
export function clientRetryGate(): (error: unknown) => error is Error {
  let badResponses = 0;
  return (error): error is Error =>
    isRetryableByClient(error) && (!(error instanceof PlutoBadResponseError) || ++badResponses <= 1);
}

export function isRetryableByClient(error: unknown): error is Error {
  // A bad response is terminal for the workflow, but the client tries it once more: it may have been damaged on the way.
  return (error instanceof PlutoExportError && error.retryable) || error instanceof PlutoBadResponseError;
}

export function backoffDelay(
  attempt: number,
  random: () => number,
  baseMs = DEFAULT_BACKOFF_BASE_MS,
  capMs = DEFAULT_BACKOFF_CAP_MS,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Runs `operation` until it succeeds, fails with an error the client does not retry, or the
 * budget is spent. The budget counts attempt time plus requested waits, so an injected `sleep`
 * that returns at once still ends the loop. A `Retry-After` longer than what is left of the
 * budget ends it at once: the caller (the workflow) waits instead. An answer that breaks the
 * schema is retried once, in case it was damaged on the way; a second one will not heal.
 */
export async function withRetry<T>(operation: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const now = policy.now ?? (() => performance.now());
  let spent = 0;
  const mayRetry = clientRetryGate();
  for (let attempt = 1; ; attempt++) {
    const started = now();
    try {
      return await operation();
    } catch (error) {
      spent += now() - started;
      if (!mayRetry(error)) throw error;
      const remaining = policy.budgetMs - spent;
      let delayMs = backoffDelay(attempt, policy.random, policy.baseMs, policy.capMs);
      if (error instanceof PlutoRateLimitedError && error.retryAfterMs !== undefined) {
        if (error.retryAfterMs > remaining) throw beyondBudget(error, remaining);
        delayMs = Math.max(delayMs, error.retryAfterMs);
      }
      if (remaining <= 0) throw error;
      delayMs = Math.min(delayMs, remaining);
      policy.onRetry?.({ attempt, delayMs, error });
      await policy.sleep(delayMs);
      spent += delayMs;
    }
  }
}

function beyondBudget(error: PlutoRateLimitedError, remainingMs: number): PlutoRateLimitedError {
  const wait = (ms: number) => `${Math.ceil(ms / 1000)} s`;
  return new PlutoRateLimitedError(
    `${error.message}; Pluto asked to wait ${wait(error.retryAfterMs ?? 0)}, more than the ${wait(Math.max(0, remainingMs))} left of the retry budget`,
    {
      ...(error.detail === undefined ? {} : { detail: error.detail }),
      ...(error.code === undefined ? {} : { code: error.code }),
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    },
  );
}
