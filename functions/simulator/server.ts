/**
 * The HTTP face of the simulator: the Pluto endpoints (design.md, Pluto API) on 127.0.0.1, DRF-style errors,
 * limit/offset paging, a request log and a fault hook.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimulatedFile } from './catalogue.js';
import { fileChunks, fileItem } from './catalogue.js';
import { JsonBytes } from './json-bytes.js';
import type { DatasetTruth, World } from './world.js';

/** Page size when a request gives no usable `limit` (DRF's LimitOffsetPagination falls back to it too). */
export const DEFAULT_LIMIT = 10_000;

export type EndpointKind =
  | 'projects'
  | 'project'
  | 'project-experiments'
  | 'experiments'
  | 'experiment'
  | 'sample-data'
  | 'assay-data'
  | 'plots'
  | 'plot'
  | 'plot-data'
  | 'plot-download'
  | 'analysis'
  | 'files'
  | 'file-download'
  | 'qc-report'
  | 'signed'
  | 'signed-file'
  | 'signed-download'
  | 'other';

export interface FaultRequest {
  /** 1-based position of the request since the simulator started (not reset by `requests.reset()`). */
  readonly seq: number;
  readonly method: string;
  /** Path without the leading slash, e.g. `lab/experiments/PLX123456/assay-data/`. */
  readonly path: string;
  readonly endpoint: EndpointKind;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
}

/** What to do instead of (or to) the normal answer. Byte counts index the UTF-8 body. */
export type FaultAction =
  /** Answer with this status and JSON body instead. */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly body?: unknown;
      readonly headers?: Record<string, string>;
    }
  /** Answer with this raw text or bytes instead, with these headers besides Content-Type. */
  | {
      readonly kind: 'raw';
      readonly status?: number;
      readonly body: string | Buffer;
      readonly headers?: Record<string, string>;
    }
  /** Answer as if the query string had these parameters (e.g. another page's offset). */
  | { readonly kind: 'reroute'; readonly query: Readonly<Record<string, string>> }
  /** Drop the connection: before answering, or after this many bytes of the normal body. */
  | { readonly kind: 'reset'; readonly afterBodyBytes?: number }
  /** Send only the first bytes of the normal body, as if complete (Content-Length matches). */
  | { readonly kind: 'truncate'; readonly bodyBytes?: number }
  /** Send the headers and the first bytes of the normal body, then pause before the rest. */
  | { readonly kind: 'stall'; readonly afterBodyBytes: number; readonly ms: number }
  /** Wait before sending anything (slow headers), then answer normally. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Send the normal body in chunks of `chunkBytes`, one every `intervalMs`. */
  | { readonly kind: 'drip'; readonly chunkBytes: number; readonly intervalMs: number }
  /** Send the normal status with the normal body (UTF-8 text) replaced by `rewrite(body)`. */
  | { readonly kind: 'rewrite'; readonly rewrite: (body: string) => string }
  /**
   * Send the normal body with chunked transfer encoding, so no Content-Length tells its size, and
   * `extraBytes` more bytes after it (a body longer than the answer it stands for).
   */
  | { readonly kind: 'chunked'; readonly extraBytes?: number };

export type FaultHook = (request: FaultRequest) => FaultAction | undefined;

export interface RequestRecord {
  readonly seq: number;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly endpoint: EndpointKind;
  readonly userAgent: string | undefined;
  readonly status: number;
}

export interface RequestLog {
  readonly total: number;
  readonly byEndpoint: Readonly<Record<string, number>>;
  /** The latest requests, oldest first (at most 1,000). */
  readonly recent: readonly RequestRecord[];
  reset(): void;
}

const RECENT_LIMIT = 1000;

class Requests implements RequestLog {
  total = 0;
  byEndpoint: Record<string, number> = {};
  recent: RequestRecord[] = [];

  add(record: RequestRecord): void {
    this.total++;
    this.byEndpoint[record.endpoint] = (this.byEndpoint[record.endpoint] ?? 0) + 1;
    this.recent.push(record);
    if (this.recent.length > RECENT_LIMIT) this.recent.splice(0, this.recent.length - RECENT_LIMIT);
  }

