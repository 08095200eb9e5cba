/**
 * Fault plans: which requests of the simulator go wrong, and how. A plan is a list of rules; each
 * rule picks requests (by endpoint, experiment, plot, offset, limit) and decides when to strike (by
 * ordinal, after a number of requests, or with a probability from a seeded stream), so the same
 * sequence of requests always meets the same faults. `plan.hook` is the simulator's `faults` option.
 */

import { parseJsonLossless } from '../core/pluto/json.js';
import { LosslessNumber } from '../core/pluto/model.js';
import { hash4, seededRandom } from './random.js';
import type { EndpointKind, FaultAction, FaultHook, FaultRequest } from './server.js';

export type Fault =
  /** 429 with `Retry-After` in delta-seconds, or as the HTTP date that far ahead. */
  | {
      readonly kind: 'rate-limited';
      readonly retryAfterSeconds: number;
      readonly as?: 'seconds' | 'http-date';
    }
  /** A 5xx with a DRF body; `echoAuthorization` puts the request's Authorization header into `detail`. */
  | { readonly kind: 'server-error'; readonly status: 500 | 502 | 503; readonly echoAuthorization?: boolean }
  /** The connection drops after the first bytes of the body. */
  | { readonly kind: 'reset-mid-body' }
  /** Half the body, sent as if complete. */
  | { readonly kind: 'truncated-json' }
  /** The body without its `items` (list and data endpoints only). */
  | { readonly kind: 'items-missing' }
  /** Nothing for `ms`, then the normal answer. */
  | { readonly kind: 'slow-headers'; readonly ms: number }
  /** The normal body, `chunkBytes` at a time, one chunk every `intervalMs`. */
  | { readonly kind: 'drip-fed'; readonly chunkBytes: number; readonly intervalMs: number }
  /** 401 `authentication_failed`, as Pluto answers a revoked token. */
  | { readonly kind: 'token-revoked' }
  /** 400 `{code: "invalid_object_id", message, details?}`, as Pluto answers an id it does not know. */
  | { readonly kind: 'invalid-object-id'; readonly details?: unknown }
  /** 403, 404 or 405 with Pluto's `detail`. */
  | {
      readonly kind: 'refused';
      readonly status: 403 | 404 | 405;
      readonly detail: string;
      readonly code?: string;
      readonly echoAuthorization?: boolean;
    }
  /** Data pages: a row appeared before this page since paging began (count + 1, rows shifted). */
  | { readonly kind: 'row-inserted' }
  /** Data pages: a row vanished before this page since paging began (count − 1, rows shifted). */
  | { readonly kind: 'row-deleted' }
  /** Data pages: the last header is renamed. */
  | { readonly kind: 'headers-changed' }
  /** Data pages: the same rows in reverse order, same count. */
  | { readonly kind: 'shuffled' }
  /** Data pages: one row more than was served (longer than `limit` when the page was full). */
  | { readonly kind: 'long-page' }
  /** Data pages: `count` 0 and no items. */
  | { readonly kind: 'empty-dataset' };

export type FaultKind = Fault['kind'];

/** Which requests a rule may strike; every field narrows, none means every request. */
export interface RequestFilter {
  readonly endpoints?: readonly EndpointKind[];
  /** Requests under `lab/experiments/<experimentId>/`. */
  readonly experimentId?: string;
  /** Not requests under `lab/experiments/<id>/` for these ids. */
  readonly exceptExperimentIds?: readonly string[];
  /** Requests under `.../plots/<plotId>/`. */
  readonly plotId?: string;
  /** Requests whose `offset` query parameter is at least this (a later page). */
  readonly minOffset?: number;
  /** Requests whose `offset` query parameter is at most this (0: the first page). */
  readonly maxOffset?: number;
  /** Requests whose `limit` query parameter is at least this (2 skips the planner's one-row probes). */
  readonly minLimit?: number;
}

export interface FaultRule extends RequestFilter {
  /** What happens; with several, each strike picks one (seeded) among those that fit the endpoint. */
  readonly fault: Fault | readonly Fault[];
  /** Strike only these 1-based ordinals among the requests the rule matches. */
  readonly at?: readonly number[];
  /** Strike every matching request once `count` requests matching `of` (default: this rule's filter) were let through. */
  readonly after?: { readonly count: number; readonly of?: RequestFilter };
  /** Strike each matching request with this probability. */
  readonly probability?: number;
  /** Strike at most this many times. */
  readonly times?: number;
}

export interface FiredFault {
  readonly seq: number;
  readonly endpoint: EndpointKind;
  readonly path: string;
  readonly offset: number | undefined;
  readonly limit: number | undefined;
  readonly kind: FaultKind;
}

export interface FaultPlan {
  /** Pass as the simulator's `faults` option. */
  readonly hook: FaultHook;
  /** Every strike, in order. */
  readonly fired: readonly FiredFault[];
  count(kind?: FaultKind): number;
  /** No more strikes from now on (the fault is over: the token was replaced, the service recovered). */
  stop(): void;
}

