/**
 * The real `PlutoApi`: HTTP over global `fetch`, token from a `SecretReader`, limit/offset
 * paging, bounded retries. The token goes into the Authorization header and nowhere else.
 */
import { z } from 'zod';
import {
  ConfigError,
  PlutoAuthError,
  PlutoBadRequestError,
  PlutoBadResponseError,
  type PlutoErrorBody,
  PlutoExportError,
  PlutoForbiddenError,
  PlutoInactiveEndpointError,
  PlutoInvalidObjectError,
  PlutoNoTableError,
  PlutoNotFoundError,
  PlutoRateLimitedError,
  PlutoUnreachableError,
  PlutoUnsafeResponseError,
  PlutoUpstreamError,
} from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import type { PlutoApi, PlutoRawReader, RawAnswer, SecretReader } from '../ports.js';
import { printable } from '../safe-text.js';
import { holdSecret, maskErrorSecrets } from '../secrets.js';
import { readCapped } from './capped-body.js';
import { isCountlessPage, toDataPage } from './data-page.js';
import { downloadSigned } from './file-download.js';
import {
  type FirstContactPolicy,
  type FirstContactSchedule,
  firstContactSchedule,
  isJsonContentType,
  isTlsMismatch,
  tlsMismatchError,
  withFirstContactRetry,
  wrongServerError,
} from './first-contact.js';
import { parseJsonLossless } from './json.js';
import {
  analysisSchema,
  type DataPage,
  type DatasetRef,
  experimentSchema,
  fileItemSchema,
  type PlutoAnalysis,
  type PlutoExperiment,
  type PlutoFile,
  type PlutoPlot,
  type PlutoProject,
  plotSchema,
  projectSchema,
  type ResultsRef,
} from './model.js';
import { listAll, listFileGroups, type Pager } from './paging.js';
import { type RetryInfo, withRetry } from './retry.js';
import {
  fetchSigned,
  isSignedUrlAnswer,
  mediaType,
  readSignedCsvHeaders,
  readSignedTable,
  type SignedUrlAnswer,
  signedTokenError,
} from './signed-url.js';
import { validate } from './validate.js';

export interface PlutoClientOptions {
  /** e.g. `https://api.pluto.bio/` or the simulator's URL; trailing slash optional. */
  baseUrl: string;
  /** Token read lazily; after a 401 `refresh()` is called once and the request retried. */
  secrets: SecretReader;
  /** Sent as `User-Agent: pluto-export/<version>`. */
  version: string;
  /** Page size of the list endpoints. */
  pageSize?: number;
  /** Per request, headers and body. */
  requestTimeoutMs?: number;
  /** Total time for the retries of one call. */
  retryBudgetMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (info: RetryInfo) => void;
  /** `ExportLimits.maxResponseBytes`; default `DEFAULT_LIMITS`'. */
  maxResponseBytes?: number;
  /** `ExportLimits.maxListPages`; default `DEFAULT_LIMITS`'. */
  maxListPages?: number;
  /**
   * `limit` of the one request that reads plot data whose pages have no `count`; an answer with
   * exactly this many rows may have been cut, and fails its dataset.
   */
  unpagedRowLimit?: number;
  /**
   * For a run started by hand: the first listing tells a server that is not Pluto's API at once
   * and gives up on an outage within this budget, instead of the usual retries.
   */
  firstContact?: FirstContactPolicy;
}

interface CallOptions {
  /** Set while no call has succeeded yet: the first contact's schedule and classification. */
  readonly firstContact?: FirstContactSchedule;
  /** A 404 here means the URL has no Pluto API behind it, not that a user-given id is unknown. */
  readonly rootListing?: boolean;
}

/** The data type of an experiment's QC report, in the inventory and from `qc-report/`. */
const QC_REPORT = 'qc_report';

/** How a resource that is absent (or not shown to this token) answers: a download, a QC report. */
const NO_DOWNLOAD = [
  PlutoNotFoundError,
  PlutoInvalidObjectError,
  PlutoForbiddenError,
  PlutoInactiveEndpointError,
  PlutoBadResponseError,
] as const;

export const DEFAULT_LIST_PAGE_SIZE = 1000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_RETRY_BUDGET_MS = 60_000;
/** Pluto's R client reads plot data in one request with this `limit` and never pages it. */
export const DEFAULT_UNPAGED_ROW_LIMIT = 100_000;
const BODY_BYTES_PER_REQUEST = 1024 * 1024;
const BODY_BYTES_PER_ROW = 64 * 1024;
const MAX_LOCATION_IN_MESSAGE = 200;

