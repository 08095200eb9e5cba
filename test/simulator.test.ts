import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LosslessNumber } from '../functions/core/pluto/model.js';
import {
  ASSAY_SPECIALS,
  type RunningSimulator,
  SAMPLE_HEADERS,
  SIMULATOR_TOKEN,
  startSimulator,
} from '../functions/simulator/index.js';
import { JsonBytes } from '../functions/simulator/json-bytes.js';
import { DEFAULT_LIMIT, dataPageBytes } from '../functions/simulator/server.js';

const AUTH = { Authorization: `Token ${SIMULATOR_TOKEN}` };

async function get(sim: RunningSimulator, path: string, headers: Record<string, string> = AUTH) {
  const response = await fetch(new URL(path, sim.url), { headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('a default organisation', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({ seed: 7 });
  });
  afterAll(() => sim.close());

  it('has 6 experiments in 2 projects (one outside), one forbidden, realistic sizes', () => {
    const { truth } = sim;
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(truth.projects).toHaveLength(2);
    expect(truth.experiments).toHaveLength(6);
    expect(truth.experiments.map((e) => e.id).every((id) => /^PLX\d{6}$/.test(id))).toBe(true);
    expect(truth.experiments.at(-1)?.projectId).toBeNull();
    expect(truth.experiments.filter((e) => e.forbidden).map((e) => e.id)).toEqual(
      truth.forbiddenExperimentIds,
    );
    expect(truth.forbiddenExperimentIds).toHaveLength(1);
    expect(truth.exportable).toHaveLength(5);
    for (const e of truth.exportable) {
      expect(e.assay.rowCount).toBeGreaterThanOrEqual(20_000);
      expect(e.assay.rowCount).toBeLessThanOrEqual(30_000);
      expect(e.samples.rowCount).toBeGreaterThanOrEqual(6);
      expect(e.samples.rowCount).toBeLessThanOrEqual(48);
      expect(e.assay.headers.slice(1)).toEqual(
        Array.from({ length: e.samples.rowCount }, (_, i) => e.samples.cell(i, 0)),
      );
      expect(e.metadata.plot_count).toBe(e.plots.length);
    }
    expect(
      truth.exportable.some((e) => e.plots.some((p) => p.analysis_type === 'differential_binding')),
    ).toBe(true);
    expect(SIMULATOR_TOKEN).toMatch(/^[A-Za-z0-9]{40}$/);
  });

  it('serves the documented shapes with DRF errors', async () => {
    const { truth } = sim;
    const experiment = truth.exportable[0] ?? expect.unreachable();
    const list = await get(sim, 'lab/experiments/?limit=2&offset=1');
    expect(list).toEqual({
      status: 200,
      body: { count: 6, items: truth.experiments.slice(1, 3).map((e) => e.metadata) },
    });
    const samples = await get(sim, `lab/experiments/${experiment.id}/sample-data/`);
    expect(samples.body.headers).toEqual([...SAMPLE_HEADERS]);
    expect((samples.body.items as unknown[])[0]).toMatchObject({
      sample_id: experiment.samples.row(0)[0],
      'Cell Type': expect.any(String),
    });
    const plot = experiment.plots[0] ?? expect.unreachable();
    expect(plot.display?.display_type).toBe('volcano_plot_v2');
    const volcano = await get(sim, `lab/experiments/${experiment.id}/plots/${plot.uuid}/data/?limit=3`);
    expect(volcano.body.items).toEqual(
      [0, 1, 2, 3, 4].map((c) => [0, 1, 2].map((r) => experiment.results.get(plot.uuid)?.cell(r, c))),
    );
    expect((await get(sim, `lab/experiments/${experiment.id}/plots/${plot.uuid}/`)).body).toEqual(plot);

    expect(await get(sim, 'lab/experiments/', {})).toEqual({
      status: 401,
      body: { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' },
    });
    expect(await get(sim, 'lab/experiments/', { Authorization: `Token ${'x'.repeat(40)}` })).toEqual({
      status: 401,
      body: { detail: 'Invalid token.', code: 'authentication_failed' },
    });
    const forbidden = truth.forbiddenExperimentIds[0] ?? expect.unreachable();
    for (const suffix of ['', 'sample-data/', 'assay-data/', 'plots/', 'plots/x/', 'plots/x/data/']) {
      expect(await get(sim, `lab/experiments/${forbidden}/${suffix}`)).toEqual({
        status: 403,
        body: { detail: 'You do not have permission to perform this action.' },
      });
    }
    for (const [path, what, id] of [
      ['lab/experiments/PLX000000/', 'experiment', 'PLX000000'],
      ['lab/experiments/PLX000000/assay-data/', 'experiment', 'PLX000000'],
      [`lab/experiments/${experiment.id}/plots/x/`, 'plot', 'x'],
      [`lab/experiments/${experiment.id}/plots/x/data/`, 'plot', 'x'],
      ['lab/projects/PLP0/experiments/', 'project', 'PLP0'],
    ]) {
      expect(await get(sim, path as string)).toEqual({
        status: 400,
        body: { code: 'invalid_object_id', message: `Invalid ${what} id: ${id}` },
      });
    }
    expect(await get(sim, 'lab/nothing/')).toEqual({ status: 404, body: { detail: 'Not found.' } });
  });

  it('answers unknown ids with a plain 404 in the not_found variant', async () => {
    const variant = await startSimulator({ seed: 7, experiments: 2, genes: [5, 5], unknownIds: 'not_found' });
    try {
      for (const path of ['lab/experiments/PLX000000/', 'lab/projects/PLP0/experiments/']) {
        expect(await get(variant, path)).toEqual({ status: 404, body: { detail: 'Not found.' } });
      }
    } finally {
      await variant.close();
    }
  });

  it(`pages with limit/offset, ${DEFAULT_LIMIT} rows when no limit is given`, async () => {
    const experiment = sim.truth.exportable[1] ?? expect.unreachable();
    const whole = await get(sim, `lab/experiments/${experiment.id}/assay-data/`);
    expect(whole.body.count).toBe(experiment.assay.rowCount);
    expect(whole.body.items).toHaveLength(DEFAULT_LIMIT);
    const last = await get(
      sim,
      `lab/experiments/${experiment.id}/assay-data/?limit=7&offset=${experiment.assay.rowCount - 3}`,
    );
    expect((last.body.items as Record<string, unknown>[]).map((row) => row.gene_symbol)).toEqual(
      [3, 2, 1].map((back) => experiment.assay.cell(experiment.assay.rowCount - back, 0)),
    );
    const beyond = await get(
      sim,
      `lab/experiments/${experiment.id}/assay-data/?limit=7&offset=${experiment.assay.rowCount + 10}`,
    );
    expect(beyond.body).toEqual({
      count: experiment.assay.rowCount,
      headers: experiment.assay.headers,
      items: [],
    });
  });

  it('serves a full 10,000 × 25 page whose rows equal the truth', async () => {
    const wide = await startSimulator({
      seed: 3,
      experiments: 1,
      genes: [15_000, 15_000],
      samples: [24, 24],
    });
    try {
      const experiment = wide.truth.exportable[0] ?? expect.unreachable();
      expect(experiment.assay.headers).toHaveLength(25);
      const body = JSON.parse(new TextDecoder().decode(dataPageBytes(experiment.assay, 5000, 10_000))) as {
        count: number;
        items: Record<string, unknown>[];
      };
      expect(body.count).toBe(15_000);
      expect(body.items).toHaveLength(10_000);
      for (const row of [0, 4999, 9999]) {
        const expected = experiment.assay.row(5000 + row);
        expect(experiment.assay.headers.map((h) => body.items[row]?.[h])).toEqual(
          expected.map((cell) => (typeof cell === 'number' && !Number.isFinite(cell) ? null : cell)),
        );
      }
    } finally {
      await wide.close();
    }
  });
});

describe('determinism and mutation', () => {
  let a: RunningSimulator;
  let b: RunningSimulator;
  let c: RunningSimulator;
  const options = { experiments: 4, genes: [40, 60], samples: [4, 6] } as const;
  beforeAll(async () => {
    [a, b, c] = await Promise.all([
      startSimulator({ ...options, seed: 11 }),
      startSimulator({ ...options, seed: 11 }),
      startSimulator({ ...options, seed: 12 }),
    ]);
  });
  afterAll(() => Promise.all([a.close(), b.close(), c.close()]));

  const bytes = async (sim: RunningSimulator, path: string) =>
    Buffer.from(await (await fetch(new URL(path, sim.url), { headers: AUTH })).arrayBuffer()).toString(
      'base64',
    );

  it('serves the same bytes for the same seed, other bytes for another', async () => {
    const id = a.truth.exportable[0]?.id ?? expect.unreachable();
    expect(b.truth.exportable[0]?.id).toBe(id);
    for (const path of [
      'lab/projects/',
      'lab/experiments/',
      `lab/experiments/${id}/assay-data/`,
      `lab/experiments/${id}/sample-data/`,
    ]) {
      expect(await bytes(a, path)).toBe(await bytes(b, path));
    }
    expect(await bytes(a, 'lab/experiments/')).not.toBe(await bytes(c, 'lab/experiments/'));
  });

  it('holds every kind of awkward value the exporter must keep', () => {
    const experiment = a.truth.exportable[0] ?? expect.unreachable();
    expect([1, 2, 3, 4].map((row) => experiment.assay.cell(row, 1))).toEqual([...ASSAY_SPECIALS]);
    const samples = Array.from({ length: experiment.samples.rowCount }, (_, i) =>
      experiment.samples.row(i),
    ).flat();
    expect(samples).toContain('NA');
    expect(samples).toContain(null);
    expect(samples.some((v) => typeof v === 'number')).toBe(true);
    expect(samples.some((v) => v instanceof LosslessNumber)).toBe(true);
    expect(samples.filter((v) => typeof v === 'string' && /[^\x20-\x7e]/.test(v))).toHaveLength(1);
  });

  it('serves changes made through truth.setCell and truth.setPlotStatus', async () => {
    const experiment = a.truth.exportable[0] ?? expect.unreachable();
    const plot = experiment.plots[1] ?? expect.unreachable();
    a.truth.setCell(experiment.id, 'assay', 5, 2, 'changed');
    a.truth.setCell(experiment.id, plot.uuid, 0, 1, 1.25);
    a.truth.setPlotStatus(experiment.id, plot.uuid, 'archived');
    const page = await get(a, `lab/experiments/${experiment.id}/assay-data/?limit=1&offset=5`);
    expect((page.body.items as Record<string, unknown>[])[0]?.[experiment.assay.headers[2] ?? '']).toBe(
      'changed',
    );
    expect(experiment.assay.row(5)[2]).toBe('changed');
    const plotData = await get(a, `lab/experiments/${experiment.id}/plots/${plot.uuid}/data/?limit=1`);
    expect((plotData.body.items as Record<string, unknown>[])[0]?.PC1).toBe(1.25);
    expect((await get(a, `lab/experiments/${experiment.id}/plots/${plot.uuid}/`)).body.status).toBe(
      'archived',
    );
    expect(() => a.truth.setCell(experiment.id, 'assay', experiment.assay.rowCount, 0, 1)).toThrow(
      RangeError,
    );
  });

  it('counts requests by endpoint', async () => {
    const experiment = c.truth.exportable[0] ?? expect.unreachable();
    c.requests.reset();
    await get(c, 'lab/experiments/');
    await get(c, `lab/experiments/${experiment.id}/assay-data/?limit=1`);
    await get(c, `lab/experiments/${experiment.id}/assay-data/?limit=1&offset=1`);
    await get(c, 'lab/nothing/');
    expect(c.requests.total).toBe(4);
    expect(c.requests.byEndpoint).toEqual({ experiments: 1, 'assay-data': 2, other: 1 });
    expect(c.requests.recent.map((r) => r.status)).toEqual([200, 200, 200, 404]);
  });
});

describe('JSON bytes', () => {
  it('writes numbers exactly as String(number)', () => {
    const values = [
      0,
      -0,
      1,
      -1,
      7,
      2 ** 31 - 1,
      2 ** 31,
      -(2 ** 31),
      2 ** 53,
      1e21,
      1.5e-7,
      0.1,
      0.0001,
      0.00001,
      214_748.3647,
      12.3,
    ];
    let state = 1;
    for (let i = 0; i < 50_000; i++) {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      const x = (state / 2 ** 32 - 0.5) * 10 ** ((i % 14) - 4);
      values.push(x, Math.round(x * 10_000) / 10_000, Math.round(x * 1000) / 1000, Math.round(x));
    }
    const out = new JsonBytes();
    out.raw('[');
    values.forEach((v, i) => {
      if (i > 0) out.raw(',');
      out.number(v);
    });
    out.raw(']');
    expect(out.bytes().toString()).toBe(`[${values.map((v) => String(v)).join(',')}]`);
  });

  it('writes strings, LosslessNumber and nested values as JSON', () => {
    const out = new JsonBytes();
    const cells = [
      'Zoë "µ" \\ ✓',
      new LosslessNumber('12345678901234567891'),
      null,
      true,
      Number.NaN,
      { a: [1] },
    ];
    cells.forEach((cell, i) => {
      out.raw(i === 0 ? '[' : ',').value(cell);
    });
    expect(out.raw(']').bytes().toString()).toBe(
      '["Zoë \\"µ\\" \\\\ ✓",12345678901234567891,null,true,null,{"a":[1]}]',
    );
  });
});
