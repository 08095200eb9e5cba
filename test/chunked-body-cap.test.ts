/**
 * Bodies sent with chunked transfer encoding, so that no Content-Length announces their size: the
 * cap still stops them as they stream, for an API answer, a signed table and a copied file; and a
 * file whose body runs past the size the inventory gave is stopped there, leaving nothing behind.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PlutoUnsafeResponseError } from '../functions/core/errors.js';
import { createPlutoClient } from '../functions/core/pluto/client.js';
import { sha256 } from '../functions/core/records.js';
import { safeFileName } from '../functions/core/safe-file-name.js';
import {
  type FaultHook,
  fileBytes,
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from '../functions/simulator/index.js';
import { exportWith, lakeRegistry, SMALL_ORGANISATION } from './support/fault-harness.js';
import { queryLakeJson } from './support/lake-query.js';
import { fixedSecret } from './support/secrets.js';

const { lake, removeAll } = lakeRegistry();

afterAll(() => removeAll());

async function withSimulator<T>(
  options: Partial<SimulatorOptions>,
  use: (simulator: RunningSimulator) => Promise<T>,
): Promise<T> {
  const simulator = await startSimulator({ seed: 53, ...SMALL_ORGANISATION, ...options });
  try {
    return await use(simulator);
  } finally {
    await simulator.close();
  }
}

const chunkedOn =
  (endpoint: string, extraBytes = 0): FaultHook =>
  (request) =>
    request.endpoint === endpoint ? { kind: 'chunked', extraBytes } : undefined;

const clientOf = (simulator: RunningSimulator, maxResponseBytes: number) =>
  createPlutoClient({
    baseUrl: simulator.url,
    secrets: fixedSecret(simulator.truth.token),
    version: 'test',
    maxResponseBytes,
    sleep: async () => undefined,
  });

describe('a body without Content-Length', () => {
  it('is sent chunked by the simulator fault: no Content-Length, the body intact', async () => {
    await withSimulator({ faults: chunkedOn('experiments') }, async (simulator) => {
      const response = await fetch(`${simulator.url}lab/experiments/`, {
        headers: { Authorization: `Token ${simulator.truth.token}` },
      });
      expect(response.headers.get('content-length')).toBeNull();
      expect(response.headers.get('transfer-encoding')).toBe('chunked');
      const body = (await response.json()) as { count: number };
      expect(body.count).toBe(simulator.truth.experiments.length);
    });
  });

  it('an API answer over maxResponseBytes is abandoned at the cap, named, and not retried', async () => {
    await withSimulator({ faults: chunkedOn('experiments') }, async (simulator) => {
      const listed = JSON.stringify(simulator.truth.experiments.map((e) => e.metadata));
      expect(listed.length).toBeGreaterThan(2048);
      const listing = async () => {
        for await (const _ of clientOf(simulator, 2048).listExperiments());
      };
      const error = await listing().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PlutoUnsafeResponseError);
      expect((error as Error).message).toBe(
        "Pluto's answer for lab/experiments/?limit=1000&offset=0 is larger than 2048 bytes (setting maxResponseBytes); it was not read further",
      );
      expect(simulator.requests.byEndpoint.experiments).toBe(1);
      const whole: string[] = [];
      for await (const experiment of clientOf(simulator, 1024 * 1024).listExperiments()) {
        whole.push(String(experiment.pluto_id));
      }
      expect(whole).toEqual(simulator.truth.experiments.map((e) => e.id));
    });
  });

  it('a signed table over maxResponseBytes is abandoned at the cap; under it, read whole as served', async () => {
    await withSimulator(
      { samples: [30, 40], variants: ['signed-url-csv'], faults: chunkedOn('signed') },
      async (simulator) => {
        const experiment = simulator.truth.exportable[0];
        const plot = experiment?.plots.find((p) => p.display?.display_type === 'sample_scatter_plot');
        const truth = plot && experiment?.results.get(plot.uuid);
        if (experiment === undefined || plot === undefined || truth === undefined)
          throw new Error('no PCA plot');
        const ref = { kind: 'results', experimentId: experiment.id, plotId: plot.uuid } as const;
        const where = `lab/experiments/${experiment.id}/plots/${plot.uuid}/data/?limit=1000&offset=0`;
        await expect(clientOf(simulator, 1024).getDataPage(ref, 0, 1000)).rejects.toThrow(
          new PlutoUnsafeResponseError(
            `The signed URL that Pluto gave for ${where} served more than 1024 bytes (setting maxResponseBytes); it was not read further`,
          ),
        );
        expect(simulator.requests.byEndpoint.signed).toBe(1);
        const page = await clientOf(simulator, 1024 * 1024).getDataPage(ref, 0, 1000);
        expect(page.headers).toEqual(truth.headers);
        expect(page.rowCount).toBe(truth.rowCount);
        expect(page.columns[1]?.[truth.rowCount - 1]).toEqual(truth.row(truth.rowCount - 1)[1]);
      },
    );
  });

  it('a copied file whose body runs past its inventory size is stopped there and failed; the others copy intact', async () => {
    let longer: string | undefined;
    const faults: FaultHook = (request) => {
      if (request.endpoint !== 'signed-file') return undefined;
      longer ??= request.path;
      return { kind: 'chunked', extraBytes: request.path === longer ? 50_000 : 0 };
    };
    await withSimulator({ faults }, async (simulator) => {
      const target = await lake('chunked-files');
      const maxFileBytes = 60_000;
      const output = await exportWith({
        simulator,
        ...target,
        runId: 'run-1',
        settings: { copyFileTypes: ['attachment', 'qc_report'], maxFileBytes },
      });
      expect(output.status).toBe('committed');
      const wanted = simulator.truth.exportable.flatMap((e) =>
        e.files
          .filter((f) => f.dataType !== 'bam' && f.size <= maxFileBytes)
          .map((file) => ({
            experiment: e.id,
            file,
            key: `files/experiment_id=${e.id}/${file.uuid}/${safeFileName(file.fileName)}`,
          })),
      );
      const broken = wanted.find(({ file }) => longer?.endsWith(`/${file.uuid}`));
      if (broken === undefined) throw new Error('no file was served longer');
      const rows = await queryLakeJson(
        target.root,
        `select copy_status, copy_detail from files where file_id = '${broken.file.uuid}'`,
      );
      expect(rows).toEqual([
        {
          copy_status: 'failed',
          copy_detail: `file ${broken.file.uuid} of ${broken.experiment} came with more than the ${broken.file.size} bytes Pluto's inventory says; it was not read further`,
        },
      ]);
      const stored = (await readdir(join(target.root, 'files'), { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(target.root.length + 1))
        .sort();
      const copied = wanted.filter((w) => w !== broken);
      expect(stored).toEqual(copied.map((w) => w.key).sort());
      for (const { file, key } of copied) {
        expect(sha256(await readFile(join(target.root, key)))).toBe(sha256(fileBytes(file)));
      }
    });
  });

  it('a file without a size in the inventory is stopped at --max-file-bytes as it streams', async () => {
    await withSimulator(
      { variants: ['files-without-size'], faults: chunkedOn('signed-file') },
      async (simulator) => {
        const target = await lake('chunked-cap');
        const maxFileBytes = 10_000;
        await exportWith({
          simulator,
          ...target,
          runId: 'run-1',
          settings: { copyFileTypes: ['attachment', 'qc_report'], maxFileBytes },
        });
        const over = simulator.truth.exportable.flatMap((e) =>
          e.files
            .filter((f) => f.dataType !== 'bam' && f.size > maxFileBytes)
            .map((f) => ({
              copy_status: 'skipped',
              copy_detail: `file ${f.uuid} of ${e.id} is more than the 10000 bytes --max-file-bytes allows`,
            })),
        );
        expect(over.length).toBeGreaterThan(0);
        const rows = await queryLakeJson(
          target.root,
          "select copy_status, copy_detail from files where copy_status = 'skipped' order by copy_detail",
        );
        expect(rows).toEqual(over.sort((a, b) => (a.copy_detail < b.copy_detail ? -1 : 1)));
      },
    );
  });
});
