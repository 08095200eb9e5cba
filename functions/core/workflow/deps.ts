/** Everything a workflow step needs, passed in by the edge (Lambda handler or local runner). */
import type { MapConcurrency } from '../concurrency.js';
import type { TableName } from '../contract.js';
import type { Lease, LocalHost } from '../lease.js';
import { DEFAULT_LIMITS, type ExportLimits } from '../limits.js';
import type { Catalog, Clock, ObjectStore, PlutoApi } from '../ports.js';
import type { ExperimentCounts } from '../records.js';
import { DEFAULT_RESULTS_SOURCE, type ExportSettings, type ResultsSource, SETTINGS } from '../settings.js';

export const limitsOf = (settings: ExportSettings): ExportLimits => ({
  ...DEFAULT_LIMITS,
  ...settings.limits,
});

export const maxFileBytesOf = (settings: ExportSettings): number =>
  settings.maxFileBytes ?? SETTINGS.maxFileBytes.default;

/** The ceilings the Pluto client enforces itself, from the run's settings. */
export function clientLimits(
  settings: ExportSettings,
): Pick<ExportLimits, 'maxListPages' | 'maxResponseBytes'> {
  const { maxListPages, maxResponseBytes } = limitsOf(settings);
  return { maxListPages, maxResponseBytes };
}

export const resultsSourceOf = (settings: ExportSettings): ResultsSource =>
  settings.resultsSource ?? DEFAULT_RESULTS_SOURCE;

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
  /** The run's manifest was written: how many experiments ended with each outcome. Told once per run. */
  runFinished?(info: { runId: string; status: 'committed' | 'failed'; experiments: ExperimentCounts }): void;
  /** A file of the inventory was copied into the lake (`created` false: a copy was already there). */
  fileCopied?(info: { experimentId: string; key: string; bytes: number; created: boolean }): void;
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
  /**
   * The Maps' MaxConcurrency this run executes with, which bounds the Pluto requests a step may
   * have in flight: StartRun runs alone and uses experiments × slots; each PlanExperiment, one of
   * `experiments` at once, uses its experiment's share, `slots`. One request at a time when absent.
   */
  readonly concurrency?: MapConcurrency;
}

/** Requests StartRun may have in flight: the whole budget, since no other step runs beside it. */
export const runRequestsOf = (deps: StepDeps): number =>
  deps.concurrency === undefined ? 1 : deps.concurrency.experiments * deps.concurrency.slots;

/** Requests one PlanExperiment may have in flight: its experiment's share of the budget. */
export const experimentRequestsOf = (deps: StepDeps): number => deps.concurrency?.slots ?? 1;

export const systemClock: Clock = { now: () => new Date() };
