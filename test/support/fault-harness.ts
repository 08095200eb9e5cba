/**
 * What the reliability tests share: a small organisation, fast settings, an in-process export
 * through the real state machine and HTTP client, and per-table digests of what a reader sees.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderStore } from '../../functions/adapters/folder-store.js';
import { StoreCatalog } from '../../functions/adapters/store-catalog.js';
import { TABLE_NAMES, TABLES, type TableName } from '../../functions/core/contract.js';
import { createPlutoClient, type PlutoClientOptions } from '../../functions/core/pluto/client.js';
import type { Catalog, ObjectStore } from '../../functions/core/ports.js';
import type { ExportSettings } from '../../functions/core/settings.js';
import type { ProgressListener } from '../../functions/core/workflow/deps.js';
import type { FinalizeOutput, StepName } from '../../functions/core/workflow/messages.js';
import { runLocalExport, type StepInterceptor } from '../../functions/local/local-export.js';
import type { RunningSimulator } from '../../functions/simulator/index.js';
import { withLakeQuery } from './lake-query.js';
import { fixedSecret } from './secrets.js';

/** Five experiments (one forbidden), a few hundred rows each: a full export takes well under a second. */
export const SMALL_ORGANISATION = { experiments: 5, genes: [90, 160], samples: [4, 7] } as const;

/** Several slots per assay and two pages per slot, so that "between pages" exists. */
export const FAST_SETTINGS: ExportSettings = {
  rowsPerPart: 300,
  pageSize: 40,
  // Parts of a few hundred rows still hold several row groups.
  rowGroupRows: 128,
  prefetchPages: 1,
  leaseTtlMs: 3_600_000,
  supersededRunGraceMs: 7 * 86_400_000,
  codeVersion: 'test',
};

export interface FolderLake {
  readonly root: string;
  readonly store: FolderStore;
  readonly catalog: StoreCatalog;
}

export async function newLake(name: string): Promise<FolderLake> {
  const root = await mkdtemp(join(tmpdir(), `pluto-${name}-`));
  const store = new FolderStore(root);
  return { root, store, catalog: new StoreCatalog(store) };
}

export interface ExportOptions {
  readonly simulator: RunningSimulator;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly runId: string;
  readonly full?: boolean;
  readonly token?: string;
  readonly settings?: Partial<ExportSettings>;
  /** Experiments and slots at once; default 4. */
  readonly concurrency?: number;
  readonly client?: Partial<
    Pick<PlutoClientOptions, 'retryBudgetMs' | 'requestTimeoutMs' | 'sleep' | 'onRetry' | 'unpagedRowLimit'>
  >;
  readonly interceptStep?: StepInterceptor;
  readonly progress?: ProgressListener;
}

/** One run of the real state machine, in-process; client waits are not slept (`sleep` resolves at once). */
export function exportWith(options: ExportOptions): Promise<FinalizeOutput> {
  const token = options.token ?? options.simulator.truth.token;
  const concurrency = options.concurrency ?? 4;
  return runLocalExport({
    input: { runId: options.runId, ...(options.full === undefined ? {} : { full: options.full }) },
    store: options.store,
    catalog: options.catalog,
    pluto: createPlutoClient({
      baseUrl: options.simulator.url,
      secrets: fixedSecret(token),
      version: 'test',
      sleep: async () => undefined,
      random: () => 0.5,
      ...options.client,
    }),
    settings: { ...FAST_SETTINGS, ...options.settings },
    experimentConcurrency: concurrency,
    slotConcurrency: concurrency,
    retryDelayScale: 0,
    ...(options.interceptStep === undefined ? {} : { interceptStep: options.interceptStep }),
    ...(options.progress === undefined ? {} : { progress: options.progress }),
  });
}

export interface TableDigest {
  readonly rows: number;
  /** MD5 over the sorted rows, run-dependent columns left out. */
  readonly checksum: string;
}

/** Columns that differ between two exports of the same data: when and under which run id. */
const RUN_DEPENDENT: Readonly<Partial<Record<TableName, readonly string[]>>> = {
  projects: ['run_id', 'exported_at'],
  experiments: ['run_id', 'exported_at'],
  export_log: ['run_id', 'started_at', 'finished_at'],
};

/**
 * What a reader of the lake sees, per table: row count and a checksum of every value. With
 * `experimentId`, only that experiment's rows.
 */
export async function lakeDigest(
  root: string,
  options: { experimentId?: string; catalog?: Catalog } = {},
): Promise<Record<TableName, TableDigest>> {
  return withLakeQuery(
    root,
    async (lake) => {
      const digest = {} as Record<TableName, TableDigest>;
      for (const table of TABLE_NAMES) {
        const names = [...TABLES[table].columns.map((c) => c.name), TABLES[table].partitionKey];
        if (options.experimentId !== undefined && !names.includes('experiment_id')) {
          digest[table] = { rows: 0, checksum: '' };
          continue;
        }
        const skip = RUN_DEPENDENT[table] ?? [];
        const columns = names
          .filter((name, i, all) => !skip.includes(name) && all.indexOf(name) === i)
          .map((name) => `"${name}"`);
        const where =
          options.experimentId === undefined ? '' : `where experiment_id = '${options.experimentId}'`;
        const [row] = await lake.query(
          `select count(*)::DOUBLE as n, coalesce(md5(string_agg(r, chr(10) order by r)), '') as checksum
         from (select cast(row(${columns.join(', ')}) as varchar) as r from "${table}" ${where})`,
        );
        digest[table] = { rows: Number(row?.n), checksum: String(row?.checksum) };
      }
      return digest;
    },
    options.catalog,
  );
}

export interface StepCall {
  readonly step: StepName;
  readonly input: unknown;
  readonly output?: unknown;
  readonly error?: Error;
}

/** Records every step invocation: its input, and its output or the error it threw. */
export function stepRecorder(): { calls: StepCall[]; intercept: StepInterceptor } {
  const calls: StepCall[] = [];
  return {
    calls,
    intercept: async (step, input, run) => {
      try {
        const output = await run(input);
        calls.push({ step, input, output });
        return output;
      } catch (error) {
        calls.push({ step, input, error: error as Error });
        throw error;
      }
    },
  };
}

/** Temporary lakes a test file creates, removed together in `afterAll`. */
export function lakeRegistry(): { lake(name: string): Promise<FolderLake>; removeAll(): Promise<void> } {
  const lakes: FolderLake[] = [];
  return {
    async lake(name) {
      const created = await newLake(name);
      lakes.push(created);
      return created;
    },
    async removeAll() {
      for (const { root } of lakes) await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Holds invocations of `step` until `release()` (only the first one with `firstOnly`);
 * `reached` resolves when the first is held.
 */
export function holdStep(step: StepName, { firstOnly = false } = {}) {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const arrived = new Promise<void>((resolve) => {
    reached = resolve;
  });
  let held = false;
  const intercept: StepInterceptor = async (name, input, run) => {
    if (name === step && !(firstOnly && held)) {
      held = true;
      reached();
      await released;
    }
    return run(input);
  };
  return { intercept, reached: arrived, release };
}
