/**
 * Plot data that Pluto answers with `{"url": ...}` instead of a table (Pluto's Python SDK reads
 * `response["url"]`): a signed URL on another origin, fetched without the API token. CSV and JSON
 * become one whole-dataset page; anything else means the plot has no table.
 */
import {
  PlutoBadResponseError,
  PlutoExportError,
  PlutoNoTableError,
  PlutoUnsafeResponseError,
  PlutoUpstreamError,
} from '../errors.js';
import { readCapped } from './capped-body.js';
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

export interface SignedTableOptions {
  readonly timeoutMs: number;
  readonly userAgent: string;
  /** The whole table is one body: it is abandoned past this many bytes, counted after decompression. */
  readonly maxBytes: number;
  /** True when the text holds the API token: such a table is refused like an API answer that holds it. */
  readonly holdsSecret: (text: string) => boolean;
}

/** `where` names the Pluto request that gave the URL; the URL itself (it carries a signature) is never shown. */
export async function readSignedTable(
  answer: SignedUrlAnswer,
  where: string,
  options: SignedTableOptions,
): Promise<DataPage> {
  let response: Response;
  let body: string;
  try {
    // No Authorization: the URL is its own credential, and the token must not leave for another origin.
    response = await fetch(answer.url, {
      headers: { 'User-Agent': options.userAgent },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new PlutoUpstreamError(`The signed URL that Pluto gave for ${where} answered ${response.status}`);
    }
    body = await readCapped(
      response,
      options.maxBytes,
      () =>
        new PlutoUnsafeResponseError(
          `The signed URL that Pluto gave for ${where} served more than ${options.maxBytes} bytes (setting maxResponseBytes); it was not read further`,
        ),
    );
  } catch (cause) {
    if (cause instanceof PlutoExportError) throw cause;
    throw new PlutoUpstreamError(`The signed URL that Pluto gave for ${where} did not answer`, { cause });
  }
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'text/csv' && type !== 'application/json') {
    throw new PlutoNoTableError(
      `The data of ${where} is ${type === '' ? 'content without a type' : type}, not a table`,
    );
  }
  const page = type === 'text/csv' ? csvTable(body, where) : jsonTable(body, where);
  // JSON `\u` escapes spell text that the body does not show: the parsed cells are checked too.
  const spelled = () =>
    body.includes('\\u') && options.holdsSecret(JSON.stringify([page.headers, page.columns]));
  if (options.holdsSecret(body) || spelled()) {
    throw new PlutoUnsafeResponseError(
      `The signed URL that Pluto gave for ${where} served the API token; it was refused and nothing of it was kept`,
    );
  }
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