const TOKEN_FORMAT = /^[A-Za-z0-9]{40}$/;
const MAX_DETAIL_IN_MESSAGE = 500;
const MAX_DETAILS = 2000;
/** The `code` of Pluto's 400 for an id it does not know or will not show. */
export const INVALID_OBJECT_ID = 'invalid_object_id';

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Checks the token like Pluto's R client does; the message never repeats the token. */
export function validateToken(token: string): string {
  if (!TOKEN_FORMAT.test(token)) {
    throw new PlutoAuthError('the Pluto API token is malformed (expected 40 letters and digits)');
  }
  return token;
}

/** A valid token, held from now on so that every sink masks it. */
function heldToken(token: string): string {
  holdSecret(validateToken(token));
  return token;
}

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Why a Pluto API URL cannot be used, or undefined. Plain `http://` would send the token in clear,
 * so it is allowed only to this machine (the simulator, a local proxy).
 */
export function apiUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:' && LOOPBACK_HOSTS.test(parsed.hostname)) return undefined;
  return parsed.protocol === 'http:'
    ? `${parsed.origin} would receive the token in clear: use https:// (http:// is allowed only for localhost)`
    : `${parsed.protocol} is not supported: use https://`;
}

/** A configured Pluto API URL: a URL that `apiUrlProblem` accepts. */
export const apiUrlSchema = z.string().superRefine((url, context) => {
  const problem = apiUrlProblem(url);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});

