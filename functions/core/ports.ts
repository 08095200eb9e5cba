/**
 * The collaborators of the core, as interfaces. Real adapters are chosen at the edge:
 * folder store / S3, local catalog / Glue, environment / Secrets Manager, HTTP client / anything
 * that speaks the Pluto API.
 */
import type { TableName } from './contract.js';
import type {
  DataPage,
  DatasetRef,
  PlutoAnalysis,
  PlutoExperiment,
  PlutoFile,
  PlutoPlot,
  PlutoProject,
  ResultsRef,
} from './pluto/model.js';

export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/** An object's bytes with its version, for a write that must not undo another's. */
export interface VersionedObject {
  readonly body: Uint8Array;
  /**
   * Opaque; changes whenever the bytes change and only then (S3: the ETag, a digest of the bytes),
   * so callers that must tell two writes apart write different bytes.
   */
  readonly version: string;
}

export interface PutResult {
  /** False when an object already existed at the key (nothing was written). */
  readonly created: boolean;
}

/** Keys are `/`-separated and relative to the lake root; the store never sees `..` or a leading `/`. */
export interface ObjectStore {
  /** Human-readable root, for messages: a folder path or `s3://bucket/prefix`. */
  readonly location: string;
  /**
   * Where tools outside pluto-export read the object at `key` (`s3://bucket/prefix/key`); the lake
   * then publishes a current file list per table for them. Absent for a folder, whose `current/`
   * tree of links serves them instead.
   */
  url?(key: string): string;
  /** Writes only when nothing is at `key` (exclusive create + rename; S3 `IfNoneMatch: '*'`). */
  putIfAbsent(key: string, body: Uint8Array): Promise<PutResult>;
  /**
   * `putIfAbsent` for a body that arrives in chunks and need not fit in memory (S3 multipart
   * upload completed with `IfNoneMatch: '*'`; a temporary file linked into place). Nothing is
   * visible at `key` until the whole body is stored. When the body throws, its error comes out
   * unchanged and nothing is published; a store failure stops reading the body. The body is read
   * to its end even when `key` is taken: only the final step can tell.
   */
  putStreamIfAbsent(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult>;
  /** Writes or replaces, atomically for readers (leases, pointers and a run's own record only). */
  put(key: string, body: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  getVersioned(key: string): Promise<VersionedObject | undefined>;
  /**
   * Compare-and-swap: replaces the object only while it is still at `version`, in one atomic step
   * (S3 `IfMatch`); false when it changed or went in the meantime (nothing written).
   */
  replaceIfVersion(key: string, body: Uint8Array, version: string): Promise<boolean>;
  /** Deletes the object only while it is still at `version`, atomically; false when it changed or went. */
  deleteIfVersion(key: string, version: string): Promise<boolean>;
  head(key: string): Promise<StoredObject | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<StoredObject[]>;
  delete(key: string): Promise<void>;
  /** Deletes every key (a missing one is not an error), as few requests as the store allows. */
  deleteAll(keys: readonly string[]): Promise<void>;
  /**
   * Removes what an interrupted writer leaves behind that `list` never shows (a folder store's
   * temporary files and empty folders) when untouched since `before`; returns how many went.
   * Absent where writes leave nothing behind (S3 aborts stale multipart uploads by lifecycle rule).
   */
  removeLeftovers?(before: Date): Promise<number>;
}

/** Where a table partition currently points: the committed run's folder. */
export interface PartitionPointer {
  readonly table: TableName;
  /** `experiment_id` or `run_id` value. */
  readonly partitionValue: string;
  readonly runId: string;
  /** Key prefix of the folder holding the partition's parts, relative to the lake root. */
  readonly location: string;
}

export interface Catalog {
  getPartition(table: TableName, partitionValue: string): Promise<PartitionPointer | undefined>;
  /** Creates or repoints partitions; each pointer flips atomically. */
  putPartitions(pointers: readonly PartitionPointer[]): Promise<void>;
  /** Removes partitions (an experiment retired from the lake); data stays until retention. */
  deletePartitions(table: TableName, partitionValues: readonly string[]): Promise<void>;
  listPartitions(table: TableName): Promise<PartitionPointer[]>;
}

export interface SecretReader {
  /** The Pluto API token. */
  getToken(): Promise<string>;
  /** Called once after a 401, in case the secret was rotated since it was cached. */
  refresh(): Promise<string>;
}

/** What the core needs of Pluto. The HTTP client is the real adapter. */
export interface PlutoApi {
  listProjects(): AsyncIterable<PlutoProject>;
  /** `lab/projects/{id}/`: the project's detail. */
  getProject(projectId: string): Promise<PlutoProject>;
  listProjectExperiments(projectId: string): AsyncIterable<PlutoExperiment>;
  listExperiments(): AsyncIterable<PlutoExperiment>;
  getExperiment(experimentId: string): Promise<PlutoExperiment>;
  listPlots(experimentId: string): AsyncIterable<PlutoPlot>;
  getDataPage(dataset: DatasetRef, offset: number, limit: number): Promise<DataPage>;
  /**
   * The header of the CSV behind `plots/{id}/download/`, from its first line only; undefined when
   * the plot has no download (missing, refused, not a signed URL, not CSV).
   */
  getDownloadHeaders(dataset: ResultsRef): Promise<readonly string[] | undefined>;
  /** `analyses/{uuid}/`: the analysis behind a plot. */
  getAnalysis(analysisId: string): Promise<PlutoAnalysis>;
  /** The experiment's whole file inventory, every data type, in the order Pluto lists it. */
  listFiles(experimentId: string): Promise<PlutoFile[]>;
  /**
   * `lab/experiments/{id}/qc-report/`: the experiment's QC report as a file record (data type
   * `qc_report`); undefined when it has none, or when Pluto answers a signed URL, which names no file.
   */
  getQcReport(experimentId: string): Promise<PlutoFile | undefined>;
  /**
   * A file's bytes as they arrive, from the signed URL `lab/experiments/{id}/files/{uuid}/download/`
   * gives: more than `maxBytes` is a FileTooLargeError, another length than `expectedBytes` an error.
   */
  downloadFile(
    experimentId: string,
    fileId: string,
    limits: { readonly maxBytes: number; readonly expectedBytes: number | null },
  ): AsyncIterable<Uint8Array>;
}

/** One answer as it came: nothing parsed beyond JSON. */
export interface RawAnswer {
  readonly status: number;
  /** The media type, lowercased, without parameters; '' when absent. */
  readonly contentType: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  readonly json: unknown;
  readonly text: string;
}

/** Pluto's answers as they come, for `probe`, which checks the shapes the exporter assumes. */
export interface PlutoRawReader {
  /** GET a path under the API root with the token; 4xx answers are returned, not thrown. */
  getRaw(path: string): Promise<RawAnswer>;
  /** GET a signed URL Pluto gave for `where`, without the token. */
  getSignedRaw(url: string, where: string): Promise<RawAnswer>;
  /** `getSignedRaw` reading only the body's first line (a CSV's header line); the rest is abandoned. */
  getSignedFirstLine(url: string, where: string): Promise<RawAnswer>;
}

export interface Clock {
  now(): Date;
}
