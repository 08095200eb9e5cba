/**
 * Text that came from Pluto is untrusted: ids end up in object keys and file names, other text in
 * terminals and Markdown. These helpers decide what is usable as an id and make the rest harmless
 * to print.
 */

const SHOWN_ID_CHARACTERS = 40;

/**
 * A printable, bounded rendering of an id that failed `ID_PATTERN`: quoted, control characters
 * escaped, long ids cut with their length given. Never matches `ID_PATTERN`, so it cannot collide
 * with a real id.
 */
export function describeUnsafeId(id: string): string {
  const shown = id.length > SHOWN_ID_CHARACTERS ? `${id.slice(0, SHOWN_ID_CHARACTERS)}…` : id;
  const escaped = JSON.stringify(shown).replace(
    // JSON.stringify leaves DEL and the C1 controls as they are.
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return id.length > SHOWN_ID_CHARACTERS ? `${escaped} (${id.length} characters)` : escaped;
}

const LINE_BREAKS = /[\r\n\t\u0085\u2028\u2029]+/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** One line without control characters: line breaks become spaces, escape sequences lose their ESC. */
export function printable(text: string): string {
  return text.replace(LINE_BREAKS, ' ').replace(CONTROL, '');
}

/** `printable`, then Markdown and HTML metacharacters escaped, for a cell of a Markdown table. */
export function markdownText(text: string): string {
  return printable(text).replace(/[\\`*_{}[\]()#+!|<>&~]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`,
  );
}