  reset(): void {
    this.total = 0;
    this.byEndpoint = {};
    this.recent = [];
  }
}

interface Answer {
  readonly status: number;
  readonly body: string | Buffer;
  readonly headers?: Record<string, string> | undefined;
  /** A body too large to hold: `body` is empty, and these chunks are sent instead. */
  readonly stream?: { readonly length: number; chunks(): Iterable<Buffer> };
}

/** Bodies up to this size are built whole, so every fault can act on them; larger ones are streamed. */
const STREAM_ABOVE_BYTES = 16 * 1024 * 1024;

const json = (status: number, value: unknown): Answer => ({ status, body: JSON.stringify(value) });
const NOT_FOUND = json(404, { detail: 'Not found.' });

/**
 * How an id Pluto does not know is answered. Pluto's R client tests expect 400 with code
 * `invalid_object_id` for an unknown experiment; `not_found` is the plain DRF 404, kept as a
 * variant because which endpoints answer which is not documented.
 */
export type UnknownIdAnswer = 'invalid_object_id' | 'not_found';

function unknownId(answerWith: UnknownIdAnswer, what: string, id: string): Answer {
  if (answerWith === 'not_found') return NOT_FOUND;
  return json(400, { code: 'invalid_object_id', message: `Invalid ${what} id: ${id}` });
}
const FORBIDDEN = json(403, { detail: 'You do not have permission to perform this action.' });

interface Route {
  readonly endpoint: EndpointKind;
  readonly params: readonly string[];
}

const ROUTES: readonly [RegExp, EndpointKind][] = [
  [/^lab\/projects\/$/, 'projects'],
  [/^lab\/projects\/([^/]+)\/$/, 'project'],
  [/^analyses\/([^/]+)\/$/, 'analysis'],
  [/^lab\/projects\/([^/]+)\/experiments\/$/, 'project-experiments'],
  [/^lab\/experiments\/$/, 'experiments'],
  [/^lab\/experiments\/([^/]+)\/$/, 'experiment'],
  [/^lab\/experiments\/([^/]+)\/sample-data\/$/, 'sample-data'],
  [/^lab\/experiments\/([^/]+)\/assay-data\/$/, 'assay-data'],
  [/^lab\/experiments\/([^/]+)\/plots\/$/, 'plots'],
  [/^lab\/experiments\/([^/]+)\/plots\/([^/]+)\/$/, 'plot'],
  [/^lab\/experiments\/([^/]+)\/plots\/([^/]+)\/data\/$/, 'plot-data'],
  [/^lab\/experiments\/([^/]+)\/plots\/([^/]+)\/download\/$/, 'plot-download'],
  [/^lab\/experiments\/([^/]+)\/files\/$/, 'files'],
  [/^lab\/experiments\/([^/]+)\/files\/([^/]+)\/download\/$/, 'file-download'],
  [/^lab\/experiments\/([^/]+)\/qc-report\/$/, 'qc-report'],
  [/^signed\/files\/([^/]+)\/([^/]+)$/, 'signed-file'],
  [/^signed\/downloads\/([^/]+)\/([^/]+)\.csv$/, 'signed-download'],
  [/^signed\/([^/]+)\/([^/.]+)\.(csv|json|png)$/, 'signed'],
];