export const DATA_ENDPOINTS: readonly EndpointKind[] = ['sample-data', 'assay-data', 'plot-data'];
export const LIST_ENDPOINTS: readonly EndpointKind[] = [
  'projects',
  'project-experiments',
  'experiments',
  'plots',
];

/** Faults a client should ride out by retrying. */
export const TRANSIENT_FAULTS: readonly Fault[] = [
  { kind: 'rate-limited', retryAfterSeconds: 1 },
  { kind: 'rate-limited', retryAfterSeconds: 2, as: 'http-date' },
  { kind: 'server-error', status: 500 },
  { kind: 'server-error', status: 502 },
  { kind: 'server-error', status: 503 },
  { kind: 'reset-mid-body' },
  { kind: 'truncated-json' },
  { kind: 'items-missing' },
  { kind: 'slow-headers', ms: 30 },
  { kind: 'drip-fed', chunkBytes: 256, intervalMs: 1 },
];

/** Data-page faults that change what the dataset is while it is being paged. */
const DATA_ONLY: ReadonlySet<FaultKind> = new Set([
  'row-inserted',
  'row-deleted',
  'headers-changed',
  'shuffled',
  'long-page',
  'empty-dataset',
]);

export function fits(fault: Fault, endpoint: EndpointKind): boolean {
  if (DATA_ONLY.has(fault.kind)) return DATA_ENDPOINTS.includes(endpoint);
  if (fault.kind === 'items-missing')
    return DATA_ENDPOINTS.includes(endpoint) || LIST_ENDPOINTS.includes(endpoint);
  return true;
}

export function createFaultPlan(rules: readonly FaultRule[], options: { seed?: number } = {}): FaultPlan {
  const seed = options.seed ?? 1;
  const states = rules.map((rule, index) => ({
    rule,
    random: seededRandom(hash4(seed, 0xfa17, index, 0)),
    matched: 0,
    seen: 0,
    strikes: 0,
  }));
  const fired: FiredFault[] = [];
  let active = true;

  const hook: FaultHook = (request) => {
    if (!active) return undefined;
    const facts = factsOf(request);
    let chosen: Fault | undefined;
    for (const state of states) {
      const { rule } = state;
      const armed = rule.after === undefined || state.seen >= rule.after.count;
      if (rule.after !== undefined && matches(rule.after.of ?? rule, facts)) state.seen++;
      if (!matches(rule, facts)) continue;
      state.matched++;
      // Drawn for every match, struck or not, so one rule's strikes never shift another's stream.
      const draw = state.random();
      const pick = state.random();
      const wanted =
        armed &&
        (rule.at === undefined || rule.at.includes(state.matched)) &&
        (rule.probability === undefined || draw < rule.probability) &&
        (rule.times === undefined || state.strikes < rule.times);
      if (!wanted || chosen !== undefined) continue;
      const candidates = (Array.isArray(rule.fault) ? rule.fault : [rule.fault as Fault]).filter((f) =>
        fits(f, request.endpoint),
      );
      const fault = candidates[Math.floor(pick * candidates.length)];
      if (fault === undefined) continue;
      state.strikes++;
      chosen = fault;
    }
    if (chosen === undefined) return undefined;
    fired.push({
      seq: request.seq,
      endpoint: request.endpoint,
      path: request.path,
      offset: facts.offset,
      limit: facts.limit,
      kind: chosen.kind,
    });
    return actionOf(chosen, request, facts.limit);
  };

  return {
    hook,
    fired,
    count: (kind) => (kind === undefined ? fired.length : fired.filter((f) => f.kind === kind).length),
    stop: () => {
      active = false;
    },
  };
}

interface RequestFacts {
  readonly endpoint: EndpointKind;
  readonly experimentId: string | undefined;
  readonly plotId: string | undefined;
  readonly offset: number | undefined;
  readonly limit: number | undefined;
}

function factsOf(request: FaultRequest): RequestFacts {
  const experiment = /^lab\/experiments\/([^/]+)\//.exec(request.path);
  const plot = /\/plots\/([^/]+)\//.exec(request.path);
  const integer = (name: string) => {
    const text = request.query.get(name);
    return text !== null && /^\d+$/.test(text) ? Number(text) : undefined;
  };
  return {
    endpoint: request.endpoint,
    experimentId: experiment?.[1] === undefined ? undefined : decodeURIComponent(experiment[1]),
    plotId: plot?.[1] === undefined ? undefined : decodeURIComponent(plot[1]),
    offset: integer('offset'),
    limit: integer('limit'),
  };
}

function matches(filter: RequestFilter, facts: RequestFacts): boolean {
  return (
    (filter.endpoints === undefined || filter.endpoints.includes(facts.endpoint)) &&
    (filter.experimentId === undefined || filter.experimentId === facts.experimentId) &&
    (facts.experimentId === undefined || !filter.exceptExperimentIds?.includes(facts.experimentId)) &&
    (filter.plotId === undefined || filter.plotId === facts.plotId) &&
    (filter.minOffset === undefined || (facts.offset ?? 0) >= filter.minOffset) &&
    (filter.maxOffset === undefined || (facts.offset ?? 0) <= filter.maxOffset) &&
    (filter.minLimit === undefined || (facts.limit ?? Number.POSITIVE_INFINITY) >= filter.minLimit)
  );
}

