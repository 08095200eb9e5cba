/**
 * Normalizes a `{count, headers, items}` data page to columns. Pluto sends row objects
 * (`items[i]` is `{header: value}`), except for `volcano_plot_v2` plots, whose `items[i]` is
 * the column `headers[i]`; the layout is recognised by shape, not by display type.
 */
import { PageDriftError, PlutoBadResponseError } from '../errors.js';
import type { DataPage } from './model.js';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A page object that leaves `count` out entirely (not one whose `count` is broken). */
export function isCountlessPage(body: unknown): boolean {
  return isRecord(body) && !('count' in body) && 'headers' in body && 'items' in body;
}

/**
 * `where` names the request in messages (a path relative to the API root). A page read in one
 * request (`countless`) may leave `count` out: the rows it holds are then the count.
 */
export function toDataPage(
  body: unknown,
  offset: number,
  limit: number,
  where: string,
  countless = false,
): DataPage {
  const bad = (what: string) =>
    new PlutoBadResponseError(`Pluto sent an unexpected data page for ${where}: ${what}`);
  if (!isRecord(body)) throw bad('the body is not an object');
  if (countless && isCountlessPage(body)) {
    const page = toDataPage({ ...body, count: rowsOf(body.items) }, offset, limit, where);
    return { ...page, whole: true };
  }
  const { count, headers, items } = body;
  if (!isCount(count)) throw bad('`count` is not a non-negative integer');
  if (!Array.isArray(headers) || !headers.every((h) => typeof h === 'string')) {
    throw bad('`headers` is not a list of strings');
  }
  if (!Array.isArray(items)) throw bad('`items` is not a list');
  const names = headers as string[];

  let page: DataPage;
  if (items.length === 0) {
    page = { count, headers: names, offset, rowCount: 0, columns: names.map(() => []), layout: 'rows' };
  } else if (items.every(Array.isArray)) {
    page = fromColumns(count, names, items as unknown[][], offset, bad);
  } else if (items.every(isRecord)) {
    page = fromRows(count, names, items as Record<string, unknown>[], offset, bad);
  } else {
    throw bad('`items` mixes row objects, column arrays or other values');
  }

  // Seen with column-major plot data: every row comes back whatever the paging. Used as the whole
  // dataset rather than read as drift; a row page longer than its limit is still drift.
  if (page.layout === 'columns' && page.rowCount > limit && page.rowCount === count) {
    return { ...page, offset: 0, whole: true };
  }
  if (page.rowCount > limit) {
    throw new PageDriftError(
      `Pluto sent ${page.rowCount} rows for ${where}, more than the limit of ${limit} (page longer than limit)`,
    );
  }
  if (offset + page.rowCount > count) {
    throw new PageDriftError(
      `Pluto sent ${page.rowCount} rows at offset ${offset} for ${where}, beyond its count of ${count}`,
    );
  }
  return page;
}

/** Rows of a page's `items`, row objects or column arrays; what is not a list counts none. */
function rowsOf(items: unknown): number {
  if (!Array.isArray(items)) return 0;
  return items.every(Array.isArray) ? ((items[0] as unknown[] | undefined)?.length ?? 0) : items.length;
}

function fromColumns(
  count: number,
  headers: string[],
  columns: unknown[][],
  offset: number,
  bad: (what: string) => Error,
): DataPage {
  if (columns.length !== headers.length) {
    throw bad(`${columns.length} column arrays for ${headers.length} headers`);
  }
  const rowCount = columns[0]?.length ?? 0;
  for (let i = 1; i < columns.length; i++) {
    if (columns[i]?.length !== rowCount) {
      throw bad(
        `column "${headers[i]}" has ${columns[i]?.length} cells, column "${headers[0]}" has ${rowCount}`,
      );
    }
  }
  return { count, headers, offset, rowCount, columns, layout: 'columns' };
}

function fromRows(
  count: number,
  headers: string[],
  rows: Record<string, unknown>[],
  offset: number,
  bad: (what: string) => Error,
): DataPage {
  const index = new Map<string, number>();
  headers.forEach((h, i) => {
    if (index.has(h)) throw bad(`header "${h}" appears twice, so row objects cannot tell its columns apart`);
    index.set(h, i);
  });
  const rowCount = rows.length;
  const columns: unknown[][] = headers.map(() => new Array<unknown>(rowCount).fill(null));
  for (let r = 0; r < rowCount; r++) {
    const row = rows[r] as Record<string, unknown>;
    for (const key in row) {
      const c = index.get(key);
      if (c === undefined) throw bad(`row ${offset + r} has a key "${key}" that is not in headers`);
      (columns[c] as unknown[])[r] = row[key];
    }
  }
  return { count, headers, offset, rowCount, columns, layout: 'rows' };
}

/** A table read in one piece (a signed URL's CSV or JSON): the whole dataset, row-major. */
export function wholeTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): DataPage {
  const columns = headers.map((_, c) => rows.map((row) => row[c] ?? null));
  return {
    count: rows.length,
    headers,
    offset: 0,
    rowCount: rows.length,
    columns,
    layout: 'rows',
    whole: true,
  };
}
