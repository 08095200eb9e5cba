/**
 * A current view of an S3 lake for readers that do not ask Glue (design.md, Lake contract): for
 * each table, `current/<table>.txt` lists the URL of every part of every partition the catalog
 * points at, one a line. A reader that takes a list of files (DuckDB's `read_parquet` of a list)
 * reads exactly the committed rows; a glob over `data/` also reads every older run.
 *
 * Each list is rebuilt against the catalog, not from one run's records, so a list that an earlier
 * run failed to write heals at the next one. Only partitions whose pointer moved since the last
 * list (or that hold no part) are listed in the store; the rest keep their lines. A list is one object, replaced by a
 * single PUT: a reader gets the previous list or the new one, and the parts of either exist (a
 * superseded run's folder stays for the grace period).
 */
import { TABLE_NAMES, type TableName } from './contract.js';
import { currentListKey } from './layout.js';
import type { Catalog, ObjectStore } from './ports.js';
import { encodeText } from './records.js';

const PART_SUFFIX = '.parquet';

/** Rewrites the list of every table whose committed parts changed; a store without `url` has none. */
export async function publishCurrentLists(deps: { store: ObjectStore; catalog: Catalog }): Promise<void> {
  const { store } = deps;
  if (store.url === undefined) return;
  const url = (key: string) => store.url?.(key) ?? key;
  for (const table of TABLE_NAMES) {
    const previous = await previousList(store, table);
    const lines: string[] = [];
    let changed = false;
    for (const pointer of await deps.catalog.listPartitions(table)) {
      const folder = pointer.location.endsWith('/') ? pointer.location : `${pointer.location}/`;
      const kept = previous.byFolder.get(url(folder));
      if (kept !== undefined) {
        lines.push(...kept);
        continue;
      }
      changed = true;
      const parts = await store.list(folder);
      lines.push(...parts.filter((part) => part.key.endsWith(PART_SUFFIX)).map((part) => url(part.key)));
    }
    if (changed || !previous.exists || lines.length !== previous.lines) {
      await store.put(currentListKey(table), encodeText(lines.map((line) => `${line}\n`).join('')));
    }
  }
}

interface PreviousList {
  readonly exists: boolean;
  readonly lines: number;
  /** Lines by the URL of their folder, the partition's location. */
  readonly byFolder: Map<string, string[]>;
}

async function previousList(store: ObjectStore, table: TableName): Promise<PreviousList> {
  const body = await store.get(currentListKey(table));
  const byFolder = new Map<string, string[]>();
  if (body === undefined) return { exists: false, lines: 0, byFolder };
  const lines = new TextDecoder()
    .decode(body)
    .split('\n')
    .filter((line) => line !== '');
  for (const line of lines) {
    const folder = line.slice(0, line.lastIndexOf('/') + 1);
    const group = byFolder.get(folder);
    if (group === undefined) byFolder.set(folder, [line]);
    else group.push(line);
  }
  return { exists: true, lines: lines.length, byFolder };
}
