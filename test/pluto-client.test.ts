import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  PageDriftError,
  PlutoAuthError,
  PlutoBadRequestError,
  PlutoBadResponseError,
  PlutoForbiddenError,
  PlutoInactiveEndpointError,
  PlutoInvalidObjectError,
  PlutoNotFoundError,
  PlutoRateLimitedError,
  PlutoUpstreamError,
} from '../functions/core/errors.js';
import { createPlutoClient, type PlutoClientOptions } from '../functions/core/pluto/client.js';
import { type DataPage, type DatasetRef, LosslessNumber } from '../functions/core/pluto/model.js';
import type { RetryInfo } from '../functions/core/pluto/retry.js';
import {
  type DatasetTruth,
  type FaultHook,
  type RunningSimulator,
  SIMULATOR_TOKEN,
  startSimulator,
  UNICODE_NOTE,
} from '../functions/simulator/index.js';
import { fixedSecret } from './support/secrets.js';

const VERSION = '9.9.9-test';
const STALE_TOKEN = 'StaleToken0000000000000000000000000000AB';
const OTHER_TOKEN = 'OtherToken0000000000000000000000000000CD';

let sim: RunningSimulator;
let fault: FaultHook | undefined;
const errors: unknown[] = [];

beforeAll(async () => {
  sim = await startSimulator({
    seed: 2,
    experiments: 5,
    projects: 2,
    genes: [95, 130],
    samples: [5, 9],
    faults: (request) => fault?.(request),
  });
});
afterAll(() => sim.close());
afterEach(() => {
  fault = undefined;
  sim.requests.reset();
});

