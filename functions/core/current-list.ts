/**
 * A current view of an S3 lake for readers that do not ask Glue (design.md, Lake contract): for
 * each table, `current/<table>.txt` lists the URL of every part of every partition the catalog
 * points at, one a line. A reader that takes a list of files (DuckDB's `read_parquet` of a list)
 * reads exactly the committed rows; a glob over `data/` also reads every older run.
 *
 * Each list is rebuilt against the catalog, not from one run's records alone, so a list that an
 * earlier run failed to write heals at the next one. The parts of the partitions this run
 * committed come from its records; a partition that did not move keeps its lines; only one that
 * neither explains (a list written before, an empty partition) is listed in the store. A list is
 * one object, replaced by a single PUT when its text changed: a reader gets the previous list or
 * the new one, and the parts of either exist (a superseded run's folder stays for the grace period).
 */
import { mapConcurrent } from './concurrency.js';
import { TABLE_NAMES, type TableName } from './contract.js';
import { currentListKey } from './layout.js';
import type { Catalog, ObjectStore, PartitionPointer } from './ports.js';
import type { PartInfo } from './records.js';
import { encodeText } from './records.js';

const PART_SUFFIX = '.parquet';
/** Store listings in flight at once, for partitions no record or earlier list explains. */
const LIST_CONCURRENCY = 16;

/** What a run knows it published: every part of the folders it committed. */
export interface KnownParts {
  /** Partition folders (keys ending in `/`) whose every part is in `parts`. */
  readonly folders: ReadonlySet<string>;
  readonly parts: readonly PartInfo[];
}

const folderOf = (key: string) => key.slice(0, key.lastIndexOf('/') + 1);

/** Rewrites the list of every table whose committed parts changed; a store without `url` has none. */
export async function publishCurrentLists(
  deps: { store: ObjectStore; catalog: Catalog },
  known: KnownParts,
): Promise<void> {
  const { store } = deps;
  const url = store.url?.bind(store);
  if (url === undefined) return;
  const knownByFolder = groupBy(
    known.parts.map((part) => part.key),
    folderOf,
  );
  for (const table of TABLE_NAMES) {
    const previous = await previousList(store, table);
    const kept = groupBy(previous.lines, folderOf);
    const linesOf = async (pointer: PartitionPointer): Promise<string[]> => {
      const folder = pointer.location.endsWith('/') ? pointer.location : `${pointer.location}/`;
      if (known.folders.has(folder)) return (knownByFolder.get(folder) ?? []).map(url);
      const lines = kept.get(url(folder));
      if (lines !== undefined) return lines;
      const parts = await store.list(folder);
      return parts.filter((part) => part.key.endsWith(PART_SUFFIX)).map((part) => url(part.key));
    };
    const pointers = await deps.catalog.listPartitions(table);
    const text = (await mapConcurrent(pointers, LIST_CONCURRENCY, linesOf))
      .flat()
      .map((line) => `${line}\n`)
      .join('');
    if (text !== previous.text) await store.put(currentListKey(table), encodeText(text));
  }
}

async function previousList(
  store: ObjectStore,
  table: TableName,
): Promise<{ text: string | undefined; lines: string[] }> {
  const body = await store.get(currentListKey(table));
  if (body === undefined) return { text: undefined, lines: [] };
  const text = new TextDecoder().decode(body);
  return { text, lines: text.split('\n').filter((line) => line !== '') };
}

function groupBy(items: readonly string[], keyOf: (item: string) => string): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}
