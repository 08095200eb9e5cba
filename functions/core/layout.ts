/** Where everything lives in the lake (design.md, Lake contract). S3 and the local folder share this layout. */
import type { TableName } from './contract.js';
import { TABLES } from './contract.js';

export function partitionLocation(table: TableName, partitionValue: string, runId?: string): string {
  const key = TABLES[table].partitionKey;
  return runId === undefined
    ? `data/${table}/${key}=${partitionValue}/`
    : `data/${table}/${key}=${partitionValue}/run_id=${runId}/`;
}

export function partKey(
  table: TableName,
  experimentId: string,
  runId: string,
  dataset: string,
  slot: number,
) {
  return `${partitionLocation(table, experimentId, runId)}part-${dataset}-${String(slot).padStart(5, '0')}.parquet`;
}

export function exportLogPartKey(runId: string): string {
  return `${partitionLocation('export_log', runId)}part-export_log-00000.parquet`;
}

export const FILES_PREFIX = 'files/';

/** Where a copied file lives: by experiment and file uuid, under a name safe for keys. */
export const fileKey = (experimentId: string, fileId: string, safeName: string) =>
  `${FILES_PREFIX}experiment_id=${experimentId}/${fileId}/${safeName}`;

export const runPrefix = (runId: string) => `runs/${runId}/`;
export const itemsKey = (runId: string) => `runs/${runId}/items.json`;
/** Listed experiments whose ids are unusable as keys: recorded as failed by FinalizeRun. */
export const rejectedItemsKey = (runId: string) => `runs/${runId}/rejected-items.json`;
export const planKey = (runId: string, experimentId: string) =>
  `runs/${runId}/plans/${experimentId}/plan.json`;
export const slotsKey = (runId: string, experimentId: string) =>
  `runs/${runId}/plans/${experimentId}/slots.json`;
export const commitRecordKey = (runId: string, experimentId: string) =>
  `runs/${runId}/experiments/${experimentId}.json`;
export const projectRecordKey = (runId: string, projectId: string) =>
  `runs/${runId}/projects/${projectId}.json`;
export const commitRecordPrefix = (runId: string) => `runs/${runId}/experiments/`;
export const receiptKey = (runId: string, experimentId: string, dataset: string, slot: number) =>
  `runs/${runId}/receipts/${experimentId}/${dataset}-${String(slot).padStart(5, '0')}.json`;
export const receiptPrefix = (runId: string, experimentId: string) =>
  `runs/${runId}/receipts/${experimentId}/`;
export const slotFailureKey = (runId: string, experimentId: string, dataset: string, slot: number) =>
  `runs/${runId}/failures/${experimentId}/${dataset}-${slot}.json`;
export const slotFailurePrefix = (runId: string, experimentId?: string) =>
  `runs/${runId}/failures/${experimentId === undefined ? '' : `${experimentId}/`}`;
export const reportKey = (runId: string) => `runs/${runId}/report.md`;
export const manifestKey = (runId: string) => `runs/${runId}/manifest.json`;
/** Present while a run stands aborted by a run-fatal error (see workflow/run-abort.ts). */
export const abortKey = (runId: string) => `runs/${runId}/abort.json`;
export const LEASE_KEY = 'runs/_lease.json';
/** The committed parts of one table, one URL a line, for readers that do not ask the catalog. */
export const currentListKey = (table: TableName) => `current/${table}.txt`;
