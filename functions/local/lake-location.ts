import { StoreCatalog } from '../adapters/store-catalog.js';
import type { Catalog, ObjectStore } from '../core/ports.js';
import { openFolderLake } from './local-export.js';

export interface LakeHandle {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
}

/** `--out`: a folder (the embedded default store) or `s3://bucket/prefix`. */
export async function openLakeStore(out: string): Promise<LakeHandle> {
  if (out.startsWith('s3://')) {
    const { S3Store, parseS3Url } = await import('../adapters/s3-store.js');
    const store = new S3Store(parseS3Url(out));
    return { store, catalog: new StoreCatalog(store) };
  }
  return openFolderLake(out);
}