function actionOf(fault: Fault, request: FaultRequest, limit: number | undefined): FaultAction {
  const authorization = request.headers.authorization ?? '';
  switch (fault.kind) {
    case 'rate-limited': {
      const seconds = fault.retryAfterSeconds;
      const retryAfter =
        fault.as === 'http-date' ? new Date(Date.now() + seconds * 1000).toUTCString() : String(seconds);
      return {
        kind: 'status',
        status: 429,
        body: { detail: `Request was throttled. Expected available in ${seconds} seconds.` },
        headers: { 'Retry-After': retryAfter },
      };
    }
    case 'server-error':
      return {
        kind: 'status',
        status: fault.status,
        body: {
          detail: fault.echoAuthorization
            ? `upstream rejected header Authorization: ${authorization}`
            : 'A server error occurred.',
        },
      };
    case 'reset-mid-body':
      return { kind: 'reset', afterBodyBytes: 8 };
    case 'truncated-json':
      return { kind: 'truncate' };
    case 'slow-headers':
      return { kind: 'delay', ms: fault.ms };
    case 'drip-fed':
      return { kind: 'drip', chunkBytes: fault.chunkBytes, intervalMs: fault.intervalMs };
    case 'token-revoked':
      return {
        kind: 'status',
        status: 401,
        body: { detail: 'Invalid token.', code: 'authentication_failed' },
      };
    case 'invalid-object-id':
      return {
        kind: 'status',
        status: 400,
        body: {
          code: 'invalid_object_id',
          message: `Invalid id: ${request.path}`,
          ...(fault.details === undefined ? {} : { details: fault.details }),
        },
      };
    case 'refused':
      return {
        kind: 'status',
        status: fault.status,
        body: {
          detail: fault.echoAuthorization ? `${fault.detail} (${authorization})` : fault.detail,
          ...(fault.code === undefined ? {} : { code: fault.code }),
        },
      };
    case 'items-missing':
      return rewriteJson((body) => {
        const { items: _items, ...rest } = body;
        return rest;
      });
    case 'row-inserted':
      return rewriteJson((body) => ({
        ...body,
        count: Number(body.count) + 1,
        items: eachRowList(body, (rows) => [rows[0], ...rows].slice(0, limit ?? rows.length + 1)),
      }));
    case 'row-deleted':
      return rewriteJson((body) => ({
        ...body,
        count: Math.max(0, Number(body.count) - 1),
        items: eachRowList(body, (rows) => rows.slice(1)),
      }));
    case 'headers-changed':
      return rewriteJson(renameLastHeader);
    case 'shuffled':
      return rewriteJson((body) => ({ ...body, items: eachRowList(body, (rows) => [...rows].reverse()) }));
    case 'long-page':
      return rewriteJson((body) => ({
        ...body,
        items: eachRowList(body, (rows) => (rows.length === 0 ? rows : [...rows, rows[rows.length - 1]])),
      }));
    case 'empty-dataset':
      return rewriteJson((body) => ({ ...body, count: 0, items: [] }));
  }
}

type JsonObject = Record<string, unknown>;

/** Rewrites a JSON object body; big integers keep their digits. Non-object bodies pass unchanged. */
function rewriteJson(change: (body: JsonObject) => JsonObject): FaultAction {
  return {
    kind: 'rewrite',
    rewrite: (text) => {
      const body = parseJsonLossless(text);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return text;
      return jsonText(change(body as JsonObject));
    },
  };
}

/** Applies `change` to the row list of a data page: the row objects, or each column of a column-major page. */
function eachRowList(body: JsonObject, change: (rows: unknown[]) => unknown[]): unknown[] {
  const items = Array.isArray(body.items) ? body.items : [];
  const columnMajor = items.length > 0 && items.every(Array.isArray);
  return columnMajor ? items.map((column) => change(column as unknown[])) : change(items);
}

function renameLastHeader(body: JsonObject): JsonObject {
  const headers = Array.isArray(body.headers) ? (body.headers as string[]) : [];
  const last = headers[headers.length - 1];
  if (last === undefined) return body;
  const renamed = `${last} (renamed)`;
  const items = Array.isArray(body.items) ? body.items : [];
  const columnMajor = items.length > 0 && items.every(Array.isArray);
  return {
    ...body,
    headers: [...headers.slice(0, -1), renamed],
    items: columnMajor
      ? items
      : items.map((row) => {
          const { [last]: value, ...rest } = row as JsonObject;
          return { ...rest, [renamed]: value };
        }),
  };
}

/** JSON text that writes `LosslessNumber` as its digits, as the simulator does. */
function jsonText(value: unknown): string {
  if (value instanceof LosslessNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
