/**
 * A full disk under the folder store: the file system's own ENOSPC, mapped by the real FolderStore
 * to StoreFullError, ends the run (retrying cannot help); nothing is published, no temporary file
 * is left, and once space is freed the same run id resumes and commits the same data. A folder
 * that stops being writable (EACCES) ends the run the same way, as AccessDeniedError.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { explainRunFailure } from '../functions/cli/export-command.js';
import { TABLE_NAMES } from '../functions/core/contract.js';
import { ConfigError } from '../functions/core/errors.js';
import { manifestKey } from '../functions/core/layout.js';
import { LocalExecutionError } from '../functions/local/run-workflow.js';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import {
  exportWith,
  type FolderLake,
  lakeDigest,
  newLake,
  SMALL_ORGANISATION,
} from './support/fault-harness.js';
import { snapshotFiles } from './support/lake-files.js';

const disk = vi.hoisted(() => ({
  root: '',
  writesLeft: Number.POSITIVE_INFINITY,
  refused: 0,
  refusal: { code: 'ENOSPC', errno: -28, text: 'no space left on device' },
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof real.writeFile = async (file, data, options) => {
    if (disk.root !== '' && String(file).startsWith(disk.root)) {
      if (disk.writesLeft <= 0) {
        disk.refused++;
        const { code, errno, text } = disk.refusal;
        throw Object.assign(new Error(`${code}: ${text}, open '${String(file)}'`), {
          code,
          errno,
          syscall: 'open',
          path: String(file),
        });
      }
      disk.writesLeft--;
    }
    return real.writeFile(file, data, options);
  };
  return { ...real, writeFile, default: { ...real, writeFile } };
});

let simulator: RunningSimulator;
let lake: FolderLake;

beforeAll(async () => {
  simulator = await startSimulator({ seed: 53, ...SMALL_ORGANISATION });
  lake = await newLake('disk-full');
  disk.root = lake.root;
  expect((await exportWith({ simulator, ...lake, runId: 'run-1' })).status).toBe('committed');
});

afterAll(async () => {
  await simulator?.close();
  if (lake) await rm(lake.root, { recursive: true, force: true });
});

describe('a full disk', () => {
  it('ends the run with StoreFullError, publishes nothing, and the run resumes once space is freed', async () => {
    const committed = await lakeDigest(lake.root);
    disk.writesLeft = 12;
    const error = await exportWith({ simulator, ...lake, runId: 'run-2', full: true }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(LocalExecutionError);
    expect((error as LocalExecutionError).error).toBe('StoreFullError');
    expect((error as LocalExecutionError).errorCause).toMatch(
      /No space left in .* free disk space and run again/,
    );
    expect(disk.refused).toBeGreaterThan(0);

    for (const table of TABLE_NAMES.filter((t) => t !== 'export_log')) {
      for (const pointer of await lake.catalog.listPartitions(table)) expect(pointer.runId).toBe('run-1');
    }
    expect(await lake.store.head(manifestKey('run-2'))).toBeUndefined();
    expect(Object.keys(await snapshotFiles(lake.root)).filter((path) => path.includes('.tmp-'))).toEqual([]);
    expect(await lakeDigest(lake.root)).toEqual(committed);

    disk.writesLeft = Number.POSITIVE_INFINITY;
    const resumed = await exportWith({ simulator, ...lake, runId: 'run-2', full: true });
    expect(resumed).toMatchObject({ status: 'committed', experiments: { failed: 0 } });
    for (const pointer of await lake.catalog.listPartitions('assay')) expect(pointer.runId).toBe('run-2');
    const { export_log: _log, ...tables } = await lakeDigest(lake.root);
    const { export_log: _committedLog, ...committedTables } = committed;
    expect(tables).toEqual(committedTables);
  });

  it('ends the run with AccessDeniedError naming the folder when it stops being writable, and resumes once it is', async () => {
    disk.refusal = { code: 'EACCES', errno: -13, text: 'permission denied' };
    disk.writesLeft = 12;
    const error = await exportWith({ simulator, ...lake, runId: 'run-3', full: true }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    disk.refusal = { code: 'ENOSPC', errno: -28, text: 'no space left on device' };
    disk.writesLeft = Number.POSITIVE_INFINITY;
    expect(error).toBeInstanceOf(LocalExecutionError);
    expect((error as LocalExecutionError).error).toBe('AccessDeniedError');
    expect((error as LocalExecutionError).errorCause).toMatch(
      /Cannot write \S+ in \S+ \(EACCES\): make the folder writable/,
    );
    const explained = explainRunFailure(error);
    expect(explained).toBeInstanceOf(ConfigError);
    expect(explained.message).toMatch(/^Cannot write \S+ in \S+ \(EACCES\): make the folder writable$/);
    expect(await lake.store.head(manifestKey('run-3'))).toBeUndefined();

    const resumed = await exportWith({ simulator, ...lake, runId: 'run-3', full: true });
    expect(resumed).toMatchObject({ status: 'committed', experiments: { failed: 0 } });
    for (const pointer of await lake.catalog.listPartitions('assay')) expect(pointer.runId).toBe('run-3');
  });
});
