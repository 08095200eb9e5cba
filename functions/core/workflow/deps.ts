/** Everything a workflow step needs, passed in by the edge (Lambda handler or local runner). */
import type { TableName } from '../contract.js';
import type { Catalog, Clock, ObjectStore, PlutoApi } from '../ports.js';
import type { ExportSettings } from '../settings.js';

/** Progress notifications for terminals and metrics; every method is optional. */
export interface ProgressListener {
  runPlanned?(info: { runId: string; experiments: number }): void;
  experimentPlanned?(info: { experimentId: string; slots: number; rows: number }): void;
  slotExported?(info: { experimentId: string; dataset: string; apiRows: number; parts: number }): void;
  experimentFinished?(info: { experimentId: string; status: string; rows: number }): void;
  partWritten?(info: { table: TableName; key: string; rows: number; bytes: number }): void;
}

export interface StepDeps {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly pluto: PlutoApi;
  readonly clock: Clock;
  readonly settings: ExportSettings;
  readonly progress?: ProgressListener;
}

export const systemClock: Clock = { now: () => new Date() };
