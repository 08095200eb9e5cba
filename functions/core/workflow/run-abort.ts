/**
 * A run-fatal error (a refused token, a full store, a denied permission, a configuration that cannot work) ends the
 * run, not one experiment. The first one recorded is kept at `runs/<run>/abort.json`; from then on
 * every step of the run fails with it at once, without calling Pluto or publishing anything, and
 * FinalizeRun records the run as failed (its manifest and the export_log rows of what it
 * committed), releases the lease and fails the execution with the error.
 * The run stays resumable: started again with the same run id once the cause is fixed, it reuses
 * every plan, receipt and part already written.
 */
import {
  AccessDeniedError,
  ConfigError,
  PlutoAuthError,
  type PlutoExportError,
  PlutoUnreachableError,
  RUN_FATAL_ERROR_NAMES,
  StoreFullError,
} from '../errors.js';
import { abortKey } from '../layout.js';
import type { ObjectStore } from '../ports.js';
import { type ErrorInfo, encodeJson, errorInfoSchema, readJson } from '../records.js';
import { closeEndedRun } from './end-run.js';
import type { RecordDeps } from './run-record.js';

type RunFatalName = (typeof RUN_FATAL_ERROR_NAMES)[number];

const RUN_FATAL: Readonly<Record<RunFatalName, new (message: string, options: object) => PlutoExportError>> =
  {
    PlutoAuthError,
    PlutoUnreachableError,
    ConfigError,
    AccessDeniedError,
    StoreFullError,
  };

export function isRunFatal(name: string): name is RunFatalName {
  return (RUN_FATAL_ERROR_NAMES as readonly string[]).includes(name);
}

/** Keeps the first run-fatal error of the run; later ones are consequences of it. */
export async function recordRunAbort(runId: string, error: ErrorInfo, store: ObjectStore): Promise<void> {
  await store.putIfAbsent(abortKey(runId), encodeJson(error));
}

/** Throws the run's run-fatal error when the run stands aborted. */
export async function failIfRunAborted(runId: string, store: ObjectStore): Promise<void> {
  const error = await readJson(store, abortKey(runId), errorInfoSchema);
  if (error !== undefined) throw runFatalError(error);
}

/** FinalizeRun of an aborted run: a failed manifest, the lease goes (the next run may start), the error stands. */
export async function endIfRunAborted(
  run: { readonly runId: string; readonly execution: string; readonly startedAt: string },
  deps: RecordDeps,
): Promise<void> {
  const error = await readJson(deps.store, abortKey(run.runId), errorInfoSchema);
  if (error === undefined) return;
  await closeEndedRun({ ...run, outcome: 'failed', error }, deps);
  throw runFatalError(error);
}

function runFatalError(info: ErrorInfo): PlutoExportError {
  const Fatal = isRunFatal(info.name) ? RUN_FATAL[info.name] : ConfigError;
  return new Fatal(info.message, {
    ...(info.detail === undefined ? {} : { detail: info.detail }),
    ...(info.code === undefined ? {} : { code: info.code }),
  });
}
