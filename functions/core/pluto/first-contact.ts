/**
 * The first request of a run started by hand (the listing) decides quickly: a wrong URL is told
 * at once, an outage after a few visible retries within a fixed budget, never minutes of silence.
 */
import { PlutoRateLimitedError, PlutoUnavailableError, PlutoWrongServerError } from '../errors.js';
import { clientRetryGate, type RetryInfo } from './retry.js';

export interface FirstContactPolicy {
  /** Upper bound for the first request, its retries and the waits between them. */
  readonly budgetMs: number;
}

export const DEFAULT_FIRST_CONTACT_BUDGET_MS = 60_000;
const ATTEMPTS = 4;

export interface FirstContactSchedule {
  readonly budgetMs: number;
  readonly attempts: number;
  readonly requestTimeoutMs: number;
  /** The wait after each failed attempt but the last. */
  readonly delaysMs: readonly number[];
}

/** Four attempts of budget/6 each and waits of budget/30, /15 and /7.5: at most 0.9 of the budget. */
export function firstContactSchedule({ budgetMs }: FirstContactPolicy): FirstContactSchedule {
  const unit = budgetMs / 30;
  return {
    budgetMs,
    attempts: ATTEMPTS,
    requestTimeoutMs: Math.max(1, Math.round(budgetMs / 6)),
    delaysMs: [1, 2, 4].map((factor) => Math.round(unit * factor)),
  };
}

export async function withFirstContactRetry<T>(
  operation: (requestTimeoutMs: number) => Promise<T>,
  schedule: FirstContactSchedule,
  what: string,
  hooks: {
    sleep: (ms: number) => Promise<void>;
    now?: () => number;
    onRetry?: ((info: RetryInfo) => void) | undefined;
  },
): Promise<T> {
  const now = hooks.now ?? (() => performance.now());
  const started = now();
  const mayRetry = clientRetryGate();
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(schedule.requestTimeoutMs);
    } catch (error) {
      if (!mayRetry(error)) throw error;
      const planned = schedule.delaysMs[attempt - 1];
      const asked = error instanceof PlutoRateLimitedError ? (error.retryAfterMs ?? 0) : 0;
      const delayMs = Math.max(planned ?? 0, asked);
      // The planned waits fit the budget by construction; only a longer Retry-After can overrun it.
      if (planned === undefined || (asked > planned && now() - started + asked > schedule.budgetMs)) {
        throw new PlutoUnavailableError(
          `Pluto did not answer ${what} after ${attempt} attempt(s): ${error.message}; try again later`,
          { cause: error },
        );
      }
      hooks.onRetry?.({ attempt, attempts: schedule.attempts, delayMs, error });
      await hooks.sleep(delayMs);
    }
  }
}

const TLS_MISMATCH = ['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG'] as const;

/** `https://` to a port that speaks plain HTTP fails the TLS handshake with one of these. */
export function isTlsMismatch(networkError: string): boolean {
  return TLS_MISMATCH.some((code) => networkError.includes(code));
}

export function tlsMismatchError(baseUrl: URL, cause: unknown): PlutoWrongServerError {
  return new PlutoWrongServerError(
    `${baseUrl} does not speak HTTPS (the TLS handshake got a plain answer): check the API URL; ` +
      `if that port serves plain HTTP, use http://`,
    { cause },
  );
}

export function isJsonContentType(contentType: string | null): boolean {
  return contentType === null || /[/+]json\b/i.test(contentType);
}

/** What answered, in a few words: its status, content type and the page title if it has one. */
export function wrongServerError(
  baseUrl: URL,
  path: string,
  status: number,
  contentType: string | null,
  body: string,
): PlutoWrongServerError {
  const title = /<title[^>]*>([^<]{1,120})<\/title>/i.exec(body)?.[1]?.trim().replace(/\s+/g, ' ');
  const type = contentType?.split(';')[0]?.trim() || 'no content type';
  const shown = title === undefined || title === '' ? '' : `, "${title}"`;
  return new PlutoWrongServerError(
    `${baseUrl} is not Pluto's API: ${path} answered ${status} (${type}${shown}) instead of Pluto's JSON; ` +
      `check the API URL (Pluto's is https://api.pluto.bio/)`,
  );
}