/** Parses `Retry-After`: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export function createPlutoClient(options: PlutoClientOptions): PlutoApi & PlutoRawReader {
  return new PlutoHttpClient(options);
}

class PlutoHttpClient implements PlutoApi, PlutoRawReader {
  private readonly baseUrl: URL;
  private readonly pageSize: number;
  private readonly maxResponseBytes: number;
  private readonly maxListPages: number;
  private readonly unpagedRowLimit: number;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private token: Promise<string> | undefined;
  private contacted = false;
  private refreshing: { readonly stale: string; readonly pending: Promise<string> } | undefined;

  constructor(private readonly options: PlutoClientOptions) {
    const problem = apiUrlProblem(options.baseUrl);
    if (problem !== undefined) throw new ConfigError(`Pluto API URL: ${problem}`);
    this.baseUrl = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.pageSize = options.pageSize ?? DEFAULT_LIST_PAGE_SIZE;
    if (!Number.isSafeInteger(this.pageSize) || this.pageSize < 1) {
      throw new ConfigError(`Pluto page size must be a positive integer, got ${options.pageSize}`);
    }
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_LIMITS.maxResponseBytes;
    this.maxListPages = options.maxListPages ?? DEFAULT_LIMITS.maxListPages;
    this.unpagedRowLimit = options.unpagedRowLimit ?? DEFAULT_UNPAGED_ROW_LIMIT;
    this.userAgent = `pluto-export/${options.version}`;
  }

  listProjects(): AsyncIterable<PlutoProject> {
    return this.list('lab/projects/', projectSchema);
  }

  listProjectExperiments(projectId: string): AsyncIterable<PlutoExperiment> {
    return this.list(`lab/projects/${encodeURIComponent(projectId)}/experiments/`, experimentSchema);
  }

  listExperiments(): AsyncIterable<PlutoExperiment> {
    return this.list('lab/experiments/', experimentSchema);
  }

  listPlots(experimentId: string): AsyncIterable<PlutoPlot> {
    return this.list(`lab/experiments/${encodeURIComponent(experimentId)}/plots/`, plotSchema);
  }

  async getProject(projectId: string): Promise<PlutoProject> {
    const path = `lab/projects/${encodeURIComponent(projectId)}/`;
    return this.call(path, 1, JSON.parse, (json) => validate(projectSchema, json, path));
  }

  async getAnalysis(analysisId: string): Promise<PlutoAnalysis> {
    const path = `analyses/${encodeURIComponent(analysisId)}/`;
    return this.call(path, 1, JSON.parse, (json) => validate(analysisSchema, json, path));
  }

  /**
   * The answer is grouped by data type, `{<type>: {count, items}}`, as Pluto's R client reads it;
   * a group holding fewer items than its count is paged with `data_type`, `limit` and `offset`.
   */
  async listFiles(experimentId: string): Promise<PlutoFile[]> {
    return listFileGroups(
      this.pager(),
      `lab/experiments/${encodeURIComponent(experimentId)}/files/`,
      experimentId,
    );
  }

  async getQcReport(experimentId: string): Promise<PlutoFile | undefined> {
    const path = `lab/experiments/${encodeURIComponent(experimentId)}/qc-report/`;
    const answer = await this.call(path, 1, JSON.parse, (json) =>
      isSignedUrlAnswer(json) ? undefined : validate(fileItemSchema, json, path),
    ).catch((error: unknown) => {
      if (NO_DOWNLOAD.some((kind) => error instanceof kind)) return undefined;
      throw error;
    });
    return answer === undefined ? undefined : { dataType: QC_REPORT, item: answer };
  }

  async *downloadFile(
    experimentId: string,
    fileId: string,
    limits: { readonly maxBytes: number; readonly expectedBytes: number | null },
  ): AsyncGenerator<Uint8Array> {
    const path = `lab/experiments/${encodeURIComponent(experimentId)}/files/${encodeURIComponent(fileId)}/download/`;
    const answer = await this.call(path, 1, JSON.parse, (json) => {
      if (!isSignedUrlAnswer(json)) throw new PlutoBadResponseError(`Pluto sent no signed URL for ${path}`);
      return json;
    });
    yield* downloadSigned(answer.url, {
      what: `file ${fileId} of ${experimentId}`,
      userAgent: this.userAgent,
      timeoutMs: this.timeoutMs,
      ...limits,
    });
  }

  async getExperiment(experimentId: string): Promise<PlutoExperiment> {
    const path = `lab/experiments/${encodeURIComponent(experimentId)}/`;
    return this.call(path, 1, JSON.parse, (json) => validate(experimentSchema, json, path));
  }

  /** A results ref `from: 'download'` is the plot's download, read whole as one page. */
  async getDataPage(dataset: DatasetRef, offset: number, limit: number): Promise<DataPage> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(limit) || limit < 1) {
      throw new ConfigError(
        `a data page needs offset >= 0 and limit >= 1, got offset ${offset}, limit ${limit}`,
      );
    }
    if (dataset.kind === 'results' && dataset.from === 'download') {
      return this.resultsDownload(dataset, await this.downloadAnswer(dataset));
    }
    return this.dataEndpointPage(dataset, offset, limit);
  }

  async getDownloadHeaders(dataset: ResultsRef): Promise<readonly string[] | undefined> {
    const answer = await this.downloadAnswer(dataset).catch((error: unknown) => {
      if (NO_DOWNLOAD.some((kind) => error instanceof kind)) return undefined;
      throw error;
    });
    if (answer === undefined) return undefined;
    return readSignedCsvHeaders(answer.url, downloadPath(dataset), await this.signedOptions());
  }

  private async downloadAnswer(dataset: ResultsRef): Promise<SignedUrlAnswer> {
    const path = downloadPath(dataset);
    return this.call(path, 1, JSON.parse, (json) => {
      if (!isSignedUrlAnswer(json)) throw new PlutoBadResponseError(`Pluto sent no signed URL for ${path}`);
      return json;
    });
  }

  private async resultsDownload(dataset: ResultsRef, answer: SignedUrlAnswer): Promise<DataPage> {
    const path = downloadPath(dataset);
    const page = await readSignedTable(answer, path, await this.signedOptions());
    if (page.headers.length === 0) {
      throw new PlutoNoTableError(`The download of ${path} has no columns: the plot has no table`);
    }
    return page;
  }

  private async signedOptions() {
    const token = await this.currentToken();
    return { ...this.signedFetchOptions(), holdsSecret: (text: string) => text.includes(token) };
  }

  private async dataEndpointPage(dataset: DatasetRef, offset: number, limit: number): Promise<DataPage> {
    const path = `${dataPath(dataset)}?limit=${limit}&offset=${offset}`;
    const answer = await this.call(path, limit, parseJsonLossless, (json) =>
      isSignedUrlAnswer(json) || (dataset.kind === 'results' && isCountlessPage(json))
        ? json
        : toDataPage(json, offset, limit, path),
    );
    if (isSignedUrlAnswer(answer)) return readSignedTable(answer, path, await this.signedOptions());
    const page = isCountlessPage(answer) ? await this.unpagedPlotData(dataset) : (answer as DataPage);
    if (dataset.kind === 'results' && page.headers.length === 0) {
      throw new PlutoNoTableError(`The data of ${dataPath(dataset)} has no columns: the plot has no table`);
    }
    return page;
  }

  /**
   * Plot data whose pages carry no `count` cannot be planned in slots: it is read in one request,
   * as Pluto's R client reads it. An answer that fills the limit may have been cut, and is refused
   * here rather than retried: the same request would be cut the same way.
   */
  private async unpagedPlotData(dataset: DatasetRef): Promise<DataPage> {
    const limit = this.unpagedRowLimit;
    const path = `${dataPath(dataset)}?limit=${limit}&offset=0`;
    const page = await this.call(path, limit, parseJsonLossless, (json) =>
      toDataPage(json, 0, limit, path, true),
    );
    if (page.rowCount >= limit) {
      throw new PlutoBadResponseError(
        `Pluto sent plot data without a count for ${path}, and exactly the ${limit} rows asked for: the table may be cut, so it was not exported`,
      );
    }
    return page;
  }

  private list<S extends z.ZodType>(path: string, schema: S): AsyncIterable<z.output<S>> {
    return listAll(this.pager(), path, schema);
  }

  /** Pages asked as every call is; a listing may be the run's first contact with Pluto. */
  private pager(): Pager {
    return {
      pageSize: this.pageSize,
      maxListPages: this.maxListPages,
      page: (where, read) => this.call(where, this.pageSize, JSON.parse, read),
      listPage: (where, read, rootListing) => {
        const firstContact =
          this.contacted || this.options.firstContact === undefined
            ? undefined
            : firstContactSchedule(this.options.firstContact);
        return this.call(where, this.pageSize, JSON.parse, read, {
          ...(firstContact === undefined ? {} : { firstContact }),
          rootListing,
        });
      },
    };
  }

  /** One logical call: retried within the budget, and once more after a token refresh on 401. */
  private async call<T>(
    path: string,
    rows: number,
    parse: (text: string) => unknown,
    read: (json: unknown) => T,
    options: CallOptions = {},
  ): Promise<T> {
    const { firstContact } = options;
    const maxBytes = Math.min(this.maxResponseBytes, BODY_BYTES_PER_REQUEST + rows * BODY_BYTES_PER_ROW);
    const once = async (token: string, timeoutMs: number) => {
      try {
        return read(await this.fetchJson(path, token, parse, maxBytes, timeoutMs, options));
      } catch (error) {
        // A server that echoes the Authorization header (a proxy's error page, a debug body) must
        // not carry the token into an error.
        throw maskErrorSecrets(error);
      }
    };
    const sleep = this.options.sleep ?? defaultSleep;
    const attempt = (token: string) =>
      firstContact === undefined
        ? withRetry(() => once(token, this.timeoutMs), {
            budgetMs: this.options.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS,
            sleep,
            random: this.options.random ?? Math.random,
            onRetry: this.options.onRetry,
          })
        : withFirstContactRetry(
            (timeoutMs) => once(token, Math.min(timeoutMs, this.timeoutMs)),
            firstContact,
            path,
            { sleep, onRetry: this.options.onRetry },
          );
    const token = await this.currentToken();
    let result: T;
    try {
      result = await attempt(token);
    } catch (error) {
      if (!(error instanceof PlutoAuthError)) throw error;
      result = await attempt(await this.refreshedToken(token));
    }
    this.contacted = true;
    return result;
  }

  private currentToken(): Promise<string> {
    if (this.token === undefined) {
      const pending = this.options.secrets.getToken().then(heldToken);
      pending.catch(() => {
        if (this.token === pending) this.token = undefined;
      });
      this.token = pending;
    }
    return this.token;
  }

  /** Calls refused with the same stale token share one `refresh()`. */
  private refreshedToken(stale: string): Promise<string> {
    if (this.refreshing?.stale === stale) return this.refreshing.pending;
    const pending = this.options.secrets.refresh().then(heldToken);
    this.refreshing = { stale, pending };
    this.token = pending;
    pending.catch(() => {
      if (this.token === pending) this.token = undefined;
    });
    return pending;
  }

  private async fetchJson(
    path: string,
    token: string,
    parse: (text: string) => unknown,
    maxBytes: number,
    timeoutMs: number,
    { firstContact, rootListing }: CallOptions,
  ): Promise<unknown> {
    const { status, statusText, headers, text } = await this.send(path, token, maxBytes, timeoutMs, {
      ...(firstContact === undefined ? {} : { firstContact }),
    });
    if (firstContact !== undefined) {
      const contentType = headers.get('content-type');
      const answered = (status >= 200 && status < 300) || status === 404;
      if (answered && (!isJsonContentType(contentType) || (status === 404 && rootListing === true))) {
        throw wrongServerError(this.baseUrl, path, status, contentType, text);
      }
    }
    if (status >= 200 && status < 300) {
      let json: unknown;
      try {
        json = parse(text);
      } catch (cause) {
        throw new PlutoBadResponseError(
          `Pluto sent invalid JSON for ${path} (${text.length} characters): ${(cause as Error).message}`,
        );
      }
      if (holdsToken(text, json, token)) throw tokenInAnswer(path);
      return json;
    }
    throw httpError(status, statusText, path, text, headers);
  }

  /**
   * One answer as it came, for `probe`: 4xx statuses are returned, not thrown; a refused token,
   * 429 and 5xx are retried or thrown as in every other call.
   */
  async getRaw(path: string): Promise<RawAnswer> {
    const token = await this.currentToken();
    const maxBytes = Math.min(this.maxResponseBytes, BODY_BYTES_PER_REQUEST);
    return withRetry(
      async () => {
        try {
          const { status, statusText, headers, text } = await this.send(
            path,
            token,
            maxBytes,
            this.timeoutMs,
          );
          if (status === 401 || status === 429 || status >= 500) {
            throw httpError(status, statusText, path, text, headers);
          }
          const answer = rawAnswer(status, headers.get('content-type'), text);
          if (holdsToken(text, answer.json, token)) throw tokenInAnswer(path);
          return answer;
        } catch (error) {
          throw maskErrorSecrets(error);
        }
      },
      {
        budgetMs: this.options.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS,
        sleep: this.options.sleep ?? defaultSleep,
        random: this.options.random ?? Math.random,
        onRetry: this.options.onRetry,
      },
    );
  }

  /** A signed URL Pluto gave, fetched as the exporter fetches it: without the token. */
  getSignedRaw(url: string, where: string): Promise<RawAnswer> {
    return this.signedRaw(where, fetchSigned(url, where, this.signedFetchOptions()));
  }

  getSignedFirstLine(url: string, where: string): Promise<RawAnswer> {
    return this.signedRaw(where, fetchSigned(url, where, this.signedFetchOptions(), 'first line'));
  }

  private signedFetchOptions() {
    return { timeoutMs: this.timeoutMs, userAgent: this.userAgent, maxBytes: this.maxResponseBytes };
  }

  private async signedRaw(
    where: string,
    fetched: Promise<{ status: number; contentType: string; text: string }>,
  ): Promise<RawAnswer> {
    const { status, contentType, text } = await fetched;
    const token = await this.currentToken();
    const answer = rawAnswer(status, contentType, text);
    if (holdsToken(text, answer.json, token)) throw signedTokenError(where);
    return answer;
  }

  /** One request with the token, redirects refused, the body read up to `maxBytes`. */
  private async send(
    path: string,
    token: string,
    maxBytes: number,
    timeoutMs: number,
    { firstContact }: Pick<CallOptions, 'firstContact'> = {},
  ): Promise<{ status: number; statusText: string; headers: Headers; text: string }> {
    const url = new URL(path, this.baseUrl);
    try {
      const response = await fetch(url, {
        headers: {
          Authorization: `Token ${token}`,
          Accept: 'application/json',
          'User-Agent': this.userAgent,
        },
        signal: AbortSignal.timeout(timeoutMs),
        // A redirect to another origin would be answered without the token, and that answer taken as Pluto's.
        redirect: 'manual',
      });
      const { status, statusText, headers } = response;
      if (status >= 300 && status < 400) {
        await response.body?.cancel();
        const location = printable(headers.get('location') ?? '(no Location)');
        throw new PlutoUnsafeResponseError(
          `Pluto answered ${path} with a redirect (${status}) to ${clip(location, MAX_LOCATION_IN_MESSAGE)}; redirects are not followed: check the API URL`,
        );
      }
      const text = await readCapped(
        response,
        maxBytes,
        () =>
          new PlutoUnsafeResponseError(
            `Pluto's answer for ${path} is larger than ${maxBytes} bytes (setting maxResponseBytes); it was not read further`,
          ),
      );
      return { status, statusText, headers, text };
    } catch (cause) {
      if (cause instanceof PlutoExportError) throw cause;
      if (cause instanceof Error && cause.name === 'TimeoutError') {
        throw new PlutoUpstreamError(`Pluto did not answer ${path} within ${timeoutMs} ms`, { cause });
      }
      const reason = describeNetworkError(cause);
      if (firstContact !== undefined && isTlsMismatch(reason)) throw tlsMismatchError(this.baseUrl, cause);
      if (UNREACHABLE.some((pattern) => reason.includes(pattern))) {
        throw new PlutoUnreachableError(
          `Cannot reach Pluto at ${this.baseUrl} (${reason.replace(/^.*: /, '')}): check the API URL and the network`,
          { cause },
        );
      }
      throw new PlutoUpstreamError(`The connection to Pluto failed for ${path}: ${reason}`, { cause });
    }
  }
}

