/**
 * The one way a command opens a lake: a folder (the embedded default store, with its catalog beside
 * the data) or `s3://bucket/prefix`. Export, query, runs, status and `npm start` all come here.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CurrentTreeCatalog } from '../adapters/current-tree.js';
import { FolderStore } from '../adapters/folder-store.js';
import type { S3Location } from '../adapters/s3-store.js';
import { StoreCatalog } from '../adapters/store-catalog.js';
import { ConfigError } from '../core/errors.js';
import type { Catalog, ObjectStore } from '../core/ports.js';
import { checkOutputFolder } from './output-folder.js';

export interface Lake {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  /** Where the lake is: an absolute folder path, or the bucket and key prefix. */
  readonly place: { readonly folder: string } | { readonly s3: S3Location };
}

export interface OpenLakeOptions {
  /** The option the location came from, for messages: `--out` or `--lake`. */
  readonly option?: string;
  /** A folder that does not exist is a usage error (commands that only read). */
  readonly mustExist?: boolean;
  /** To `export` into it, its configuration is checked first, so a mistake there exits 2 at once. */
  readonly purpose?: 'read' | 'export';
}

export async function openLake(location: string, options: OpenLakeOptions = {}): Promise<Lake> {
  const option = options.option ?? '--out';
  const exporting = options.purpose === 'export';
  if (location.startsWith('s3://')) {
    const { S3Store, parseS3Url } = await import('../adapters/s3-store.js');
    const s3 = parseS3Url(location, option);
    const store = new S3Store(s3);
    if (exporting) await store.checkConfigured();
    return { store, catalog: new StoreCatalog(store), place: { s3 } };
  }
  const folder = resolve(location);
  if (options.mustExist && !existsSync(folder)) {
    throw new ConfigError(`${option} ${folder} does not exist: run pluto-export export first`);
  }
  if (exporting) await checkOutputFolder(location);
  const store = new FolderStore(folder);
  const catalog = new CurrentTreeCatalog(new StoreCatalog(store), folder);
  if (exporting) await catalog.sync();
  return { store, catalog, place: { folder } };
}
