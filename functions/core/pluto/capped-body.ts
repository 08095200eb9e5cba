/**
 * Response bodies from the network are read as streams and abandoned at a cap counted after
 * decompression, so a small gzip body cannot expand into gigabytes (design.md, Untrusted input).
 */

/** The body as text, or `tooLarge()` thrown once more than `maxBytes` arrived (or were declared). */
export async function readCapped(
  response: Response,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(body);
}

/**
 * The body up to its first line break outside double quotes: the header line of a CSV, read
 * without the rest of the body, which is abandoned. `tooLarge()` is thrown past `maxBytes`.
 */
export async function readFirstLine(
  response: Response,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let total = 0;
  let quoted = false;
  for (let scanned = 0; ; ) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    total += value.byteLength;
    text += decoder.decode(value, { stream: true });
    for (; scanned < text.length; scanned++) {
      const c = text[scanned];
      if (c === '"') quoted = !quoted;
      else if (!quoted && (c === '\n' || c === '\r')) {
        await reader.cancel();
        return text.slice(0, scanned);
      }
    }
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
  }
}
