/**
 * Plot data that Pluto answers with `{"url": ...}` instead of a table (Pluto's Python SDK reads
 * `response["url"]`): a signed URL on another origin, fetched without the API token. CSV and JSON
 * become one whole-dataset page; anything else means the plot has no table.
 */
import { PlutoBadResponseError, PlutoNoTableError, PlutoUpstreamError } from '../errors.js';
import { toDataPage, wholeTable } from './data-page.js';
import { parseJsonLossless } from './json.js';
import type { DataPage } from './model.js';

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

/** The media type of a Content-Type header, lowercased, without parameters; '' when absent. */
export function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Fetches a signed URL without the API token: the URL is its own credential, and the token must
 * not leave for another origin. `where` names the Pluto request that gave the URL; the URL itself
 * (it carries a signature) is never shown.
 */
export async function fetchSigned(
  url: string,
  where: string,
  options: { timeoutMs: number; userAgent: string },
): Promise<{ status: number; contentType: string; text: string }> {
  try {
    const response = await fetch(url, {
      headers: { 'User-Agent': options.userAgent },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await response.text();
    return { status: response.status, contentType: mediaType(response.headers.get('content-type')), text };
  } catch (cause) {
    throw new PlutoUpstreamError(`The signed URL that Pluto gave for ${where} did not answer`, { cause });
  }
}

export async function readSignedTable(
  answer: SignedUrlAnswer,
  where: string,
  options: { timeoutMs: number; userAgent: string },
): Promise<DataPage> {
  const { status, contentType, text } = await fetchSigned(answer.url, where, options);
  if (status < 200 || status > 299) {
    throw new PlutoUpstreamError(`The signed URL that Pluto gave for ${where} answered ${status}`);
  }
  if (contentType === 'text/csv') return csvTable(text, where);
  if (contentType === 'application/json') return jsonTable(text, where);
  throw new PlutoNoTableError(
    `The data of ${where} is ${contentType === '' ? 'content without a type' : contentType}, not a table`,
  );
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
function csvTable(text: string, where: string): DataPage {
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
