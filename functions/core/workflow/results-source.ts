/**
 * Where each plot's results are read (design.md, Pluto API). Under `auto` the download is read when
 * its CSV has more columns than the data pages. The choice goes into the commit record with the
 * digest of the data pages it was made on: while a plot's pages show the same, later plans keep it
 * without asking for the download, so an unchanged experiment costs no request for it.
 */
import type { ResultsRef } from '../pluto/model.js';
import type { PlutoApi } from '../ports.js';
import type { ResultsChoice } from '../records.js';

/** What planning saw of a plot's data pages: their header row and the digest of what it read. */
export interface DataPagesSeen {
  readonly headers: readonly string[];
  readonly digest: string;
}

export async function chooseResultsOrigin(
  pluto: PlutoApi,
  ref: ResultsRef,
  data: DataPagesSeen,
  previous: ResultsChoice | undefined,
): Promise<ResultsChoice> {
  if (previous !== undefined && previous.dataDigest === data.digest) return previous;
  const headers = await pluto.getDownloadHeaders(ref);
  return {
    from: headers !== undefined && headers.length > data.headers.length ? 'download' : 'data',
    dataDigest: data.digest,
    downloadColumns: headers?.length ?? null,
  };
}
