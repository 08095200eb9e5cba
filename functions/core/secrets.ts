/**
 * The API token is never printed or persisted (design.md, Untrusted input). Answers that hold it
 * are refused where they enter; as a second line, every sink passes its text through
 * `maskSecrets`: JSON records, `report.md`, Parquet string cells, step errors and outputs, the
 * command line's output and the Lambda logs.
 *
 * The secrets are held process-wide on purpose: the sinks sit deep in encoders that know nothing of
 * where the token came from, and a mask passed down as a parameter could be forgotten at one call
 * site without any test noticing; a registry that the Pluto client fills cannot be bypassed.
 */
import { PlutoExportError, PlutoRateLimitedError } from './errors.js';

export const REDACTED = '[redacted]';

/** Shorter strings are not secrets worth masking, and masking them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 16;

const held = new Set<string>();

/** From now on, `maskSecrets` replaces `secret` wherever it appears. */
export function holdSecret(secret: string): void {
  if (secret.length >= MIN_SECRET_LENGTH) held.add(secret);
}

export function holdsSecret(text: string): boolean {
  for (const secret of held) if (text.includes(secret)) return true;
  return false;
}

/** `text` with every held secret replaced by `[redacted]`. */
export function maskSecrets(text: string): string {
  let masked = text;
  for (const secret of held) {
    if (masked.includes(secret)) masked = masked.split(secret).join(REDACTED);
  }
  return masked;
}

/**
 * An error whose texts hold a secret, rebuilt with them masked: the same class for the exporter's
 * errors (Step Functions matches on the name), without the cause, whose texts would hold it too.
 * Any other error becomes a plain `Error` under the same name. Errors without a secret are returned
 * as they are.
 */
export function maskErrorSecrets(error: unknown): unknown {
  if (!(error instanceof Error) || !errorHoldsSecret(error)) return error;
  if (error instanceof PlutoExportError) {
    const Rebuilt = error.constructor as new (
      message: string,
      options: { detail?: string; code?: string; details?: string; retryAfterMs?: number },
    ) => PlutoExportError;
    const mask = (text: string | undefined) => (text === undefined ? undefined : maskSecrets(text));
    return new Rebuilt(maskSecrets(error.message), {
      detail: mask(error.detail),
      code: mask(error.code),
      details: mask(error.details),
      retryAfterMs: error instanceof PlutoRateLimitedError ? error.retryAfterMs : undefined,
    });
  }
  const rebuilt = new Error(maskSecrets(error.message));
  rebuilt.name = error.name;
  return rebuilt;
}

const MAX_CAUSES = 8;

function errorHoldsSecret(error: Error): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < MAX_CAUSES; depth++) {
    const e = current as Error & { detail?: string; code?: unknown; details?: string };
    const texts = [e.message, e.stack, e.detail, typeof e.code === 'string' ? e.code : undefined, e.details];
    if (texts.some((text) => text !== undefined && holdsSecret(text))) return true;
    current = e.cause;
  }
  return current !== undefined && !(current instanceof Error) && holdsSecret(String(current));
}

/** A JSON-shaped value with every held secret masked in its strings (keys included). */
export function maskValueSecrets<T>(value: T): T {
  if (held.size === 0 || value === undefined) return value;
  const text = JSON.stringify(value);
  return text === undefined || !holdsSecret(text) ? value : (JSON.parse(maskSecrets(text)) as T);
}
