/** The benchmark's tables, rendered as aligned text for the terminal or as Markdown for the README. */
import type { CostModel, DailyCost } from './cost.js';
import { EXPORT_SETTINGS } from './deps.js';
import { type EncodeSection, median } from './encode.js';
import type { SectionLoad } from './machine.js';
import type { RequestAccount } from './requests.js';
import type { E2eRun, ScaleRun, SlotRun } from './results.js';

/** The benchmark's sections, by the names `--only` takes, in the order a full run measures them. */
export const BENCH_SECTIONS = ['encode', 'slot', 'network', 'e2e', 'scale', 'file-copy'] as const;
export type BenchSection = (typeof BENCH_SECTIONS)[number];

export interface Target {
  readonly name: string;
  readonly measured: string;
  readonly pass: boolean;
}

/** A figure measured several times: the median and the range. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spreadOf(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export interface NetworkRun {
  readonly exportMs: number;
  readonly downloadMs: number;
  readonly requests: number;
  readonly bytes: number;
  readonly cells: number;
  /** downloadMs ÷ exportMs */
  readonly ratio: number;
  /** CPU the export process spent between its first and last step. */
  readonly exportCpuMs: number;
  /** Where the export's wall time went against its budget of requests in flight. */
  readonly account: RequestAccount;
}

/** The run whose ratio is the level's median, for the figures that are not medians themselves. */
function medianRun(level: NetworkLevel): NetworkRun {
  const sorted = [...level.runs].sort((a, b) => a.ratio - b.ratio);
  return sorted[Math.floor((sorted.length - 1) / 2)] as NetworkRun;
}

export interface NetworkLevel {
  readonly concurrency: number;
  readonly split: { readonly experiments: number; readonly slots: number };
  readonly runs: readonly NetworkRun[];
  readonly ratio: Spread;
  readonly exportMs: Spread;
  readonly downloadMs: Spread;
  readonly load: SectionLoad;
}

export interface BenchResult {
  readonly meta: {
    readonly date: string;
    readonly quick: boolean;
    readonly node: string;
    readonly cpu: string;
    readonly cores: number;
    readonly arch: string;
    readonly loadAverageAtStart: readonly number[];
    /** The sections run with `--only`; absent for a full run. */
    readonly only?: readonly string[];
  };
  readonly encode?: EncodeSection & { readonly load: SectionLoad };
  readonly slots?: readonly {
    readonly cells: number;
    readonly runs: readonly SlotRun[];
    readonly wallMs: Spread;
    readonly cellsPerSecond: number;
    readonly peakAboveBaseline: Spread;
    readonly peakHeapAboveBaseline: Spread;
    readonly load: SectionLoad;
  }[];
  readonly network?: {
    readonly model: { readonly requestMs: number; readonly bytesPerSecond: number };
    readonly levels: readonly NetworkLevel[];
  };
  readonly e2e?: {
    readonly experiments: number;
    readonly genes: number;
    readonly samples: number;
    readonly ours: E2eRun & { readonly requests: number };
    readonly naive: E2eRun & { readonly requests: number };
    readonly oursCellsPerSecond: number;
    readonly oursRequestsPerSecond: number;
    readonly naiveCellsPerSecond: number;
    readonly naiveRequestsPerSecond: number;
    /** Set when the naive exporter ran on a subset: its time for every cell, extrapolated per cell. */
    readonly naiveExtrapolatedMs: number | null;
    readonly load: SectionLoad;
  };
  readonly scale?: ScaleRun & {
    readonly largestPayload: { readonly state: string; readonly direction: string; readonly bytes: number };
    readonly requests: number;
    readonly load: SectionLoad;
  };
  readonly fileCopy?: {
    readonly bytes: number;
    readonly wallMs: number;
    readonly peakAboveBaseline: number;
    /** The copy's SHA-256 equals that of the bytes the simulator served. */
    readonly identical: boolean;
    readonly load: SectionLoad;
  };
  readonly cost?: CostModel;
  readonly targets: readonly Target[];
}

