/** Everything a workflow step needs, passed in by the edge (Lambda handler or local runner). */
import type { TableName } from '../contract.js';
import type { Lease, LocalHost } from '../lease.js';
import type { Catalog, Clock, ObjectStore, PlutoApi } from '../ports.js';

export interface ExportSettings {
  /** Target Parquet rows per part; a slot covers as many API rows as give about this many tidy rows. */
  readonly rowsPerPart: number;
  /** `limit` of each data page request. */
  readonly pageSize: number;
  /** How long a run's lease keeps other runs out if the run dies without releasing it. */
  readonly leaseTtlMs: number;
  /** How long a superseded run's data stays after the run that replaced it finished (readers may still hold it). */
  readonly supersededRunGraceMs: number;
  readonly codeVersion: string;
}

/** Progress notifications for terminals and metrics; every method is optional. */
export interface ProgressListener {
  runPlanned?(info: { runId: string; experiments: number }): void;
  experimentPlanned?(info: { experimentId: string; slots: number; rows: number }): void;
  slotExported?(info: { experimentId: string; dataset: string; apiRows: number; parts: number }): void;
  experimentFinished?(info: { experimentId: string; status: string; rows: number }): void;
  /** Rows are Parquet rows: the "rows written" of the progress bar, the summary, `runs` and `export_log`. */
  partWritten?(info: {
    experimentId: string;
    table: TableName;
    key: string;
    rows: number;
    bytes: number;
  }): void;
  /** The run took the lease over from a holder that expired or whose process is gone. */
  leaseTakenOver?(info: { from: Lease }): void;
}

/** This process on this machine: given to local exports, whose lease records it. */
export interface ProcessHost extends LocalHost {
  readonly pid: number;
}

export interface StepDeps {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly pluto: PlutoApi;
  readonly clock: Clock;
  readonly settings: ExportSettings;
  readonly progress?: ProgressListener;
  /** Present locally: the lease records the process, and a gone holder on this host is taken over. */
  readonly host?: ProcessHost;
}

export const systemClock: Clock = { now: () => new Date() };
