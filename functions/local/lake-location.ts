import { StoreCatalog } from '../adapters/store-catalog.js';
import type { Catalog, ObjectStore } from '../core/ports.js';
import { openFolderLake } from './local-export.js';
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
  if (purpose === 'export') await checkOutputFolder(out);
  return openFolderLake(out);
}