interface Block {
  readonly title: string;
  readonly notes: readonly string[];
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
export const seconds = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);
export const rate = (perSecond: number) =>
  perSecond >= 1e6
    ? `${(perSecond / 1e6).toFixed(2)}M`
    : perSecond >= 1e3
      ? `${(perSecond / 1e3).toFixed(0)}k`
      : perSecond.toFixed(0);
const ratio = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)}×`;
const dollars = (x: number) => (x < 0.01 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`);

function loadNote(load: SectionLoad): string {
  const busy = load.machineBusyCores === null ? 'n/a' : load.machineBusyCores.toFixed(2);
  const other = load.otherCores === null ? 'n/a' : load.otherCores.toFixed(2);
  return `section took ${seconds(load.wallMs)}; machine busy ${busy} of the cores on average, the bench itself ${load.benchCores.toFixed(2)}, other processes ${other}; load average ${load.loadAverage1m.toFixed(2)}`;
}

function blocks(r: BenchResult): Block[] {
  const out: Block[] = [];
  if (r.encode !== undefined) out.push(encodeBlock(r.encode));
  if (r.slots !== undefined) out.push(slotBlock(r.slots));
  if (r.network !== undefined) out.push(networkBlock(r.network));
  if (r.e2e !== undefined) out.push(e2eBlock(r.e2e));
  if (r.scale !== undefined) out.push(scaleBlock(r.scale));
  if (r.fileCopy !== undefined) out.push(fileCopyBlock(r.fileCopy));
  out.push({
    title: 'Targets',
    notes: [],
    headers: ['target', 'measured', 'result'],
    rows: r.targets.map((t) => [t.name, t.measured, t.pass ? 'PASS' : 'MISS']),
  });
  if (r.cost !== undefined) out.push(costBlock(r.cost));
  return out;
}

function encodeBlock(e: NonNullable<BenchResult['encode']>): Block {
  return {
    title: `1. Encode: JSON page text → tidy Parquet (median of ${e.runs} runs, rows out per second)`,
    notes: [
      `ours: parseJsonLossless + toDataPage → meltAssay/meltResults page by page → ParquetStreamEncoder (parquet-wasm, one thread, row groups of ${int(EXPORT_SETTINGS.rowGroupRows)} rows as in a slot)`,
      'parquetjs-lite 0.8.7: JSON.parse → one object per tidy row → ParquetWriter (one thread)',
      `DuckDB: page text to temp files → read_json → UNPIVOT → COPY TO parquet (${e.duckdbThreads} threads)`,
      'The DE shape writes results and differential_expression. DuckDB read every output back: the three agree on rows, numbers, texts and sums.',
      loadNote(e.load),
    ],
    headers: [
      'shape',
      'rows out',
      'JSON',
      'ours',
      'parquetjs-lite',
      'DuckDB',
      'ours ÷ parquetjs-lite',
      'ours ÷ DuckDB',
    ],
    rows: [
      ...e.shapes.map((s) => [
        s.label,
        int(s.rowsOut),
        mib(s.pageBytes),
        `${rate(s.encoders.ours.rowsPerSecond)}/s (${seconds(s.encoders.ours.medianMs)})`,
        `${rate(s.encoders['parquetjs-lite'].rowsPerSecond)}/s (${seconds(s.encoders['parquetjs-lite'].medianMs)})`,
        `${rate(s.encoders.duckdb.rowsPerSecond)}/s (${seconds(s.encoders.duckdb.medianMs)})`,
        ratio(s.oursOverParquetjs),
        ratio(s.oursOverDuckdb),
      ]),
      [
        'both shapes',
        int(e.shapes.reduce((sum, s) => sum + s.rowsOut, 0)),
        mib(e.shapes.reduce((sum, s) => sum + s.pageBytes, 0)),
        `${rate(e.overall.ours)}/s`,
        `${rate(e.overall['parquetjs-lite'])}/s`,
        `${rate(e.overall.duckdb)}/s`,
        ratio(e.overall.ours / e.overall['parquetjs-lite']),
        ratio(e.overall.ours / e.overall.duckdb),
      ],
    ],
  };
}

const spread = (x: Spread, show: (n: number) => string) =>
  `${show(x.median)} (${show(x.min)}–${show(x.max)})`;

