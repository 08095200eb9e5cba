/**
 * Opening a signed URL Pluto gave (a table behind plot data, a plot's download, a file): fetched
 * without the API token, since the URL is its own credential on another origin, and with the
 * exporter's user agent. The URL carries a signature and is never shown: `what` names the Pluto
 * request that gave it.
 */
import { PlutoExportError, PlutoUpstreamError } from '../errors.js';

export interface OpenSignedOptions {
  readonly userAgent: string;
  /** Until the response headers arrive; the body is not bounded here. */
  readonly headersTimeoutMs: number;
  /** Aborts the request and its body, e.g. a bound on the whole body of a table. */
  readonly signal?: AbortSignal;
}

/** The response once its headers arrived; reading or cancelling the body is the caller's. */
export async function openSigned(url: string, what: string, options: OpenSignedOptions): Promise<Response> {
  const headersArrived = new AbortController();
  const timer = setTimeout(() => headersArrived.abort(), options.headersTimeoutMs);
  const signal =
    options.signal === undefined
      ? headersArrived.signal
      : AbortSignal.any([headersArrived.signal, options.signal]);
  try {
    return await fetch(url, { headers: { 'User-Agent': options.userAgent }, signal, redirect: 'follow' });
  } catch (cause) {
    throw signedUrlError(what, cause);
  } finally {
    clearTimeout(timer);
  }
}

/** A signed URL that failed while opening or reading it, as a retryable upstream error. */
export function signedUrlError(what: string, cause: unknown): PlutoExportError {
  if (cause instanceof PlutoExportError) return cause;
  return new PlutoUpstreamError(`The signed URL that Pluto gave for ${what} did not answer`, { cause });
}
