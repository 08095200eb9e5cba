/**
 * Limit/offset paging of Pluto's answers: the lists (`{count, items}`, Django REST Framework's
 * envelope) and the file inventory's groups (`{<data type>: {count, items}}`). Pages are asked
 * through the client's calls (token, retries, caps); here only what a page must hold, the ceiling
 * on pages, and drift between pages are checked.
 */
import type { z } from 'zod';
import { PageDriftError, PlutoBadResponseError } from '../errors.js';
import { checkLimit } from '../limits.js';
import { fileGroupSchema, fileItemSchema, listEnvelopeSchema, type PlutoFile } from './model.js';
import { validate } from './validate.js';

export interface Pager {
  readonly pageSize: number;
  readonly maxListPages: number;
  /** The answer at `where` (a path with its query), read by `read`. */
  page<T>(where: string, read: (json: unknown) => T): Promise<T>;
  /** A list's page; `rootListing` when a 404 there means no Pluto API at the URL. */
  listPage<T>(where: string, read: (json: unknown) => T, rootListing: boolean): Promise<T>;
}

export async function* listAll<S extends z.ZodType>(
  pager: Pager,
  path: string,
  schema: S,
): AsyncGenerator<z.output<S>> {
  const { pageSize } = pager;
  const rootListing = path === 'lab/projects/' || path === 'lab/experiments/';
  let offset = 0;
  let expected: number | undefined;
  for (let pages = 1; ; pages++) {
    checkLimit(pages, pager.maxListPages, `the pages of ${path}`, 'maxListPages');
    const where = `${path}?limit=${pageSize}&offset=${offset}`;
    const page = await pager.listPage(
      where,
      (json) => {
        const envelope = validate(listEnvelopeSchema, json, where);
        if (envelope.items.length > pageSize || offset + envelope.items.length > envelope.count) {
          throw new PlutoBadResponseError(
            `Pluto sent ${envelope.items.length} items for ${where} with a count of ${envelope.count}: more than asked for`,
          );
        }
        return {
          count: envelope.count,
          items: envelope.items.map((item) => validate(schema, item, where)),
        };
      },
      rootListing,
    );
    if (expected !== undefined && page.count !== expected) {
      throw new PageDriftError(
        `Pluto's count for ${path} changed from ${expected} to ${page.count} while paging`,
      );
    }
    expected = page.count;
    yield* page.items;
    offset += page.items.length;
    if (offset >= page.count) return;
    if (page.items.length === 0) {
      throw new PageDriftError(`Pluto sent an empty page for ${where} although its count is ${page.count}`);
    }
  }
}

/**
 * The answer is grouped by data type, `{<type>: {count, items}}`, as Pluto's R client reads it;
 * a group holding fewer items than its count is paged with `data_type`, `limit` and `offset`.
 */
export async function listFileGroups(pager: Pager, path: string, experimentId: string): Promise<PlutoFile[]> {
  const { pageSize } = pager;
  const groups = await pager.page(path, (json) => fileGroupsOf(json, path));
  const files: PlutoFile[] = [];
  for (const [dataType, group] of groups) {
    const items = [...group.items];
    for (let pages = 1; items.length < group.count; pages++) {
      checkLimit(pages, pager.maxListPages, `the pages of ${path}`, 'maxListPages');
      const where = `${path}?data_type=${encodeURIComponent(dataType)}&limit=${pageSize}&offset=${items.length}`;
      const page = await pager.page(where, (json) => fileGroupsOf(json, where).get(dataType));
      if (page === undefined || page.count !== group.count || page.items.length === 0) {
        throw new PageDriftError(
          `Pluto's ${dataType} files of ${experimentId} changed while paging (count ${group.count}, then ${page?.count ?? 'none'})`,
        );
      }
      items.push(...page.items);
    }
    for (const item of items) files.push({ dataType, item: validate(fileItemSchema, item, path) });
  }
  return files;
}

/** The `{count, items}` groups of a files answer, by data type; other members are ignored. */
function fileGroupsOf(json: unknown, where: string): Map<string, { count: number; items: unknown[] }> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new PlutoBadResponseError(
      `Pluto sent an unexpected body for ${where}: not an object of file groups`,
    );
  }
  const groups = new Map<string, { count: number; items: unknown[] }>();
  for (const [dataType, value] of Object.entries(json)) {
    const group = fileGroupSchema.safeParse(value);
    if (!group.success) continue;
    if (group.data.items.length > group.data.count) {
      throw new PlutoBadResponseError(
        `Pluto sent ${group.data.items.length} ${dataType} files for ${where} with a count of ${group.data.count}`,
      );
    }
    groups.set(dataType, group.data);
  }
  return groups;
}