function slotBlock(slots: NonNullable<BenchResult['slots']>): Block {
  return {
    title: `2. One ExportSlot holding a whole assay (HTTP client → simulator, folder store; each run in a fresh child process)`,
    notes: [
      'Peak RSS sampled every 10 ms from a worker thread; baseline taken after a GC just before the slot. Median (min–max) of the runs.',
      "Each child runs with the V8 heap limits the Lambda runtime sets for ExportSlot's memory. The JS heap column (sampled on the main thread between tasks) is what the slot holds or has not yet collected; RSS also counts WebAssembly memory and pages the allocator keeps.",
      ...slots.map((slot) => {
        const young = spreadOf(slot.runs.map((run) => run.youngGenerationGrowth));
        const wasm = spreadOf(slot.runs.map((run) => run.wasmMemoryGrowth));
        return `${int(slot.cells)} cells: of the peak, V8's young generation grew ${spread(young, mib)} and parquet-wasm's memory ${spread(wasm, mib)}; ${loadNote(slot.load)}`;
      }),
    ],
    headers: [
      'cells',
      'runs',
      'wall',
      'cells/s',
      'requests',
      'part',
      'row groups',
      'peak RSS above baseline',
      'peak JS heap + buffers above baseline',
    ],
    rows: slots.map((slot) => [
      int(slot.cells),
      String(slot.runs.length),
      spread(slot.wallMs, seconds),
      `${rate(slot.cellsPerSecond)}/s`,
      String(slot.runs[0]?.requests ?? 0),
      mib(slot.runs[0]?.partBytes ?? 0),
      String(slot.runs[0]?.rowGroups ?? 0),
      spread(slot.peakAboveBaseline, mib),
      spread(slot.peakHeapAboveBaseline, mib),
    ]),
  };
}

function networkBlock(n: NonNullable<BenchResult['network']>): Block {
  return {
    title: `3. Network-bound: the simulator behind ${n.model.requestMs} ms per request and ${(n.model.bytesPerSecond / 1e6).toFixed(0)} MB/s per connection (demo organisation)`,
    notes: [
      'download only: every request the export made, replayed at the same concurrency as the export sent it (the token to the API, none to signed URLs), each body read as far as the export read it and discarded. export: the whole local export (workflow, melt, Parquet, commit) in one process. Median (min–max) of the runs.',
      'unused capacity: Σ (concurrency − requests in flight) ÷ concurrency over the export, split by whether its main thread was running our code (CPU not overlapped with transfer) or waiting (the workflow had no request to make: a step boundary, the store, a request that needs another answer first). A request whose answer arrived while the thread was busy counts as in flight until the thread reads it.',
      ...n.levels.map((level) => `concurrency ${level.concurrency}: ${loadNote(level.load)}`),
    ],
    headers: [
      'concurrency',
      'slots in flight',
      'requests',
      'downloaded',
      'download only',
      'export',
      'export CPU',
      'unused capacity: CPU / waiting',
      'download ÷ export',
    ],
    rows: n.levels.map((level) => {
      const middle = medianRun(level);
      return [
        String(level.concurrency),
        `${level.split.experiments} experiments × ${level.split.slots}`,
        String(level.runs[0]?.requests ?? 0),
        mib(level.runs[0]?.bytes ?? 0),
        spread(level.downloadMs, seconds),
        spread(level.exportMs, seconds),
        seconds(middle.exportCpuMs),
        `${seconds(middle.account.unusedBusyMs)} / ${seconds(middle.account.unusedMs - middle.account.unusedBusyMs)}`,
        spread(level.ratio, (x) => x.toFixed(2)),
      ];
    }),
  };
}

