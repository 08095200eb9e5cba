/**
 * Plot data that Pluto answers with `{"url": ...}` instead of a table (Pluto's Python SDK reads
 * `response["url"]`): a signed URL on another origin, fetched without the API token. CSV and JSON
 * become one whole-dataset page; anything else means the plot has no table.
 */
import {
  PlutoBadResponseError,
  PlutoNoTableError,
  PlutoUnsafeResponseError,
  PlutoUpstreamError,
} from '../errors.js';
import { readCapped, readFirstLine } from './capped-body.js';
import { toDataPage, wholeTable } from './data-page.js';
import { parseJsonLossless } from './json.js';
import type { DataPage } from './model.js';
import { openSigned, signedUrlError } from './open-signed.js';

export interface SignedUrlAnswer {
  readonly url: string;
}

export function isSignedUrlAnswer(body: unknown): body is SignedUrlAnswer {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { url?: unknown }).url === 'string' &&
    !('items' in body)
  );
}

export interface SignedTableOptions {
  readonly timeoutMs: number;
  readonly userAgent: string;
  /** The whole table is one body: it is abandoned past this many bytes, counted after decompression. */
  readonly maxBytes: number;
  /** True when the text holds the API token: such a table is refused like an API answer that holds it. */
  readonly holdsSecret: (text: string) => boolean;
}

/** The media type of a Content-Type header, lowercased, without parameters; '' when absent. */
export function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

type SignedFetchOptions = Pick<SignedTableOptions, 'timeoutMs' | 'userAgent' | 'maxBytes'>;

/**
 * Opens a signed URL (`openSigned`) and reads its body within `timeoutMs` from the request's start:
 * a table is one body, so the bound covers all of it, not only the headers.
 */
async function withSigned<T>(
  url: string,
  where: string,
  options: SignedFetchOptions,
  read: (response: Response) => Promise<T>,
): Promise<T> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await openSigned(url, where, {
      userAgent: options.userAgent,
      headersTimeoutMs: options.timeoutMs,
      signal,
    });
    return await read(response);
  } catch (cause) {
    throw signedUrlError(where, cause);
  }
}

/**
 * A signed URL's status, media type and body, abandoned past `maxBytes`: `whole`, or its `first line`
 * (up to the first line break outside quotes: a CSV's header line), the rest abandoned unread.
 */
export function fetchSigned(
  url: string,
  where: string,
  options: SignedFetchOptions,
  part: 'whole' | 'first line' = 'whole',
): Promise<{ status: number; contentType: string; text: string }> {
  const read = part === 'whole' ? readCapped : readFirstLine;
  return withSigned(url, where, options, async (response) => ({
    status: response.status,
    contentType: mediaType(response.headers.get('content-type')),
    text: await read(response, options.maxBytes, () => tooLargeError(where, options.maxBytes)),
  }));
}

/**
 * The header of the CSV behind a signed URL, from its first line only. Undefined when the URL does
 * not answer 2xx `text/csv`.
 */
export async function readSignedCsvHeaders(
  url: string,
  where: string,
  options: SignedTableOptions,
): Promise<string[] | undefined> {
  const { status, contentType, text } = await fetchSigned(url, where, options, 'first line');
  if (status < 200 || status > 299 || contentType !== 'text/csv') return undefined;
  if (options.holdsSecret(text)) throw signedTokenError(where);
  return csvRecords(text, where)[0] ?? [];
}

function tooLargeError(where: string, maxBytes: number): PlutoUnsafeResponseError {
  return new PlutoUnsafeResponseError(
    `The signed URL that Pluto gave for ${where} served more than ${maxBytes} bytes (setting maxResponseBytes); it was not read further`,
  );
}

export function signedTokenError(where: string): PlutoUnsafeResponseError {
  return new PlutoUnsafeResponseError(
    `The signed URL that Pluto gave for ${where} served the API token; it was refused and nothing of it was kept`,
  );
}

export async function readSignedTable(
  answer: SignedUrlAnswer,
  where: string,
  options: SignedTableOptions,
): Promise<DataPage> {
  const { status, contentType: type, text: body } = await fetchSigned(answer.url, where, options);
  if (status < 200 || status > 299) {
    throw new PlutoUpstreamError(`The signed URL that Pluto gave for ${where} answered ${status}`);
  }
  if (type !== 'text/csv' && type !== 'application/json') {
    throw new PlutoNoTableError(
      `The data of ${where} is ${type === '' ? 'content without a type' : type}, not a table`,
    );
  }
  const page = type === 'text/csv' ? csvTable(body, where) : jsonTable(body, where);
  // JSON `\u` escapes spell text that the body does not show: the parsed cells are checked too.
  const spelled = () =>
    body.includes('\\u') && options.holdsSecret(JSON.stringify([page.headers, page.columns]));
  if (options.holdsSecret(body) || spelled()) throw signedTokenError(where);
  return page;
}

function jsonTable(text: string, where: string): DataPage {
  let body: unknown;
  try {
    body = parseJsonLossless(text);
  } catch (cause) {
    throw new PlutoBadResponseError(`The signed URL for ${where} served invalid JSON`, { cause });
  }
  if (Array.isArray(body)) {
    const rows = body.filter(
      (row): row is Record<string, unknown> => typeof row === 'object' && row !== null,
    );
    const headers = rows.length === 0 ? [] : Object.keys(rows[0] as object);
    return wholeTable(
      headers,
      rows.map((row) => headers.map((h) => row[h] ?? null)),
    );
  }
  const items = (body as { items?: unknown }).items;
  const page = toDataPage(
    { count: Array.isArray(items) ? items.length : 0, ...(body as object) },
    0,
    Number.MAX_SAFE_INTEGER,
    where,
  );
  return { ...page, whole: true };
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** RFC 4180: quoted fields may hold commas, quotes ("") and line breaks. Numbers are read as JSON numbers. */
export function csvTable(text: string, where: string): DataPage {
  const records = csvRecords(text, where);
  const [headers = [], ...rows] = records;
  return wholeTable(
    headers,
    rows.map((row) => row.map(csvCell)),
  );
}

function csvCell(field: string): unknown {
  if (field === '') return null;
  return NUMBER.test(field) ? parseJsonLossless(field) : field;
}

function csvRecords(text: string, where: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += c;
  }
  if (quoted) throw new PlutoBadResponseError(`The CSV for ${where} ends inside a quoted field`);
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}
