/**
 * Files of the inventory copied into the lake, streamed from their signed URLs: byte-identical to
 * what the simulator served, never copied twice, the size cap honoured with nothing partial left,
 * and a download that breaks half-way retried without leaving a partial object.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../functions/core/records.js';
import { safeFileName } from '../functions/core/safe-file-name.js';
import type { ExportSettings } from '../functions/core/settings.js';
import {
  type FaultHook,
  fileBytes,
  type RunningSimulator,
  type SimulatorVariant,
  startSimulator,
} from '../functions/simulator/index.js';
import { exportWith, type FolderLake, lakeRegistry, SMALL_ORGANISATION } from './support/fault-harness.js';
import { queryLakeJson } from './support/lake-query.js';

const { lake, removeAll } = lakeRegistry();
const COPY: Partial<ExportSettings> = { copyFileTypes: ['attachment', 'qc_report'] };

afterAll(() => removeAll());

async function withSimulator<T>(
  options: { variants?: SimulatorVariant[]; faults?: FaultHook },
  use: (simulator: RunningSimulator) => Promise<T>,
): Promise<T> {
  const simulator = await startSimulator({ seed: 41, ...SMALL_ORGANISATION, ...options });
  try {
    return await use(simulator);
  } finally {
    await simulator.close();
  }
}

/** Every file under `<root>/files/`, relative to the root, temporary files included. */
async function filesFolder(target: FolderLake): Promise<string[]> {
  const entries = await readdir(join(target.root, 'files'), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(target.root.length + 1))
    .sort();
}