function tokenInAnswer(path: string): PlutoUnsafeResponseError {
  return new PlutoUnsafeResponseError(
    `Pluto's answer for ${path} contains the API token; it was refused and nothing of it was kept`,
  );
}

function rawAnswer(status: number, contentType: string | null, text: string): RawAnswer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, contentType: mediaType(contentType), json, text };
}

/** The token as sent, or spelled with JSON `\u` escapes that parsing turns back into it. */
function holdsToken(text: string, json: unknown, token: string): boolean {
  return text.includes(token) || (text.includes('\\u') && JSON.stringify(json).includes(token));
}

function dataPath(dataset: DatasetRef): string {
  const experiment = `lab/experiments/${encodeURIComponent(dataset.experimentId)}/`;
  switch (dataset.kind) {
    case 'samples':
      return `${experiment}sample-data/`;
    case 'assay':
      return `${experiment}assay-data/`;
    case 'results':
      return `${experiment}plots/${encodeURIComponent(dataset.plotId)}/data/`;
  }
}

/** Where Pluto's R client downloads a plot's complete results as CSV (it answers `{url}`). */
function downloadPath(dataset: ResultsRef): string {
  return `lab/experiments/${encodeURIComponent(dataset.experimentId)}/plots/${encodeURIComponent(dataset.plotId)}/download/`;
}

