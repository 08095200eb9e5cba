/**
 * File names from Pluto become the last segment of an object key. What could change the key's
 * meaning or break a reader is removed; `files.file_name` keeps the name exactly as given.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const SEPARATORS = /[/\\]+/g;
const MAX_NAME_BYTES = 200;

/** A key segment for a file name: no separators, no `..`, no control characters, at most 200 bytes. */
export function safeFileName(name: string | null): string {
  let safe = (name ?? '')
    .normalize('NFC')
    .replace(CONTROL, '')
    .replace(SEPARATORS, '_')
    .replace(/\.{2,}/g, '.')
    .trim();
  safe = safe.replace(/^\.+/, '');
  while (Buffer.byteLength(safe) > MAX_NAME_BYTES) safe = Array.from(safe).slice(0, -1).join('');
  return safe === '' ? 'file' : safe;
}
