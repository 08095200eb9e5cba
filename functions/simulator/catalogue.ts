/**
 * What the simulated organisation holds beyond tables: project details, the analyses behind the
 * plots, and each experiment's files. Everything here draws from its own seeded streams, so the
 * experiments, plots and cells of a seed stay what they were without it. File bytes are generated
 * when served, block by block, so a gigabyte file is never held in memory.
 */
import type { PlutoAnalysis, PlutoPlot, PlutoProject } from '../core/pluto/model.js';
import { hash4, pick, randomInt, seededRandom, seededUuid } from './random.js';

export interface SimulatedFile {
  readonly uuid: string;
  /** The inventory group it is listed in: `attachment`, `qc_report`, `bam`, ... */
  readonly dataType: string;
  readonly fileName: string;
  readonly size: number;
  readonly createdAt: string;
  /** Seed of its bytes. */
  readonly contentSeed: number;
}

const BLOCK_BYTES = 64 * 1024;

/**
 * The file's bytes from `start` to `end` (exclusive), in chunks of at most 64 KiB: a base block
 * from the content seed, each block stamped with its index so no two blocks are alike.
 */
export function* fileChunks(file: SimulatedFile, start = 0, end = file.size): Generator<Buffer> {
  const base = Buffer.alloc(BLOCK_BYTES);
  for (let i = 0; i < BLOCK_BYTES; i += 4) base.writeUInt32LE(hash4(file.contentSeed, i, 0, 0), i);
  for (let block = Math.floor(start / BLOCK_BYTES); block * BLOCK_BYTES < end; block++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32LE(block >>> 0, 0);
    chunk.writeUInt32LE(hash4(file.contentSeed, block, 1, 0), 4);
    const from = Math.max(start - block * BLOCK_BYTES, 0);
    const to = Math.min(end - block * BLOCK_BYTES, BLOCK_BYTES);
    yield chunk.subarray(from, to);
  }
}

/** The whole file; for tests of small files. */
export function fileBytes(file: SimulatedFile): Buffer {
  return Buffer.concat([...fileChunks(file)]);
}

/** The inventory item as Pluto lists it (`filename` as Pluto's R client reads it). */
export function fileItem(file: SimulatedFile, withSize: boolean): Record<string, unknown> {
  return {
    uuid: file.uuid,
    filename: file.fileName,
    data_type: file.dataType,
    ...(withSize ? { file_size: file.size } : {}),
    created_at: file.createdAt,
  };
}

const PROJECT_OWNERS = [
  { first_name: 'Ingrid', last_name: 'Sørensen' },
  { first_name: 'Tomás', last_name: 'Ortega' },
  { first_name: 'Mei', last_name: 'Chen' },
];

/** The detail fields of `lab/projects/{id}/` (Pluto's R client documents them) beyond the list item. */
export function projectDetail(
  seed: number,
  index: number,
  listed: PlutoProject,
  experimentsCount: number,
): PlutoProject {
  const random = seededRandom(hash4(seed, index, 0x9a0e, 0));
  return {
    ...listed,
    share_level: pick(random, ['private', 'shareable', 'public']),
    owner: { ...pick(random, PROJECT_OWNERS) },
    experiments_count: experimentsCount,
    is_archived: false,
  };
}

/** The analysis object behind a plot, as `analyses/{uuid}/` serves it. */
export function analysisOf(seed: number, experimentIndex: number, plot: PlutoPlot): PlutoAnalysis {
  const analysis = plot.analysis ?? {};
  const random = seededRandom(hash4(seed, experimentIndex, 0xa7a1, plot.uuid.charCodeAt(0)));
  const type = plot.analysis_type ?? 'unknown';
  const parameters: Record<string, unknown> =
    type === 'differential_expression' || type === 'differential_binding'
      ? {
          method: pick(random, ['DESeq2', 'limma-voom', 'edgeR']),
          alpha: 0.05,
          lfc_threshold: pick(random, [0, 0.5, 1]),
          covariates: ['batch'],
        }
      : type === 'principal_components'
        ? { n_components: 5, scale: true, top_variable_genes: randomInt(random, 5, 20) * 100 }
        : {};
  return {
    uuid: analysis.uuid,
    analysis_type: type,
    name: analysis.name ?? null,
    pipeline_version: analysis.pipeline_version ?? null,
    pipeline_status: analysis.pipeline_status ?? null,
    methods: `${analysis.name ?? type} was computed with ${String(parameters.method ?? 'the default pipeline')} on the experiment's assay data.`,
    parameters,
    created_at: `2023-0${1 + (experimentIndex % 9)}-1${experimentIndex % 10}T09:30:00.000000Z`,
  };
}

/**
 * An experiment's files: two attachments (even-numbered experiments have a protocol among them,
 * and one name that is unsafe as a key), a QC report, and for RNA-seq a BAM file.
 */
export function filesOf(seed: number, experimentIndex: number, experimentType: string): SimulatedFile[] {
  const random = seededRandom(hash4(seed, experimentIndex, 0xf11e, 0));
  const file = (dataType: string, fileName: string, size: number): SimulatedFile => ({
    uuid: seededUuid(random),
    dataType,
    fileName,
    size,
    createdAt: `2024-0${1 + (experimentIndex % 9)}-0${1 + (experimentIndex % 9)}T12:00:0${experimentIndex % 10}.000000Z`,
    contentSeed: hash4(seed, experimentIndex, 0xc0de, Math.floor(random() * 2 ** 31)),
  });
  const files = [
    file(
      'attachment',
      experimentIndex % 2 === 0 ? 'Library prep protocol v2.pdf' : 'Sample sheet.xlsx',
      randomInt(random, 20_000, 120_000),
    ),
    file(
      'attachment',
      experimentIndex % 3 === 0 ? '../Q3/notes: final\u0007.txt' : 'notes.txt',
      1_000 + experimentIndex,
    ),
    file('qc_report', 'multiqc_report.html', randomInt(random, 50_000, 150_000)),
  ];
  if (experimentType === 'rnaseq')
    files.push(file('bam', 'aligned.sorted.bam', randomInt(random, 200_000, 400_000)));
  return files;
}
