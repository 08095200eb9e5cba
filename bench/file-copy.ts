/**
 * Child process of `npm run bench`: one file copy (the ExportSlot of a `file-<uuid>` dataset) of a
 * large simulated file through the real HTTP client and folder store; wall time and peak RSS above
 * the baseline taken just before. Prints one JSON line.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { fileKey } from '../functions/core/layout.js';
import { headersDigestOf, receiptSchema } from '../functions/core/records.js';
import { STEPS } from '../functions/core/workflow/steps.js';
import { benchDeps } from './deps.js';
import { argValue, collectGarbage, cpuMsOf, RssSampler } from './process.js';
import type { FileCopyReport } from './results.js';

async function main(): Promise<FileCopyReport> {
  const url = argValue('url');
  const experimentId = argValue('experiment');
  const fileId = argValue('file');
  const bytes = Number(argValue('bytes'));
  const root = await mkdtemp(join(tmpdir(), 'bench-file-'));
  const deps = benchDeps(url, new FolderStore(root));
  const sampler = new RssSampler(10);
  try {
    const key = fileKey(experimentId, fileId, 'large.bin');
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const baselineRss = await sampler.reset();
    const started = performance.now();
    const receipt = receiptSchema.parse(
      await STEPS.ExportSlot(
        {
          runId: 'bench-file',
          experimentId,
          slot: {
            dataset: `file-${fileId}`,
            kind: 'file',
            file: { fileId, key, expectedBytes: bytes },
            slot: 0,
            offset: 0,
            limit: 0,
            expectedCount: 0,
            headersDigest: headersDigestOf([]),
          },
        },
        deps,
      ),
    );
    const wallMs = performance.now() - started;
    const peakRss = await sampler.peak();
    const stored = await stat(join(root, key));
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(join(root, key))) hash.update(chunk as Buffer);
    return {
      bytes: stored.size,
      wallMs,
      baselineRss,
      peakRss,
      peakAboveBaseline: peakRss - baselineRss,
      sha256: hash.digest('hex'),
      receiptSha256: receipt.copied?.sha256 ?? '',
      cpuMs: cpuMsOf(process.cpuUsage()),
    };
  } finally {
    sampler.stop();
    await rm(root, { recursive: true, force: true });
  }
}

main().then(
  (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
  (error: unknown) => {
    process.stderr.write(
      `bench/file-copy.ts: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`,
    );
    process.exit(1);
  },
);