function harness(options: Partial<PlutoClientOptions> = {}) {
  const sleeps: number[] = [];
  const retries: RetryInfo[] = [];
  const client = createPlutoClient({
    baseUrl: sim.url,
    secrets: fixedSecret(SIMULATOR_TOKEN),
    version: VERSION,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    onRetry: (info) => retries.push(info),
    ...options,
  });
  return { client, sleeps, retries };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    errors.push(error);
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Pages through a dataset the way the exporter does and returns the rows, cells in header order. */
async function readAll(client: ReturnType<typeof harness>['client'], ref: DatasetRef, limit: number) {
  const pages: DataPage[] = [];
  for (let offset = 0; ; offset += limit) {
    const page = await client.getDataPage(ref, offset, limit);
    pages.push(page);
    if (offset + page.rowCount >= page.count) break;
  }
  const rows = pages.flatMap((page) =>
    Array.from({ length: page.rowCount }, (_, r) => page.columns.map((column) => column[r])),
  );
  return { pages, rows };
}

const truthRows = (dataset: DatasetTruth) =>
  Array.from({ length: dataset.rowCount }, (_, i) => dataset.row(i));
const exportable = () =>
  sim.truth.exportable[0] ?? expect.unreachable('the simulator has exportable experiments');

describe('lists', () => {
  it('pages lab/experiments/ by limit/offset until the count, last page partial', async () => {
    const { client } = harness({ pageSize: 2 });
    const experiments = await collect(client.listExperiments());
    expect(experiments.map((e) => e.pluto_id)).toEqual(sim.truth.experiments.map((e) => e.id));
    expect(experiments).toEqual(sim.truth.experiments.map((e) => e.metadata));
    expect(sim.requests.recent.map((r) => r.query)).toEqual([
      '?limit=2&offset=0',
      '?limit=2&offset=2',
      '?limit=2&offset=4',
    ]);
  });

  it('lists projects, each project’s experiments, and an experiment’s plots', async () => {
    const { client } = harness({ pageSize: 1 });
    const projects = await collect(client.listProjects());
    expect(projects.map((p) => p.pluto_id)).toEqual(sim.truth.projects.map((p) => p.id));
    for (const project of sim.truth.projects) {
      const listed = await collect(client.listProjectExperiments(project.id));
      const expected = sim.truth.experiments.filter((e) => e.projectId === project.id).map((e) => e.id);
      expect(expected.length).toBeGreaterThan(0);
      expect(listed.map((e) => e.pluto_id)).toEqual(expected);
    }
    const experiment = exportable();
    expect(await collect(client.listPlots(experiment.id))).toEqual(experiment.plots);
    expect(sim.requests.byEndpoint.plots).toBe(experiment.plots.length);
  });

  it('reads one experiment', async () => {
    const { client } = harness();
    const experiment = exportable();
    expect(await client.getExperiment(experiment.id)).toEqual(experiment.metadata);
  });

  it('fails with PageDriftError when the count changes between pages', async () => {
    const { client } = harness({ pageSize: 2 });
    fault = (request) =>
      request.endpoint === 'experiments' && request.query.get('offset') === '2'
        ? { kind: 'raw', body: JSON.stringify({ count: 9, items: [] }) }
        : undefined;
    const error = await failure(collect(client.listExperiments()));
    expect(error).toBeInstanceOf(PageDriftError);
    expect(error.message).toContain('changed from 5 to 9');
  });
});

describe('data pages', () => {
  it('pages the assay matrix (row objects) and returns exactly the served cells', async () => {
    const { client } = harness();
    const experiment = exportable();
    const { pages, rows } = await readAll(client, { kind: 'assay', experimentId: experiment.id }, 40);
    const count = experiment.assay.rowCount;
    expect(pages.map((p) => p.offset)).toEqual(
      Array.from({ length: Math.ceil(count / 40) }, (_, i) => i * 40),
    );
    expect(pages.at(-1)?.rowCount).toBe(count - 40 * (pages.length - 1));
    expect(pages.every((p) => p.layout === 'rows' && p.count === count)).toBe(true);
    expect(pages[0]?.headers).toEqual(experiment.assay.headers);
    expect(pages[0]?.headers[0]).toBe('gene_symbol');
    expect(rows).toEqual(truthRows(experiment.assay));
    const cells = rows.flat();
    for (const special of ['NA', 'NaN', 'Inf', null]) expect(cells).toContain(special);
  });

  it('pages a volcano_plot_v2 result (column-major) into the same normalized columns', async () => {
    const { client } = harness();
    const experiment = exportable();
    const plot = experiment.plots.find((p) => p.display?.display_type === 'volcano_plot_v2');
    const data = experiment.results.get(plot?.uuid ?? '');
    if (plot === undefined || data === undefined) return expect.unreachable('every experiment has a DE plot');
    const { pages, rows } = await readAll(
      client,
      { kind: 'results', experimentId: experiment.id, plotId: plot.uuid },
      50,
    );
    expect(pages.every((p) => p.layout === 'columns')).toBe(true);
    expect(pages[0]?.headers).toEqual([
      'Gene_Symbol',
      'Average_Expression',
      'Log2_Fold_Change',
      'P_Value',
      'Adj_P_Value',
    ]);
    expect(rows).toEqual(truthRows(data));
  });

  it('reads PCA and differential binding results (row objects) as served', async () => {
    const { client } = harness();
    const binding = sim.truth.exportable.find((e) =>
      e.plots.some((p) => p.analysis_type === 'differential_binding'),
    );
    if (binding === undefined) return expect.unreachable('seed 2 has an exportable ATAC-seq experiment');
    for (const plot of binding.plots.filter((p) => p.display?.display_type !== 'volcano_plot_v2')) {
      const data = binding.results.get(plot.uuid) as DatasetTruth;
      const { pages, rows } = await readAll(
        client,
        { kind: 'results', experimentId: binding.id, plotId: plot.uuid },
        1000,
      );
      expect(pages[0]?.layout).toBe('rows');
      expect(pages[0]?.headers[0]).toBe(
        plot.analysis_type === 'differential_binding' ? 'peak_id' : 'Sample_ID',
      );
      expect(rows).toEqual(truthRows(data));
    }
  });

  it('keeps integers beyond 2^53 exact, unicode text, NA and JSON null in sample data', async () => {
    const { client } = harness();
    const experiment = exportable();
    const page = await client.getDataPage({ kind: 'samples', experimentId: experiment.id }, 0, 100);
    expect(page.headers).toEqual(experiment.samples.headers);
    const rows = Array.from({ length: page.rowCount }, (_, r) => page.columns.map((c) => c[r]));
    expect(rows).toStrictEqual(truthRows(experiment.samples));
    const barcodes = page.columns[page.headers.indexOf('library_barcode')] ?? [];
    for (const barcode of barcodes) {
      expect(barcode).toBeInstanceOf(LosslessNumber);
      expect(BigInt((barcode as LosslessNumber).text)).toBeGreaterThan(2n ** 53n);
    }
    expect(page.columns[page.headers.indexOf('Notes')]?.[0]).toBe(UNICODE_NOTE);
    expect(page.columns[page.headers.indexOf('treatment.dose')]).toContain('NA');
  });

  it('returns an empty page at the end, with the count', async () => {
    const { client } = harness();
    const experiment = exportable();
    const page = await client.getDataPage(
      { kind: 'assay', experimentId: experiment.id },
      experiment.assay.rowCount,
      10,
    );
    expect(page).toMatchObject({
      count: experiment.assay.rowCount,
      rowCount: 0,
      offset: experiment.assay.rowCount,
    });
    expect(page.columns).toHaveLength(experiment.assay.headers.length);
  });

  it('rejects a page longer than the limit as drift, and malformed pages as bad responses', async () => {
    const { client } = harness({ retryBudgetMs: 0 });
    const ref: DatasetRef = { kind: 'assay', experimentId: exportable().id };
    const body = (value: unknown) => () => ({ kind: 'raw', body: JSON.stringify(value) }) as const;

    fault = body({
      count: 10,
      headers: ['gene_symbol', 'S1'],
      items: [{ gene_symbol: 'A' }, { gene_symbol: 'B' }, {}],
    });
    const drift = await failure(client.getDataPage(ref, 0, 2));
    expect(drift).toBeInstanceOf(PageDriftError);
    expect(drift.message).toContain('page longer than limit');

    fault = body({ count: 2, headers: ['a', 'b'], items: [{ a: 1 }, [1, 2]] });
    expect((await failure(client.getDataPage(ref, 0, 10))).message).toContain('mixes row objects');
    fault = body({ count: 2, headers: ['a', 'b'], items: [{ a: 1, c: 2 }] });
    expect((await failure(client.getDataPage(ref, 0, 10))).message).toContain(
      'key "c" that is not in headers',
    );
    fault = body({ count: 2, headers: ['a', 'b'], items: [[1, 2], [3]] });
    const unequal = await failure(client.getDataPage(ref, 0, 10));
    expect(unequal).toBeInstanceOf(PlutoBadResponseError);
    expect(unequal.message).toContain('column "b" has 1 cells');
  });
});

describe('errors', () => {
  it('refreshes the token once after a 401 and goes on with the new one', async () => {
    const secrets = fixedSecret(STALE_TOKEN, SIMULATOR_TOKEN);
    const { client } = harness({ secrets });
    const experiment = exportable();
    const [a, b] = await Promise.all([
      client.getExperiment(experiment.id),
      collect(client.listPlots(experiment.id)),
    ]);
    expect(a.pluto_id).toBe(experiment.id);
    expect(b).toHaveLength(experiment.plots.length);
    await client.getExperiment(experiment.id);
    expect(secrets.calls).toEqual({ get: 1, refresh: 1 });
    expect(sim.requests.recent.map((r) => r.status)).toEqual([401, 401, 200, 200, 200]);
  });

  it('throws PlutoAuthError when the refreshed token is refused too', async () => {
    const secrets = fixedSecret(STALE_TOKEN, OTHER_TOKEN);
    const { client, sleeps } = harness({ secrets });
    const error = await failure(client.getExperiment(exportable().id));
    expect(error).toBeInstanceOf(PlutoAuthError);
    expect(error).toMatchObject({ detail: 'Invalid token.', code: 'authentication_failed' });
    expect(error.message).toBe(
      `Pluto answered 401 for lab/experiments/${exportable().id}/: Invalid token. (authentication_failed)`,
    );
    expect(secrets.calls.refresh).toBe(1);
    expect(sim.requests.total).toBe(2);
    expect(sleeps).toEqual([]);
  });

  it('rejects a token that is not 40 letters and digits before any request', async () => {
    for (const bad of ['short', `${SIMULATOR_TOKEN.slice(0, 39)}-`, ` ${SIMULATOR_TOKEN}`]) {
      const { client } = harness({ secrets: fixedSecret(bad) });
      const error = await failure(client.getExperiment(exportable().id));
      expect(error).toBeInstanceOf(PlutoAuthError);
      expect(error.message).toBe('the Pluto API token is malformed (expected 40 letters and digits)');
    }
    expect(sim.requests.total).toBe(0);
  });

  it('answers 403 with Pluto’s detail on every endpoint of the forbidden experiment, without retrying', async () => {
    const { client, sleeps } = harness();
    const [id] = sim.truth.forbiddenExperimentIds;
    if (id === undefined) return expect.unreachable('one experiment is forbidden');
    const calls: Promise<unknown>[] = [
      client.getExperiment(id),
      collect(client.listPlots(id)),
      client.getDataPage({ kind: 'samples', experimentId: id }, 0, 10),
      client.getDataPage({ kind: 'assay', experimentId: id }, 0, 10),
      client.getDataPage({ kind: 'results', experimentId: id, plotId: 'any' }, 0, 10),
    ];
    for (const call of calls) {
      const error = await failure(call);
      expect(error).toBeInstanceOf(PlutoForbiddenError);
      expect(error).toMatchObject({ detail: 'You do not have permission to perform this action.' });
      expect(error.message).toMatch(
        new RegExp(
          `^Pluto answered 403 for lab/experiments/${id}/.*: You do not have permission to perform this action\\.$`,
        ),
      );
    }
    expect(sim.requests.total).toBe(5);
    expect(sleeps).toEqual([]);
  });

  it('reads a 400 invalid_object_id for an unknown experiment or plot as PlutoInvalidObjectError, never retried', async () => {
    const { client, retries } = harness();
    const missing = await failure(client.getExperiment('PLX000001'));
    expect(missing).toBeInstanceOf(PlutoInvalidObjectError);
    expect(missing).toMatchObject({
      retryable: false,
      code: 'invalid_object_id',
      detail: 'Invalid experiment id: PLX000001',
      message:
        'Pluto answered 400 for lab/experiments/PLX000001/: Invalid experiment id: PLX000001 (invalid_object_id)',
    });
    const plot = await failure(
      client.getDataPage({ kind: 'results', experimentId: exportable().id, plotId: 'nope' }, 0, 5),
    );
    expect(plot).toBeInstanceOf(PlutoInvalidObjectError);
    expect(sim.requests.total).toBe(2);
    expect(retries).toEqual([]);
  });

  it("keeps a 400's code, message and details, and does not retry any 400", async () => {
    const { client, retries } = harness();
    fault = () => ({
      kind: 'status',
      status: 400,
      body: {
        code: 'invalid_parameter',
        message: 'limit must be at most 100000',
        details: { limit: ['too big'] },
      },
    });
    const error = await failure(client.getDataPage({ kind: 'samples', experimentId: exportable().id }, 0, 5));
    expect(error).toBeInstanceOf(PlutoBadRequestError);
    expect(error).toMatchObject({
      name: 'PlutoBadRequestError',
      retryable: false,
      code: 'invalid_parameter',
      detail: 'limit must be at most 100000',
      details: '{"limit":["too big"]}',
    });
    expect(sim.requests.total).toBe(1);
    expect(retries).toEqual([]);
  });

  it('answers 404 for an unknown id in the not_found variant', async () => {
    const variant = await startSimulator({ seed: 2, experiments: 2, genes: [5, 5], unknownIds: 'not_found' });
    try {
      const { client } = harness({ baseUrl: variant.url });
      const missing = await failure(client.getExperiment('PLX000001'));
      expect(missing).toBeInstanceOf(PlutoNotFoundError);
      expect(missing.message).toBe('Pluto answered 404 for lab/experiments/PLX000001/: Not found.');
    } finally {
      await variant.close();
    }
  });

  it('answers 405 for an inactive endpoint', async () => {
    const { client } = harness();
    fault = (request) =>
      request.endpoint === 'sample-data'
        ? { kind: 'status', status: 405, body: { detail: 'This endpoint is no longer active.' } }
        : undefined;
    const error = await failure(client.getDataPage({ kind: 'samples', experimentId: exportable().id }, 0, 5));
    expect(error).toBeInstanceOf(PlutoInactiveEndpointError);
    expect(error).toMatchObject({ detail: 'This endpoint is no longer active.' });
    expect(sim.requests.total).toBe(1);
  });

  it('waits out a 429 Retry-After given in seconds', async () => {
    const { client, sleeps, retries } = harness();
    fault = () =>
      sim.requests.total === 0
        ? {
            kind: 'status',
            status: 429,
            headers: { 'Retry-After': '3' },
            body: { detail: 'Request was throttled. Expected available in 3 seconds.', code: 'throttled' },
          }
        : undefined;
    const experiment = exportable();
    expect((await client.getExperiment(experiment.id)).pluto_id).toBe(experiment.id);
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThanOrEqual(3000);
    expect(retries[0]?.error).toBeInstanceOf(PlutoRateLimitedError);
    expect(retries[0]?.error.message).toContain('Request was throttled');
  });

  it('waits out a 429 Retry-After given as an HTTP date', async () => {
    const { client, sleeps } = harness();
    const until = new Date(Date.now() + 8000).toUTCString();
    fault = () =>
      sim.requests.total === 0
        ? { kind: 'status', status: 429, headers: { 'Retry-After': until } }
        : undefined;
    await client.getExperiment(exportable().id);
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThan(6000);
    expect(sleeps[0]).toBeLessThanOrEqual(8000);
  });

  it('throws PlutoRateLimitedError at once when Retry-After exceeds the budget', async () => {
    const { client, sleeps } = harness({ retryBudgetMs: 60_000 });
    fault = () => ({
      kind: 'status',
      status: 429,
      headers: { 'Retry-After': '120' },
      body: { detail: 'Slow down.' },
    });
    const error = await failure(client.getExperiment(exportable().id));
    expect(error).toBeInstanceOf(PlutoRateLimitedError);
    expect(error).toMatchObject({ retryAfterMs: 120_000, detail: 'Slow down.' });
    expect(sleeps).toEqual([]);
    expect(sim.requests.total).toBe(1);
  });

  it('retries 5xx with full-jitter backoff and then succeeds', async () => {
    const { client, sleeps, retries } = harness();
    const experiment = exportable();
    fault = (request) =>
      request.endpoint === 'assay-data' && (sim.requests.byEndpoint['assay-data'] ?? 0) < 2
        ? { kind: 'status', status: 503, body: { detail: 'Service temporarily unavailable.' } }
        : undefined;
    const page = await client.getDataPage({ kind: 'assay', experimentId: experiment.id }, 10, 5);
    expect(page.columns.map((c) => c[0])).toEqual(experiment.assay.row(10));
    expect(sleeps).toEqual([125, 250]);
    expect(retries.map((r) => [r.attempt, r.error.name])).toEqual([
      [1, 'PlutoUpstreamError'],
      [2, 'PlutoUpstreamError'],
    ]);
    expect(sim.requests.recent.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('gives up on 5xx when the retry budget is spent', async () => {
    const { client, sleeps } = harness({ retryBudgetMs: 5000, random: () => 1 });
    fault = () => ({ kind: 'status', status: 500, body: { detail: 'A server error occurred.' } });
    const error = await failure(client.getExperiment(exportable().id));
    expect(error).toBeInstanceOf(PlutoUpstreamError);
    expect(error).toMatchObject({ detail: 'A server error occurred.' });
    expect(sleeps.slice(0, 4)).toEqual([250, 500, 1000, 2000]);
    const waited = sleeps.reduce((a, b) => a + b, 0);
    expect(waited).toBeLessThanOrEqual(5000);
    expect(waited).toBeGreaterThan(4500);
    expect(sim.requests.total).toBe(sleeps.length + 1);
  });

  it('retries a connection reset mid-body, and reports one when the budget is spent', async () => {
    const experiment = exportable();
    const ref: DatasetRef = { kind: 'assay', experimentId: experiment.id };
    fault = () => (sim.requests.total === 0 ? { kind: 'reset', afterBodyBytes: 200 } : undefined);
    const { client, sleeps } = harness();
    const page = await client.getDataPage(ref, 0, 20);
    expect(page.columns.map((c) => c[19])).toEqual(experiment.assay.row(19));
    expect(sleeps).toHaveLength(1);

    fault = () => ({ kind: 'reset', afterBodyBytes: 200 });
    const strict = harness({ retryBudgetMs: 0 });
    const midBody = await failure(strict.client.getDataPage(ref, 0, 20));
    expect(midBody).toBeInstanceOf(PlutoUpstreamError);
    expect(midBody.message).toContain('The connection to Pluto failed for lab/experiments/');
    fault = () => ({ kind: 'reset' });
    expect(await failure(strict.client.getDataPage(ref, 0, 20))).toBeInstanceOf(PlutoUpstreamError);
  });

  it('retries truncated JSON as a bad response', async () => {
    const experiment = exportable();
    fault = () => (sim.requests.total === 0 ? { kind: 'truncate' } : undefined);
    const { client, retries } = harness();
    expect((await client.getExperiment(experiment.id)).pluto_id).toBe(experiment.id);
    expect(retries.map((r) => r.error.name)).toEqual(['PlutoBadResponseError']);

    fault = () => ({ kind: 'truncate' });
    const error = await failure(harness({ retryBudgetMs: 0 }).client.getExperiment(experiment.id));
    expect(error).toBeInstanceOf(PlutoBadResponseError);
    expect(error.message).toContain(`Pluto sent invalid JSON for lab/experiments/${experiment.id}/`);
  });

  it('rejects a body of the wrong shape', async () => {
    const { client } = harness({ retryBudgetMs: 0 });
    fault = () => ({ kind: 'raw', body: JSON.stringify({ count: 1, items: [{ name: 'no pluto_id' }] }) });
    const error = await failure(collect(client.listExperiments()));
    expect(error).toBeInstanceOf(PlutoBadResponseError);
    expect(error.message).toMatch(
      /^Pluto sent an unexpected body for lab\/experiments\/\?limit=1000&offset=0 at pluto_id: /,
    );
    fault = () => ({ kind: 'raw', body: '[]' });
    expect(await failure(client.getExperiment('PLX1'))).toBeInstanceOf(PlutoBadResponseError);
  });

  it('times out a body that stalls, within requestTimeoutMs', async () => {
    const { client } = harness({ requestTimeoutMs: 300, retryBudgetMs: 0 });
    fault = () => ({ kind: 'stall', afterBodyBytes: 20, ms: 10_000 });
    const started = performance.now();
    const error = await failure(client.getExperiment(exportable().id));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(PlutoUpstreamError);
    expect(error.message).toBe(`Pluto did not answer lab/experiments/${exportable().id}/ within 300 ms`);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5000);
  });

  it('masks the token when a server echoes it back', async () => {
    const { client } = harness({ retryBudgetMs: 0 });
    fault = (request) => ({
      kind: 'status',
      status: 502,
      body: {
        detail: `upstream rejected header ${request.headers.authorization}`,
        code: request.headers.authorization,
      },
    });
    const error = await failure(client.getExperiment(exportable().id));
    expect(error).toBeInstanceOf(PlutoUpstreamError);
    expect(error.message).toContain('upstream rejected header Token [redacted]');
    expect(error).toMatchObject({
      detail: 'upstream rejected header Token [redacted]',
      code: 'Token [redacted]',
    });
  });
});

describe('identity and secrecy', () => {
  it('sends User-Agent pluto-export/<version> and the token only as Authorization', async () => {
    const { client } = harness();
    await client.getExperiment(exportable().id);
    await collect(client.listProjects());
    expect(sim.requests.recent.map((r) => r.userAgent)).toEqual([
      `pluto-export/${VERSION}`,
      `pluto-export/${VERSION}`,
    ]);
    expect(sim.requests.recent.every((r) => !r.query.includes(SIMULATOR_TOKEN))).toBe(true);
  });

  it('puts no token into any error it raised in this file', () => {
    expect(errors.length).toBeGreaterThanOrEqual(25);
    for (const error of errors) {
      const e = error as Error & { detail?: string; code?: string };
      const texts = [e.message, e.stack, e.detail, e.code, String(e.cause), JSON.stringify(e)];
      for (const token of [SIMULATOR_TOKEN, STALE_TOKEN, OTHER_TOKEN]) {
        for (const text of texts) expect(text ?? '').not.toContain(token);
      }
    }
  });
});