describe('file copy', () => {
  it('copies attachments and QC reports byte for byte under safe names; a second run copies nothing', async () => {
    await withSimulator({}, async (simulator) => {
      const target = await lake('copy');
      const first = await exportWith({ simulator, ...target, runId: 'run-1', settings: COPY });
      expect(first).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });

      const wanted = simulator.truth.exportable.flatMap((e) =>
        e.files.filter((f) => f.dataType !== 'bam').map((file) => ({ experiment: e.id, file })),
      );
      const expectedKeys = wanted
        .map(
          ({ experiment, file }) =>
            `files/experiment_id=${experiment}/${file.uuid}/${safeFileName(file.fileName)}`,
        )
        .sort();
      expect(await filesFolder(target)).toEqual(expectedKeys);
      for (const { experiment, file } of wanted) {
        const key = `files/experiment_id=${experiment}/${file.uuid}/${safeFileName(file.fileName)}`;
        expect(sha256(await readFile(join(target.root, key)))).toBe(sha256(fileBytes(file)));
      }
      const unsafe = wanted.find(({ file }) => file.fileName.includes('..'));
      expect(unsafe && safeFileName(unsafe.file.fileName)).toBe('_Q3_notes: final.txt');

      const rows = await queryLakeJson(
        target.root,
        'select experiment_id, file_id, file_name, copy_status, lake_key from files order by file_id',
      );
      const all = simulator.truth.exportable.flatMap((e) =>
        e.files.map((file) => ({ experiment: e.id, file })),
      );
      expect(rows).toEqual(
        all
          .map(({ experiment, file }) => ({
            experiment_id: experiment,
            file_id: file.uuid,
            file_name: file.fileName,
            copy_status: file.dataType === 'bam' ? 'not_requested' : 'copied',
            lake_key:
              file.dataType === 'bam'
                ? null
                : `files/experiment_id=${experiment}/${file.uuid}/${safeFileName(file.fileName)}`,
          }))
          .sort((a, b) => (a.file_id < b.file_id ? -1 : 1)),
      );
      expect(simulator.requests.byEndpoint['signed-file']).toBe(wanted.length);

      simulator.requests.reset();
      const second = await exportWith({ simulator, ...target, runId: 'run-2', settings: COPY });
      expect(second.experiments).toMatchObject({ exported: 0, unchanged: simulator.truth.exportable.length });
      expect(simulator.requests.byEndpoint['file-download'] ?? 0).toBe(0);
      expect(simulator.requests.byEndpoint['signed-file'] ?? 0).toBe(0);

      // A new attachment: only it is copied; the other files are found in the lake and not fetched.
      const experiment = simulator.truth.exportable[0];
      if (experiment === undefined) throw new Error('no experiment');
      const added = simulator.truth.addFile(experiment.id, 'attachment', 'Staining protocol.pdf', 70_001);
      simulator.requests.reset();
      const third = await exportWith({ simulator, ...target, runId: 'run-3', settings: COPY });
      expect(third.experiments).toMatchObject({ exported: 1, failed: 0, partial: 0 });
      expect(simulator.requests.byEndpoint['signed-file']).toBe(1);
      const key = `files/experiment_id=${experiment.id}/${added.uuid}/Staining protocol.pdf`;
      expect(sha256(await readFile(join(target.root, key)))).toBe(sha256(fileBytes(added)));
    });
  });

  it('records a file over --max-file-bytes as skipped, named, with nothing of it in the lake', async () => {
    for (const variants of [[], ['files-without-size']] as SimulatorVariant[][]) {
      await withSimulator({ variants }, async (simulator) => {
        const target = await lake(`cap-${variants.length}`);
        const maxFileBytes = 10_000;
        const output = await exportWith({
          simulator,
          ...target,
          runId: 'run-1',
          settings: { ...COPY, maxFileBytes },
        });
        expect(output).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
        const copied = simulator.truth.exportable.flatMap((e) =>
          e.files
            .filter((f) => f.dataType !== 'bam' && f.size <= maxFileBytes)
            .map((f) => `files/experiment_id=${e.id}/${f.uuid}/${safeFileName(f.fileName)}`),
        );
        expect(await filesFolder(target)).toEqual(copied.sort());
        const skipped = await queryLakeJson(
          target.root,
          "select file_name, copy_detail from files where copy_status = 'skipped' order by file_name",
        );
        const over = simulator.truth.exportable.flatMap((e) =>
          e.files.filter((f) => f.dataType !== 'bam' && f.size > maxFileBytes),
        );
        expect(skipped.length).toBe(over.length);
        expect(over.length).toBeGreaterThan(0);
        for (const row of skipped) {
          expect(String(row.copy_detail)).toMatch(
            variants.length === 0
              ? new RegExp(
                  `^(attachment|qc_report) "${String(row.file_name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is \\d+ bytes, more than the 10000 bytes --max-file-bytes allows; it was not copied$`,
                )
              : /^file [0-9a-f-]+ of PLX\d+ is (\d+ bytes, )?more than the 10000 bytes --max-file-bytes allows$/,
          );
        }
        const log = await queryLakeJson(
          target.root,
          "select count(*) as n from export_log where dataset like 'file-%' and status = 'skipped'",
        );
        expect(Number(log[0]?.n)).toBe(over.length);
      });
    }
  });

  it('retries a download that breaks half-way and leaves no partial object', async () => {
    let broken = 0;
    const faults: FaultHook = (request) => {
      if (request.endpoint !== 'signed-file' || broken > 0) return undefined;
      broken++;
      // Every file served is over 1,000 bytes: the connection drops inside its body.
      return { kind: 'reset', afterBodyBytes: 500 };
    };
    await withSimulator({ faults }, async (simulator) => {
      const target = await lake('broken');
      const output = await exportWith({ simulator, ...target, runId: 'run-1', settings: COPY });
      expect(output).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
      expect(broken).toBe(1);
      const wanted = simulator.truth.exportable.flatMap((e) =>
        e.files.filter((f) => f.dataType !== 'bam').map((file) => ({ experiment: e.id, file })),
      );
      expect(simulator.requests.byEndpoint['signed-file']).toBe(wanted.length + 1);
      const keys = wanted.map(
        ({ experiment, file }) =>
          `files/experiment_id=${experiment}/${file.uuid}/${safeFileName(file.fileName)}`,
      );
      expect(await filesFolder(target)).toEqual([...keys].sort());
      for (const [i, { file }] of wanted.entries()) {
        expect(sha256(await readFile(join(target.root, keys[i] as string)))).toBe(sha256(fileBytes(file)));
      }
    });
  });
});