/**
 * Nothing listens there, the host does not resolve, or fetch refuses the port: retrying for
 * minutes would only hide a wrong URL.
 */
const UNREACHABLE = ['(ECONNREFUSED)', '(ENOTFOUND)', 'bad port'] as const;

function describeNetworkError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${e.message} (${code})` : e.message);
  }
  return parts.join(': ') || String(error);
}

/** Pluto's error body: DRF's `{detail}`, or `{code, message, details}` as Pluto's Python SDK reads it. */
function errorBody(text: string): PlutoErrorBody {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null) return {};
  const { detail, message, code, details } = body as Record<string, unknown>;
  const out: { detail?: string; code?: string; details?: string } = {};
  if (typeof detail === 'string') out.detail = detail;
  else if (typeof message === 'string') out.detail = message;
  if (typeof code === 'string') out.code = code;
  if (details !== undefined && details !== null) out.details = clip(JSON.stringify(details), MAX_DETAILS);
  return out;
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

function httpError(
  status: number,
  statusText: string,
  path: string,
  text: string,
  headers: Headers,
): PlutoExportError {
  const options = errorBody(text);
  const { detail, code } = options;
  const shown = clip(printable(detail ?? (statusText || 'no detail')), MAX_DETAIL_IN_MESSAGE);
  const message = `Pluto answered ${status} for ${path}: ${shown}${code === undefined ? '' : ` (${code})`}`;
  switch (status) {
    case 400:
      return code === INVALID_OBJECT_ID
        ? new PlutoInvalidObjectError(message, options)
        : new PlutoBadRequestError(message, options);
    case 401:
      return new PlutoAuthError(message, options);
    case 403:
      return new PlutoForbiddenError(message, options);
    case 404:
    case 410:
      return new PlutoNotFoundError(message, options);
    case 405:
      return new PlutoInactiveEndpointError(message, options);
    case 429:
      return new PlutoRateLimitedError(message, {
        ...options,
        retryAfterMs: parseRetryAfter(headers.get('retry-after')),
      });
    default:
      // 5xx, and any other status Pluto is not known to send: an upstream fault, retried.
      return new PlutoUpstreamError(message, options);
  }
}