function e2eBlock(x: NonNullable<BenchResult['e2e']>): Block {
  const naiveNote =
    x.naiveExtrapolatedMs === null
      ? 'The naive exporter exported the whole organisation.'
      : `The naive exporter ran on a SUBSET (${x.naive.experimentsExported} of ${x.ours.experimentsExported} exportable experiments, ${int(x.naive.cells)} cells) within its time budget; its time for all ${int(x.ours.cells)} cells is EXTRAPOLATED per cell: ${seconds(x.naiveExtrapolatedMs)}.`;
  return {
    title: `4. Local end to end: ${x.experiments} experiments (${int(x.genes)} genes × ${x.samples} samples, plus plots) into a temp folder`,
    notes: [
      `ours: runLocalExport (the deployed ASL run in-process, concurrency 4; synthesizing it took ${seconds(x.ours.definitionMs ?? 0)}, not counted). One experiment answers 403, as the simulator makes it.`,
      'naive: one request at a time (limit 10000), rows as objects in memory, parquetjs-lite; no commit protocol, catalog or manifest.',
      naiveNote,
      loadNote(x.load),
    ],
    headers: [
      'exporter',
      'experiments',
      'cells',
      'wall',
      'cells/s',
      'requests',
      'requests/s',
      'Parquet',
      'peak RSS',
    ],
    rows: [
      [
        'ours',
        String(x.ours.experimentsExported),
        int(x.ours.cells),
        seconds(x.ours.wallMs),
        `${rate(x.oursCellsPerSecond)}/s`,
        int(x.ours.requests),
        x.oursRequestsPerSecond.toFixed(1),
        mib(x.ours.parquetBytes),
        mib(x.ours.peakRss),
      ],
      [
        x.naiveExtrapolatedMs === null ? 'naive' : 'naive (subset)',
        String(x.naive.experimentsExported),
        int(x.naive.cells),
        seconds(x.naive.wallMs),
        `${rate(x.naiveCellsPerSecond)}/s`,
        int(x.naive.requests),
        x.naiveRequestsPerSecond.toFixed(1),
        mib(x.naive.parquetBytes),
        mib(x.naive.peakRss),
      ],
    ],
  };
}

function scaleBlock(c: NonNullable<BenchResult['scale']>): Block {
  return {
    title: `5. Scale: planning ${int(c.experiments)} experiments (simulator with 5 genes × 2 samples each)`,
    notes: [
      `StartRun ${seconds(c.startMs)}; PlanExperiment × ${int(c.experiments)} in ${seconds(c.planWallMs)} at concurrency ${c.concurrency} (${int(c.requests)} requests); ExportSlot and CommitExperiment run for ${c.exportSample} experiments, every other ExportSlot input only built and measured; FinalizeRun over all ${int(c.experiments)} in ${seconds(c.finalizeMs)}.`,
      `Store objects (not payloads): items list ${mib(c.itemsBytes)}, largest slot list ${int(c.maxSlotsBytes)} B, manifest ${mib(c.manifestBytes)}.`,
      `Largest payload: ${c.largestPayload.state} ${c.largestPayload.direction}, ${int(c.largestPayload.bytes)} B (Step Functions limit 262,144 B; target 65,536 B).`,
      loadNote(c.load),
    ],
    headers: ['state', 'payloads', 'executed', 'largest input', 'largest output', 'mean time', 'max time'],
    rows: Object.entries(c.states).map(([name, st]) => [
      name,
      int(st.payloads),
      int(st.executed),
      `${int(st.maxInputBytes)} B`,
      st.executed === 0 ? '-' : `${int(st.maxOutputBytes)} B`,
      st.executed === 0 ? '-' : seconds(st.totalMs / st.executed),
      st.executed === 0 ? '-' : seconds(st.maxMs),
    ]),
  };
}

function fileCopyBlock(f: NonNullable<BenchResult['fileCopy']>): Block {
  return {
    title: `6. One file copy of ${mib(f.bytes)} (signed URL on the simulator → folder store; own child process)`,
    notes: [
      "ExportSlot of a file-<uuid> dataset: the body streamed through the store's put-if-absent, hashed on the way.",
      'Peak RSS sampled every 10 ms from a worker thread; baseline taken after a GC just before the copy.',
      loadNote(f.load),
    ],
    headers: ['bytes', 'time', 'throughput', 'peak RSS above baseline', 'copy identical (SHA-256)'],
    rows: [
      [
        int(f.bytes),
        seconds(f.wallMs),
        `${mib((f.bytes / f.wallMs) * 1000)}/s`,
        mib(f.peakAboveBaseline),
        f.identical ? 'yes' : 'NO',
      ],
    ],
  };
}

