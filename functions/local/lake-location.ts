import { CurrentTreeCatalog } from '../adapters/current-tree.js';
import { FolderStore } from '../adapters/folder-store.js';
import { StoreCatalog } from '../adapters/store-catalog.js';
import type { Catalog, ObjectStore } from '../core/ports.js';
import { checkOutputFolder } from './output-folder.js';

export interface LakeHandle {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
}

/**
 * `--out`: a folder (the embedded default store) or `s3://bucket/prefix`. To `export` into it, its
 * configuration is checked first, so a mistake there exits 2 at once.
 */
export async function openLakeStore(out: string, purpose: 'read' | 'export' = 'read'): Promise<LakeHandle> {
  if (out.startsWith('s3://')) {
    const { S3Store, parseS3Url } = await import('../adapters/s3-store.js');
    const store = new S3Store(parseS3Url(out));
    if (purpose === 'export') await store.checkConfigured();
    return { store, catalog: new StoreCatalog(store) };
  }
  if (purpose === 'read') return openFolderLake(out);
  await checkOutputFolder(out);
  const lake = openFolderLake(out);
  await lake.catalog.sync();
  return lake;
}

/** The local lake: a folder store with its catalog beside the data and the `current/` tree it keeps. */
export function openFolderLake(root: string): { store: FolderStore; catalog: CurrentTreeCatalog } {
  const store = new FolderStore(root);
  return { store, catalog: new CurrentTreeCatalog(new StoreCatalog(store), root) };
}
