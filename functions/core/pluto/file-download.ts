/**
 * A file's bytes from the signed URL Pluto gives for it, as a stream: fetched without the API
 * token (the URL is its own credential, on another origin), counted as they arrive, stopped past
 * the size cap, and checked against the size the inventory gave.
 */
import { FileTooLargeError, PlutoBadResponseError, PlutoUpstreamError } from '../errors.js';
import { openSigned } from './open-signed.js';

export interface DownloadOptions {
  /** Names the file in messages; the URL (it carries a signature) is never shown. */
  readonly what: string;
  readonly userAgent: string;
  /** Until the response headers arrive. */
  readonly timeoutMs: number;
  /** Bytes beyond this stop the download. */
  readonly maxBytes: number;
  /** The inventory's size, when it gave one: any other length is an error. */
  readonly expectedBytes: number | null;
}

export async function* downloadSigned(url: string, options: DownloadOptions): AsyncGenerator<Uint8Array> {
  const { what, maxBytes, expectedBytes } = options;
  // Only the headers are bounded: a large file streams for as long as it keeps arriving.
  const response = await openSigned(url, what, {
    userAgent: options.userAgent,
    headersTimeoutMs: options.timeoutMs,
  });
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new PlutoUpstreamError(`The signed URL that Pluto gave for ${what} answered ${response.status}`);
  }
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await response.body.cancel();
    throw new FileTooLargeError(
      `${what} is ${declared} bytes, more than the ${maxBytes} bytes --max-file-bytes allows`,
    );
  }
  const reader = response.body.getReader();
  let received = 0;
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (cause) {
        throw new PlutoUpstreamError(`The download of ${what} broke after ${received} bytes`, { cause });
      }
      if (chunk.done) break;
      received += chunk.value.byteLength;
      // Without a Content-Length only the count tells a body longer than the file: stop there.
      // Checked before the cap because a file is planned only when its size is within the cap, so
      // a chunk that crosses both is a body longer than the file, wherever the chunk ends.
      if (expectedBytes !== null && received > expectedBytes) {
        throw new PlutoBadResponseError(
          `${what} came with more than the ${expectedBytes} bytes Pluto's inventory says; it was not read further`,
        );
      }
      if (received > maxBytes) {
        throw new FileTooLargeError(`${what} is more than the ${maxBytes} bytes --max-file-bytes allows`);
      }
      yield chunk.value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  if (expectedBytes !== null && received !== expectedBytes) {
    throw new PlutoBadResponseError(
      `${what} came with ${received} bytes; Pluto's inventory says ${expectedBytes}`,
    );
  }
}
