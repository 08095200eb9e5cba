/**
 * The HTTP requests a benchmark child makes, seen through undici's diagnostics channels (global
 * `fetch` publishes them): when each started and ended, the bytes of its body that arrived, whether
 * it carried the token, and which workflow step made it. The network section replays them and
 * accounts for the time the export had fewer requests in flight than its concurrency.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';

export const madeRequestSchema = z.object({
  /** Path and query, without the leading slash. */
  path: z.string(),
  /** Sent with an Authorization header (the API); signed URLs are fetched without one. */
  authorized: z.boolean(),
  /** Body bytes that arrived before the request ended: less than the body when the reader stopped early. */
  bytes: z.number(),
  /** Its response headers arrived; a request that failed before them (a dead keep-alive socket) is not replayed. */
  answered: z.boolean(),
  startMs: z.number(),
  endMs: z.number(),
  /** The workflow step that made it, e.g. `PlanExperiment PLX123456`. */
  step: z.string(),
});
export type MadeRequest = z.infer<typeof madeRequestSchema>;

/** What an export child writes with `--requests-out`: its requests, its busy main thread, its wall and CPU time. */
export const madeRequestsSchema = z.object({
  requests: z.array(madeRequestSchema),
  busy: z.array(z.object({ atMs: z.number(), spanMs: z.number(), utilization: z.number() })),
  wallMs: z.number(),
  cpuMs: z.number(),
});

/** The step in whose asynchronous context a request is created. */
export const stepContext = new AsyncLocalStorage<string>();

interface Pending {
  readonly entry: { -readonly [K in keyof MadeRequest]: MadeRequest[K] };
}

const CHANNELS = {
  create: 'undici:request:create',
  headers: 'undici:request:headers',
  chunk: 'undici:request:bodyChunkReceived',
  trailers: 'undici:request:trailers',
  error: 'undici:request:error',
} as const;

/**
 * Records every request created until `stop()`; times are milliseconds since `origin`, a
 * `performance.now()` reading. A request that never ended by `stop()` ends then.
 */
export function recordRequests(origin: number): { stop(): MadeRequest[] } {
  const made: Pending[] = [];
  const open = new WeakMap<object, Pending>();
  const now = () => performance.now() - origin;
  const onCreate = (message: unknown) => {
    const { request } = message as { request: { path: string; headers: unknown } };
    const headers = Array.isArray(request.headers) ? (request.headers as string[]) : [];
    const pending: Pending = {
      entry: {
        path: request.path.replace(/^\//, ''),
        authorized: headers.some((value, i) => i % 2 === 0 && value.toLowerCase() === 'authorization'),
        bytes: 0,
        answered: false,
        startMs: now(),
        endMs: Number.NaN,
        step: stepContext.getStore() ?? 'outside a step',
      },
    };
    made.push(pending);
    open.set(request, pending);
  };
  const onHeaders = (message: unknown) => {
    const pending = open.get((message as { request: object }).request);
    if (pending !== undefined) pending.entry.answered = true;
  };
  const onChunk = (message: unknown) => {
    const { request, chunk } = message as { request: object; chunk: Uint8Array };
    const pending = open.get(request);
    if (pending !== undefined) pending.entry.bytes += chunk.byteLength;
  };
  const onEnd = (message: unknown) => {
    const pending = open.get((message as { request: object }).request);
    if (pending !== undefined && Number.isNaN(pending.entry.endMs)) pending.entry.endMs = now();
  };
  subscribe(CHANNELS.create, onCreate);
  subscribe(CHANNELS.headers, onHeaders);
  subscribe(CHANNELS.chunk, onChunk);
  subscribe(CHANNELS.trailers, onEnd);
  subscribe(CHANNELS.error, onEnd);
  return {
    stop() {
      unsubscribe(CHANNELS.create, onCreate);
      unsubscribe(CHANNELS.headers, onHeaders);
      unsubscribe(CHANNELS.chunk, onChunk);
      unsubscribe(CHANNELS.trailers, onEnd);
      unsubscribe(CHANNELS.error, onEnd);
      const end = now();
      return made.map(({ entry }) => ({ ...entry, endMs: Number.isNaN(entry.endMs) ? end : entry.endMs }));
    },
  };
}

/** How busy the main thread was, sampled: each sample covers the time since the one before. */
export interface BusySample {
  readonly atMs: number;
  readonly spanMs: number;
  /** Share of the span the event loop spent running code rather than waiting. */
  readonly utilization: number;
}

/** Samples the event loop's utilization every `intervalMs` until `stop()`; times since `origin`. */
export function sampleBusy(origin: number, intervalMs = 20): { stop(): BusySample[] } {
  const samples: BusySample[] = [];
  let last = performance.eventLoopUtilization();
  let lastAt = performance.now();
  const take = () => {
    const current = performance.eventLoopUtilization();
    const at = performance.now();
    samples.push({
      atMs: lastAt - origin,
      spanMs: at - lastAt,
      utilization: performance.eventLoopUtilization(current, last).utilization,
    });
    last = current;
    lastAt = at;
  };
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

export const requestAccountSchema = z.object({
  /** Wall time with 0, 1, … `concurrency` or more requests in flight. */
  inFlightMs: z.array(z.number()),
  /** Σ (concurrency − in flight) ÷ concurrency over the run: the request capacity left unused, in wall time. */
  unusedMs: z.number(),
  /** The part of `unusedMs` while the main thread was running our code. */
  unusedBusyMs: z.number(),
  /** Requests' summed durations ÷ concurrency: the wall time if capacity had never been unused. */
  requestMs: z.number(),
});
export type RequestAccount = z.infer<typeof requestAccountSchema>;

/**
 * Where an export's wall time went against a budget of `concurrency` requests in flight: how long
 * each number of requests was in flight, and the capacity left unused, split by whether the main
 * thread was busy (our CPU, not overlapped with transfer) or idle (waiting on something that is not
 * a request: the store, a step boundary, a request that needs another's answer first).
 */
export function accountRequests(
  requests: readonly Pick<MadeRequest, 'startMs' | 'endMs'>[],
  busy: readonly BusySample[],
  concurrency: number,
  wallMs: number,
): RequestAccount {
  const changes = requests
    .flatMap((r): [number, number][] => [
      [r.startMs, 1],
      [r.endMs, -1],
    ])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const inFlightMs = new Array<number>(concurrency + 1).fill(0);
  let unusedMs = 0;
  let unusedBusyMs = 0;
  let sample = 0;
  const utilizationAt = (ms: number) => {
    while (sample < busy.length - 1 && ms >= (busy[sample]?.atMs ?? 0) + (busy[sample]?.spanMs ?? 0))
      sample++;
    return busy[sample]?.utilization ?? 0;
  };
  let at = 0;
  let level = 0;
  const advance = (to: number) => {
    // In steps of at most 5 ms, so that each step meets the busy sample it falls in.
    for (let t = at; t < to; t += 5) {
      const span = Math.min(5, to - t);
      const index = Math.min(level, concurrency);
      inFlightMs[index] = (inFlightMs[index] ?? 0) + span;
      const unused = (span * Math.max(0, concurrency - level)) / concurrency;
      unusedMs += unused;
      unusedBusyMs += unused * utilizationAt(t);
    }
    at = Math.max(at, to);
  };
  for (const [time, change] of changes) {
    advance(Math.min(time, wallMs));
    level += change;
  }
  advance(wallMs);
  const requestMs = requests.reduce((sum, r) => sum + (r.endMs - r.startMs), 0) / concurrency;
  return { inFlightMs, unusedMs, unusedBusyMs, requestMs };
}
