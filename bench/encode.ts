/** Section 1: JSON page text in, tidy Parquet bytes out, three encoders on the same pages. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { encodeShapes, type Shape } from './data.js';
import {
  compareDigests,
  createDuckdbEncoder,
  digestOutputs,
  type Encoder,
  type EncoderName,
  oursEncoder,
  parquetjsEncoder,
  type TableDigest,
} from './encoders.js';

export interface EncoderTiming {
  readonly runsMs: readonly number[];
  readonly medianMs: number;
  readonly rowsPerSecond: number;
  readonly outputBytes: number;
}

export interface ShapeResult {
  readonly shape: Shape['name'];
  readonly label: string;
  readonly apiRows: number;
  readonly rowsOut: number;
  readonly pageBytes: number;
  readonly pages: number;
  readonly digest: readonly TableDigest[];
  readonly encoders: Readonly<Record<EncoderName, EncoderTiming>>;
  readonly oursOverParquetjs: number;
  readonly oursOverDuckdb: number;
}

export interface EncodeSection {
  readonly runs: number;
  readonly duckdbThreads: number;
  readonly shapes: readonly ShapeResult[];
  /** All shapes together: total rows over total median time. */
  readonly overall: Readonly<Record<EncoderName, number>>;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function inTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-encode-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runEncodeSection(
  size: { genes: number; samples: number; runs: number },
  log: (line: string) => void,
): Promise<EncodeSection> {
  const shapes = encodeShapes(size.genes, size.samples);
  const duckdb = await createDuckdbEncoder();
  const encoders: Encoder[] = [oursEncoder, parquetjsEncoder, duckdb];
  const verifier = await DuckDBInstance.create(':memory:');
  const verify = await verifier.connect();
  const results: ShapeResult[] = [];
  try {
    for (const shape of shapes) {
      // The first pass warms each encoder up and proves the three write the same data.
      const digests = new Map<EncoderName, TableDigest[]>();
      for (const encoder of encoders) {
        const digest = await inTempDir(async (dir) =>
          digestOutputs(verify, await encoder.encode(shape, dir), dir),
        );
        digests.set(encoder.name, digest);
        const problems = compareDigests(digests.get('ours') ?? digest, digest);
        if (problems.length > 0) {
          throw new Error(`${encoder.name} and ours disagree on ${shape.name}: ${problems.join('; ')}`);
        }
      }
      const runsMs = new Map<EncoderName, number[]>(encoders.map((e) => [e.name, []]));
      for (let run = 0; run < size.runs; run++) {
        // Rotating the order spreads the machine's load changes over all three.
        for (let k = 0; k < encoders.length; k++) {
          const encoder = encoders[(run + k) % encoders.length] as Encoder;
          const ms = await inTempDir(async (dir) => {
            const started = performance.now();
            await encoder.encode(shape, dir);
            return performance.now() - started;
          });
          runsMs.get(encoder.name)?.push(ms);
        }
        log(`encode ${shape.name}: run ${run + 1}/${size.runs}`);
      }
      const timing = (name: EncoderName): EncoderTiming => {
        const all = runsMs.get(name) ?? [];
        const medianMs = median(all);
        const outputBytes = (digests.get(name) ?? []).reduce((sum, d) => sum + d.bytes, 0);
        return { runsMs: all, medianMs, rowsPerSecond: (shape.rowsOut / medianMs) * 1000, outputBytes };
      };
      const timings = {
        ours: timing('ours'),
        'parquetjs-lite': timing('parquetjs-lite'),
        duckdb: timing('duckdb'),
      };
      results.push({
        shape: shape.name,
        label: shape.label,
        apiRows: shape.apiRows,
        rowsOut: shape.rowsOut,
        pageBytes: shape.pageBytes,
        pages: shape.pages.length,
        digest: digests.get('ours') ?? [],
        encoders: timings,
        oursOverParquetjs: timings.ours.rowsPerSecond / timings['parquetjs-lite'].rowsPerSecond,
        oursOverDuckdb: timings.ours.rowsPerSecond / timings.duckdb.rowsPerSecond,
      });
    }
  } finally {
    for (const encoder of encoders) encoder.close();
    verify.closeSync();
    verifier.closeSync();
  }
  const rows = results.reduce((sum, r) => sum + r.rowsOut, 0);
  const overall = (name: EncoderName) =>
    (rows / results.reduce((sum, r) => sum + r.encoders[name].medianMs, 0)) * 1000;
  return {
    runs: size.runs,
    duckdbThreads: duckdb.threads,
    shapes: results,
    overall: {
      ours: overall('ours'),
      'parquetjs-lite': overall('parquetjs-lite'),
      duckdb: overall('duckdb'),
    },
  };
}
