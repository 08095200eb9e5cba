/**
 * The QC report `lab/experiments/{id}/qc-report/` names, against the simulator: asked once per
 * experiment, recorded in `files` once per uuid whether the inventory lists it too or not, copied
 * when `qc_report` is requested; a signed URL alone (variant `qc-report-signed-url`) adds nothing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../functions/core/records.js';
import { safeFileName } from '../functions/core/safe-file-name.js';
import {
  type FaultHook,
  fileBytes,
  type RunningSimulator,
  type SimulatorVariant,
  startSimulator,
} from '../functions/simulator/index.js';
import { exportWith, lakeRegistry, SMALL_ORGANISATION } from './support/fault-harness.js';
import { queryLakeJson } from './support/lake-query.js';

const { lake, removeAll } = lakeRegistry();
const FILE_ROWS = `select file_id, data_type, file_name, size_bytes, copy_status, lake_key from files
                   order by file_id`;

afterAll(() => removeAll());

/** Exports the organisation once, copying QC reports only; the rows of `files` and the run's requests. */
async function exportQcReports(name: string, options: { variants?: SimulatorVariant[]; faults?: FaultHook }) {
  const simulator: RunningSimulator = await startSimulator({ seed: 59, ...SMALL_ORGANISATION, ...options });
  try {
    const target = await lake(name);
    const output = await exportWith({
      simulator,
      ...target,
      runId: 'run-1',
      settings: { copyFileTypes: ['qc_report'] },
    });
    expect(output).toMatchObject({ status: 'committed', experiments: { failed: 0, partial: 0 } });
    return {
      truth: simulator.truth,
      root: target.root,
      requests: { ...simulator.requests.byEndpoint },
      rows: await queryLakeJson(target.root, FILE_ROWS),
    };
  } finally {
    await simulator.close();
  }
}

/** `files` as the simulator's truth says, each QC report copied. */
function expectedRows(truth: RunningSimulator['truth']) {
  return truth.exportable
    .flatMap((e) =>
      e.files.map((file) => {
        const copied = file.dataType === 'qc_report';
        return {
          file_id: file.uuid,
          data_type: file.dataType,
          file_name: file.fileName,
          size_bytes: file.size,
          copy_status: copied ? 'copied' : 'not_requested',
          lake_key: copied ? `files/experiment_id=${e.id}/${file.uuid}/${safeFileName(file.fileName)}` : null,
        };
      }),
    )
    .sort((a, b) => (a.file_id < b.file_id ? -1 : 1));
}

describe('the QC report endpoint', () => {
  it('asked once per experiment: the report the inventory lists too has one row, copied byte for byte', async () => {
    const { truth, root, requests, rows } = await exportQcReports('listed', {});
    expect(requests['qc-report']).toBe(truth.exportable.length);
    expect(rows).toEqual(expectedRows(truth));
    const reports = truth.exportable.flatMap((e) => e.files.filter((f) => f.dataType === 'qc_report'));
    expect(reports).toHaveLength(truth.exportable.length);
    for (const report of reports) {
      const row = rows.find((r) => r.file_id === report.uuid);
      expect(sha256(await readFile(join(root, String(row?.lake_key))))).toBe(sha256(fileBytes(report)));
    }
  });

  it('a report the inventory does not list is recorded and copied from what qc-report/ names', async () => {
    const withoutQcReports: FaultHook = (request) =>
      request.endpoint === 'files'
        ? {
            kind: 'rewrite',
            rewrite: (body) => {
              const { qc_report: _, ...groups } = JSON.parse(body) as Record<string, unknown>;
              return JSON.stringify(groups);
            },
          }
        : undefined;
    const { truth, root, rows } = await exportQcReports('unlisted', { faults: withoutQcReports });
    expect(rows).toEqual(expectedRows(truth));
    for (const e of truth.exportable) {
      for (const report of e.files.filter((f) => f.dataType === 'qc_report')) {
        const key = `files/experiment_id=${e.id}/${report.uuid}/${safeFileName(report.fileName)}`;
        expect(sha256(await readFile(join(root, key)))).toBe(sha256(fileBytes(report)));
      }
    }
  });

  it('qc-report-signed-url: a signed URL names no file, so files holds the inventory alone', async () => {
    const { truth, requests, rows } = await exportQcReports('signed', { variants: ['qc-report-signed-url'] });
    expect(requests['qc-report']).toBe(truth.exportable.length);
    expect(rows).toEqual(expectedRows(truth));
  });
});