function route(path: string): Route {
  for (const [pattern, endpoint] of ROUTES) {
    const match = pattern.exec(path);
    if (match) return { endpoint, params: match.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return { endpoint: 'other', params: [] };
}

function nonNegativeInt(text: string | null, fallback: number, positive: boolean): number {
  if (text === null || !/^\d+$/.test(text)) return fallback;
  const value = Number(text);
  return positive && value === 0 ? fallback : value;
}

/** Serializes one page straight to bytes, without building row objects; `count` can be left out. */
export function dataPageBytes(
  dataset: DatasetTruth,
  offset: number,
  limit: number,
  withCount = true,
): Buffer {
  const { headers, rowCount } = dataset;
  const start = Math.min(offset, rowCount);
  const end = Math.min(rowCount, start + limit);
  const out = new JsonBytes(1024 + (end - start) * headers.length * 16);
  out.raw(withCount ? `{"count":${rowCount},"headers":` : '{"headers":').utf8(JSON.stringify(headers));
  out.raw(',"items":[');
  if (dataset.layout === 'columns') {
    for (let c = 0; c < headers.length; c++) {
      out.raw(c === 0 ? '[' : ',[');
      for (let r = start; r < end; r++) {
        if (r !== start) out.raw(',');
        out.value(dataset.cell(r, c));
      }
      out.raw(']');
    }
  } else {
    const keys = headers.map((h, c) => `${c === 0 ? '' : ','}${JSON.stringify(h)}:`);
    for (let r = start; r < end; r++) {
      out.raw(r === start ? '{' : ',{');
      for (let c = 0; c < keys.length; c++) out.utf8(keys[c] as string).value(dataset.cell(r, c));
      out.raw('}');
    }
  }
  return out.raw(']}').bytes();
}

function listJson(items: readonly unknown[], offset: number, limit: number): string {
  const page = items.slice(offset, offset + limit);
  return `{"count":${items.length},"items":${JSON.stringify(page)}}`;
}

function answer(
  world: World,
  req: IncomingMessage,
  query: URLSearchParams,
  r: Route,
  unknownIds: UnknownIdAnswer,
): Answer {
  if (r.endpoint === 'signed') return signedAnswer(world, req, r);
  if (r.endpoint === 'signed-file') return signedFileAnswer(world, req, r);
  if (r.endpoint === 'signed-download') return signedDownloadAnswer(world, req, r);
  const auth = req.headers.authorization;
  if (auth === undefined) {
    return json(401, { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' });
  }
  if (auth !== `Token ${world.token}`)
    return json(401, { detail: 'Invalid token.', code: 'authentication_failed' });
  if (req.method !== 'GET') return json(405, { detail: `Method "${req.method}" not allowed.` });
  if (r.endpoint === 'other') return NOT_FOUND;

  const offset = nonNegativeInt(query.get('offset'), 0, false);
  const limit = nonNegativeInt(query.get('limit'), DEFAULT_LIMIT, true);
  const list = (items: readonly unknown[]): Answer => ({ status: 200, body: listJson(items, offset, limit) });

  if (r.endpoint === 'projects') return list(world.projects.map((p) => p.object));
  if (r.endpoint === 'experiments') return list(world.experiments.map((e) => e.metadata));
  const [first = '', second = ''] = r.params;
  if (r.endpoint === 'project') {
    const project = world.projects.find((p) => p.id === first || p.object.uuid === first);
    if (project === undefined) return unknownId(unknownIds, 'project', first);
    return world.variants.has('project-detail-refused') ? FORBIDDEN : json(200, project.detail);
  }
  if (r.endpoint === 'analysis') {
    if (world.variants.has('analysis-detail-missing')) return NOT_FOUND;
    const found = world.exportable.find((e) => e.analyses.has(first))?.analyses.get(first);
    return found === undefined ? unknownId(unknownIds, 'analysis', first) : json(200, found);
  }
  if (r.endpoint === 'project-experiments') {
    const project = world.projects.find((p) => p.id === first || p.object.uuid === first);
    if (project === undefined) return unknownId(unknownIds, 'project', first);
    return list(world.experiments.filter((e) => e.projectId === project.id).map((e) => e.metadata));
  }

  if (!world.isListed(first)) return unknownId(unknownIds, 'experiment', first);
  if (world.forbiddenExperimentIds.includes(first)) return FORBIDDEN;
  const experiment = world.experiment(first);
  switch (r.endpoint) {
    case 'experiment':
      return json(200, experiment.metadata);
    case 'sample-data':
      return { status: 200, body: dataPageBytes(experiment.samples, offset, limit) };
    case 'assay-data':
      return { status: 200, body: dataPageBytes(experiment.assay, offset, limit) };
    case 'plots':
      return list(experiment.plots);
    case 'files':
      return filesAnswer(world, experiment.files, query, offset, limit);
    case 'file-download': {
      const file = experiment.files.find((f) => f.uuid === second);
      if (file === undefined) return unknownId(unknownIds, 'file', second);
      return json(200, { url: `http://${req.headers.host}/signed/files/${first}/${file.uuid}` });
    }
    case 'qc-report': {
      // The inventory's QC report, as the file record the exporter assumes (or its signed URL).
      const report = experiment.files.find((f) => f.dataType === 'qc_report');
      if (report === undefined) return NOT_FOUND;
      if (world.variants.has('qc-report-signed-url')) {
        return json(200, { url: `http://${req.headers.host}/signed/files/${first}/${report.uuid}` });
      }
      return json(200, {
        ...fileItem(report, !world.variants.has('files-without-size')),
        data_type: report.dataType,
      });
    }
    default: {
      const plot = experiment.plots.find((p) => p.uuid === second);
      if (plot === undefined) return unknownId(unknownIds, 'plot', second);
      if (r.endpoint === 'plot') return json(200, plot);
      if (r.endpoint === 'plot-download') {
        if (!experiment.downloads.has(plot.uuid)) return NOT_FOUND;
        return json(200, { url: `http://${req.headers.host}/signed/downloads/${first}/${plot.uuid}.csv` });
      }
      const signed = signedFormatOf(world, experiment.images.has(plot.uuid), plot.display?.display_type);
      if (signed !== undefined) {
        return json(200, { url: `http://${req.headers.host}/signed/${first}/${plot.uuid}.${signed}` });
      }
      if (experiment.tableless.has(plot.uuid)) return json(200, { count: 0, headers: [], items: [] });
      const data = experiment.results.get(second);
      if (data === undefined) return unknownId(unknownIds, 'plot', second);
      const withCount = !world.variants.has('plot-data-without-count');
      if (data.layout === 'columns' && world.variants.has('paging-ignored')) {
        return { status: 200, body: dataPageBytes(data, 0, data.rowCount, withCount) };
      }
      return { status: 200, body: dataPageBytes(data, offset, limit, withCount) };
    }
  }
}

/**
 * The inventory grouped by data type, as Pluto's R client reads it: `{<type>: {count, items}}`;
 * `data_type` narrows it to one group, paged by `limit` and `offset`.
 */
function filesAnswer(
  world: World,
  files: readonly SimulatedFile[],
  query: URLSearchParams,
  offset: number,
  limit: number,
): Answer {
  const wanted = query.get('data_type');
  const pageLimit = wanted === null && world.variants.has('files-paged') ? 1 : limit;
  const groups: Record<string, { count: number; items: unknown[] }> = {};
  for (const type of new Set(files.map((f) => f.dataType))) {
    if (wanted !== null && type !== wanted) continue;
    const all = files.filter((f) => f.dataType === type);
    const start = wanted === null ? 0 : offset;
    groups[type] = {
      count: all.length,
      items: all
        .slice(start, start + pageLimit)
        .map((f) => fileItem(f, !world.variants.has('files-without-size'))),
    };
  }
  return json(200, groups);
}

function signedFormatOf(world: World, image: boolean, displayType: string | null | undefined) {
  if (image) return 'png';
  if (displayType !== 'sample_scatter_plot') return undefined;
  if (world.variants.has('signed-url-csv')) return 'csv';
  if (world.variants.has('signed-url-json')) return 'json';
  return undefined;
}

/** The first bytes of a PNG: enough for a client to see what it got. */
const PNG_BYTES = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

const ONE_AUTH_MECHANISM: Answer = {
  status: 400,
  body: '<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>',
  headers: { 'Content-Type': 'application/xml' },
};

/** A signed URL, as S3 serves one: the signature is the credential, and an Authorization header is refused. */
function signedAnswer(world: World, req: IncomingMessage, r: Route): Answer {
  if (req.headers.authorization !== undefined) return ONE_AUTH_MECHANISM;
  const [experimentId = '', plotId = '', format = ''] = r.params;
  const experiment = world.exportable.find((e) => e.id === experimentId);
  if (experiment === undefined) return NOT_FOUND;
  if (format === 'png') {
    if (!experiment.images.has(plotId)) return NOT_FOUND;
    return { status: 200, body: PNG_BYTES, headers: { 'Content-Type': 'image/png' } };
  }
  const data = experiment.results.get(plotId);
  if (data === undefined) return NOT_FOUND;
  if (format === 'json') return { status: 200, body: dataPageBytes(data, 0, data.rowCount) };
  return { status: 200, body: csvBytes(data), headers: { 'Content-Type': 'text/csv' } };
}

/** A plot's complete results, as the CSV its download's signed URL serves. */
function signedDownloadAnswer(world: World, req: IncomingMessage, r: Route): Answer {
  if (req.headers.authorization !== undefined) return ONE_AUTH_MECHANISM;
  const [experimentId = '', plotId = ''] = r.params;
  const data = world.exportable.find((e) => e.id === experimentId)?.downloads.get(plotId);
  if (data === undefined) return NOT_FOUND;
  return { status: 200, body: csvBytes(data), headers: { 'Content-Type': 'text/csv' } };
}

/** A file's signed URL: its bytes, as S3 serves them, refusing an Authorization header. */
function signedFileAnswer(world: World, req: IncomingMessage, r: Route): Answer {
  if (req.headers.authorization !== undefined) return ONE_AUTH_MECHANISM;
  const [experimentId = '', uuid = ''] = r.params;
  const file = world.exportable.find((e) => e.id === experimentId)?.files.find((f) => f.uuid === uuid);
  if (file === undefined) return NOT_FOUND;
  const headers = { 'Content-Type': 'application/octet-stream' };
  if (file.size > STREAM_ABOVE_BYTES) {
    return { status: 200, body: '', headers, stream: { length: file.size, chunks: () => fileChunks(file) } };
  }
  return { status: 200, body: Buffer.concat([...fileChunks(file)]), headers };
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? String((value as { toJSON(): string }).toJSON()) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvBytes(data: DatasetTruth): Buffer {
  const lines = [data.headers.map(csvField).join(',')];
  for (let r = 0; r < data.rowCount; r++) lines.push(data.row(r).map(csvField).join(','));
  return Buffer.from(`${lines.join('\r\n')}\r\n`);
}

/** Writes chunk by chunk, waiting for the socket to drain: memory stays at a chunk or two. */
function sendStream(res: ServerResponse, a: Answer, stream: NonNullable<Answer['stream']>): void {
  res.writeHead(a.status, { ...a.headers, 'Content-Length': stream.length });
  const chunks = stream.chunks()[Symbol.iterator]();
  const pump = () => {
    for (;;) {
      if (res.destroyed) return;
      const next = chunks.next();
      if (next.done === true) {
        res.end();
        return;
      }
      if (!res.write(next.value)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

const bytes = (a: Answer): Buffer => (typeof a.body === 'string' ? Buffer.from(a.body) : a.body);

export interface HttpFace {
  readonly url: string;
  readonly requests: RequestLog;
  close(): Promise<void>;
}

/**
 * A network between the client and the API: every answer waits `requestMs` before its first byte
 * (the round trips and the server's own work), then its body flows at `bytesPerSecond`, each
 * request on its own connection at that rate.
 */
export interface LatencyModel {
  readonly requestMs: number;
  readonly bytesPerSecond: number;
}

/** Bytes written per paced step of a latency model. */
const PACED_CHUNK_BYTES = 64 * 1024;

export async function serve(
  world: World,
  options: { port: number; faults?: FaultHook; unknownIds?: UnknownIdAnswer; latency?: LatencyModel },
): Promise<HttpFace> {
  const requests = new Requests();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;

  const later = (action: () => void, ms: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, ms);
    timers.add(timer);
  };

  const send = (res: ServerResponse, a: Answer) => {
    if (a.stream !== undefined) {
      sendStream(res, a, a.stream);
      return;
    }
    const body = bytes(a);
    const head = { 'Content-Type': 'application/json', 'Content-Length': body.length, ...a.headers };
    const latency = options.latency;
    if (latency === undefined) {
      res.writeHead(a.status, head);
      res.end(body);
      return;
    }
    // Steps are due at absolute times, so timer lateness does not add up over a long body.
    const firstByteAt = performance.now() + latency.requestMs;
    later(() => {
      if (res.destroyed) return;
      res.writeHead(a.status, head);
      writeInSteps(res, body, PACED_CHUNK_BYTES, (sent) =>
        Math.max(0, firstByteAt + (sent / latency.bytesPerSecond) * 1000 - performance.now()),
      );
    }, latency.requestMs);
  };

  /** Writes `body` `chunkBytes` at a time, waiting `pause(bytesSentSoFar)` ms before each next chunk. */
  const writeInSteps = (
    res: ServerResponse,
    body: Buffer,
    chunkBytes: number,
    pause: (sent: number) => number,
  ) => {
    let sent = 0;
    const step = () => {
      if (res.destroyed) return;
      const end = Math.min(body.length, sent + chunkBytes);
      const chunk = body.subarray(sent, end);
      sent = end;
      if (sent >= body.length) {
        res.end(chunk);
        return;
      }
      res.write(chunk);
      later(step, pause(sent));
    };
    step();
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname.replace(/^\//, '');
    const r = route(path);
    const request: FaultRequest = {
      seq: ++seq,
      method: req.method ?? 'GET',
      path,
      endpoint: r.endpoint,
      query: url.searchParams,
      headers: req.headers,
    };
    const log = (status: number) =>
      requests.add({
        seq: request.seq,
        method: request.method,
        path,
        query: url.search,
        endpoint: r.endpoint,
        userAgent: req.headers['user-agent'],
        status,
      });

    const fault = options.faults?.(request);
    if (fault?.kind === 'status' || fault?.kind === 'raw') {
      const replaced: Answer =
        fault.kind === 'status'
          ? { status: fault.status, body: JSON.stringify(fault.body ?? {}), headers: fault.headers }
          : { status: fault.status ?? 200, body: fault.body, headers: fault.headers };
      log(replaced.status);
      send(res, replaced);
      return;
    }
    const query =
      fault?.kind === 'reroute'
        ? new URLSearchParams({ ...Object.fromEntries(url.searchParams), ...fault.query })
        : url.searchParams;
    const normal = answer(world, req, query, r, options.unknownIds ?? 'invalid_object_id');
    log(normal.status);
    if (fault === undefined || fault.kind === 'reroute') {
      send(res, normal);
      return;
    }

    const body = normal.stream === undefined ? bytes(normal) : Buffer.concat([...normal.stream.chunks()]);
    const typed = { 'Content-Type': 'application/json', ...normal.headers };
    const headers = { ...typed, 'Content-Length': body.length };
    switch (fault.kind) {
      case 'reset': {
        if (fault.afterBodyBytes === undefined) {
          req.socket.destroy();
          return;
        }
        res.writeHead(normal.status, headers);
        res.write(body.subarray(0, fault.afterBodyBytes), () => res.socket?.destroy());
        return;
      }
      case 'truncate':
        send(res, { status: normal.status, body: body.subarray(0, fault.bodyBytes ?? body.length >> 1) });
        return;
      case 'stall': {
        res.writeHead(normal.status, headers);
        res.write(body.subarray(0, fault.afterBodyBytes));
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!res.destroyed) res.end(body.subarray(fault.afterBodyBytes));
        }, fault.ms);
        timers.add(timer);
        return;
      }
      case 'delay': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!res.destroyed) send(res, normal);
        }, fault.ms);
        timers.add(timer);
        return;
      }
      case 'drip': {
        res.writeHead(normal.status, headers);
        writeInSteps(res, body, Math.max(1, fault.chunkBytes), () => fault.intervalMs);
        return;
      }
      case 'rewrite':
        send(res, { status: normal.status, body: fault.rewrite(body.toString('utf8')) });
        return;
      case 'chunked':
        res.writeHead(normal.status, { ...typed, 'Transfer-Encoding': 'chunked' });
        res.end(Buffer.concat([body, Buffer.alloc(fault.extraBytes ?? 0, ' ')]));
        return;
    }
  };

  const server = createServer(handle);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