function costBlock(m: CostModel): Block {
  const day = (label: string, d: DailyCost) => [
    label,
    `${d.lambdaGbSeconds.toFixed(0)} GB-s, ${int(d.lambdaInvocations)} invocations: ${dollars(d.dollars.lambda)}`,
    `${int(d.transitions)}: ${dollars(d.dollars.stepFunctions)}`,
    `${int(d.s3PutClass)} PUT/LIST + ${int(d.s3GetClass)} GET/HEAD: ${dollars(d.dollars.s3)}`,
    `${mib(d.lakeBytes)}: ${dollars(d.dollars.athenaFullScan)}`,
    dollars(d.dollars.total),
  ];
  return {
    title: 'Cost model (from the figures above)',
    notes: [
      `Prices: Lambda arm64 $${m.prices.lambdaArmGbSecond}/GB-s and $${m.prices.lambdaPerMillionRequests}/M requests; Step Functions standard $${m.prices.stepFunctionsPerThousandTransitions}/1k transitions; S3 PUT $${m.prices.s3PutPerThousand}/1k, GET $${m.prices.s3GetPerThousand}/1k; Athena $${m.prices.athenaPerTbScanned}/TB scanned.`,
      ...m.assumptions.map((a) => `Assumed: ${a}.`),
      `Lambda: ${m.lambdaGbSecondsPerMillionCells.toFixed(2)} GB-s per million cells (${m.lambdaComputeGbSecondsPerMillionCells.toFixed(2)} of it ExportSlot compute, the rest waiting on Pluto, planning and committing).`,
      `Step Functions: ${m.transitionsPerRun} transitions per run, ${m.transitionsPerExportedExperiment.toFixed(1)} per exported experiment, ${m.transitionsPerUnchangedExperiment} per unchanged one, ${m.transitionsPerMillionCells.toFixed(1)} per million cells.`,
      `A month of daily runs: ${dollars(30 * m.exportDay.dollars.total)} if every experiment changes every day, ${dollars(30 * m.unchangedDay.dollars.total)} if none does.`,
    ],
    headers: [
      'daily run, 1,000 experiments',
      'Lambda',
      'transitions',
      'S3 requests',
      'Athena (one full scan)',
      'total',
    ],
    rows: [day('all exported', m.exportDay), day('all unchanged', m.unchangedDay)],
  };
}

function textTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Columns padded to one width, as the formatter (biome) lays Markdown tables out. */
function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const escaped = [headers, ...rows].map((row) => row.map((cell) => cell.replaceAll('|', '\\|')));
  const widths = headers.map((_, i) => Math.max(3, ...escaped.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const [head = [], ...body] = escaped;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function machineLine(r: BenchResult): string {
  const sizes = r.meta.quick ? ' QUICK run: every size ÷10, targets indicative only.' : '';
  const only = r.meta.only === undefined ? '' : ` Only the sections ${r.meta.only.join(', ')}.`;
  return `${r.meta.date}, ${r.meta.cores} cores (${r.meta.cpu}, ${r.meta.arch}), Node ${r.meta.node}, shared with other work (load average ${r.meta.loadAverageAtStart.map((l) => l.toFixed(2)).join(' / ')} at start).${sizes}${only}`;
}

export function renderText(r: BenchResult): string {
  const parts = [`pluto-export bench: ${machineLine(r)}`];
  for (const b of blocks(r)) {
    parts.push(`\n${b.title}\n${textTable(b.headers, b.rows)}${b.notes.map((n) => `\n  ${n}`).join('')}`);
  }
  return `${parts.join('\n')}\n`;
}

export function renderMarkdown(r: BenchResult): string {
  const parts = [
    '## Performance',
    '',
    `Measured with \`npm run bench\` (\`--quick\` for a smoke run, \`--json\` for one JSON object, \`--only <section>[,<section>]\` for some of ${BENCH_SECTIONS.join(', ')}): ${machineLine(r)}`,
  ];
  for (const b of blocks(r)) {
    parts.push('', `### ${b.title}`, '', markdownTable(b.headers, b.rows));
    if (b.notes.length > 0) parts.push('', ...b.notes.map((n) => `- ${n}`));
  }
  return `${parts.join('\n')}\n`;
}
