/**
 * pluto-export against a hostile stand-in for Pluto: ids with separators, lying counts, a gzip
 * bomb, an echoed token, redirects, replayed pages, bodies that never parse, escape sequences, and
 * SQL that tries to leave the lake. Every case runs the real command line against a real HTTP
 * server on 127.0.0.1 and checks the exit code, the one line a user reads, that nothing was
 * written outside the lake, that the token is nowhere, that the lease was released (the next run
 * against the normal simulator commits at once), and that the other experiments hold exactly the
 * rows of a clean export.
 */

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TABLE_NAMES, type TableName } from '../functions/core/contract.js';
import { ConfigError } from '../functions/core/errors.js';
import { LEASE_KEY, manifestKey, reportKey } from '../functions/core/layout.js';
import { type Manifest, manifestSchema } from '../functions/core/records.js';
import { parseEnvironment } from '../functions/handlers/runtime.js';
import { openLake } from '../functions/local/lake-location.js';
import { type RunningHostile, startHostileSimulator } from '../functions/simulator/hostile.js';
import type { Fault, FaultRule } from '../functions/simulator/index.js';
import { type CliResult, runCli } from './support/cli.js';
import {
  exportWith,
  type FolderLake,
  lakeDigest,
  lakeRegistry,
  SMALL_ORGANISATION,
  type TableDigest,
} from './support/fault-harness.js';
import { readFiles } from './support/lake-files.js';

const TOKEN = 'HstL3Token0000000000000000000000000000xY';
const RUN_ID = 'hostile';
/** Tables whose rows come from the datasets; `experiments`, `plots` and `export_log` also hold the run's view. */
const DATA_TABLES: readonly TableName[] = ['samples', 'assay', 'results', 'differential_expression'];

/**
 * Every case runs the command line in a child process and then a second export: about 10 s on an
 * idle machine, over a minute with the load of several test runs on two cores. The time limit is
 * there to end a case that hangs, not to measure one.
 */
const END_TO_END = { timeout: 300_000 } as const;
const HOSTILE = { seed: 12, ...SMALL_ORGANISATION, experiments: 6, token: TOKEN } as const;

let hostile: RunningHostile;
let clean: FolderLake;
let exportable: string[];
/** By experiment: the clean export's tables, which every case compares its untouched experiments with. */
const cleanDigests = new Map<string, Partial<Record<TableName, TableDigest>>>();
const work: string[] = [];
const { lake: newLake, removeAll } = lakeRegistry();

beforeAll(async () => {
  const server = await startHostileSimulator(HOSTILE);
  try {
    exportable = server.truth.exportable.map((e) => e.id).sort();
    expect(exportable.length).toBeGreaterThanOrEqual(5);
    clean = await newLake('hostile-clean');
    expect((await exportWith({ simulator: server, ...clean, runId: 'clean' })).status).toBe('committed');
  } finally {
    await server.close();
  }
  for (const id of exportable) cleanDigests.set(id, await digestOf(clean.root, id));
}, END_TO_END.timeout);

/**
 * Each case has a server of its own (the same seed serves the same organisation), so a case that
 * overran its time cannot send its requests into the next case's request log or fault plan.
 */
beforeEach(async () => {
  hostile = await startHostileSimulator(HOSTILE);
});
afterEach(async () => {
  await hostile.close();
});

afterAll(async () => {
  await removeAll();
  for (const dir of work) await rm(dir, { recursive: true, force: true });
});

interface Outcome {
  readonly cli: CliResult;
  /** The folder the command ran in; the lake is its only entry. */
  readonly dir: string;
  readonly lake: string;
}

async function exportAgainst(
  rules: readonly FaultRule[],
  extraArgs: readonly string[] = [],
): Promise<Outcome> {
  hostile.use(rules);
  const dir = await mkdtemp(join(tmpdir(), 'pluto-hostile-'));
  work.push(dir);
  const lake = join(dir, 'lake');
  const cli = await runCli(
    ['export', '--api-url', hostile.url, '--out', lake, '--run-id', RUN_ID, ...extraArgs],
    { PLUTO_API_TOKEN: TOKEN },
  );
  expect(hostile.exhausted).toBe(false);
  return { cli, dir, lake };
}

/** ESC and CR, which would let Pluto's text drive a terminal. */
const controlCharacters = (text: string) => [...text].filter((c) => c === '\u001b' || c === '\r');

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

/** What a user reads on stderr when the command fails: exactly one line. */
function failureLine(cli: CliResult): string {
  const errors = lines(cli.stderr).filter((line) => line.startsWith('pluto-export: '));
  expect(errors).toHaveLength(1);
  return errors[0] as string;
}

async function manifestOf(lake: string): Promise<Manifest> {
  return manifestSchema.parse(JSON.parse(await readFile(join(lake, manifestKey(RUN_ID)), 'utf8')));
}

/**
 * The error is recorded where it struck: on the experiment when it failed whole, or on the one
 * dataset that failed, the experiment then being `partial` with the rest committed.
 */
async function expectFailed(lake: string, experimentId: string, name: string, message: string) {
  const record = recordOf(await manifestOf(lake), experimentId);
  if (record.status === 'failed') {
    expect(record).toMatchObject({ error: { name, message } });
    return;
  }
  expect(record.status).toBe('partial');
  expect(record.datasets.filter((dataset) => dataset.status === 'failed').map((d) => d.error)).toContainEqual(
    expect.objectContaining({ name, message }),
  );
}

/** The error of the one dataset that failed in a `partial` experiment. */
function failedDatasetError(record: Manifest['experiments'][number]) {
  expect(record.status).toBe('partial');
  const failed = record.datasets.filter((dataset) => dataset.status === 'failed');
  expect(failed).toHaveLength(1);
  return failed[0]?.error;
}

function recordOf(manifest: Manifest, experimentId: string) {
  const record = manifest.experiments.find((r) => r.experimentId === experimentId);
  expect(record, experimentId).toBeDefined();
  return record as Manifest['experiments'][number];
}

/** Every case: contained, no token, lease released, the untouched experiments exact, the next run unblocked. */
async function expectSafe(outcome: Outcome, touched: readonly string[]): Promise<void> {
  const { cli, dir, lake } = outcome;
  const entries = await readdir(dir);
  expect(entries.filter((entry) => entry !== 'lake')).toEqual([]);

  expect(cli.stdout).not.toContain(TOKEN);
  expect(cli.stderr).not.toContain(TOKEN);
  expect(controlCharacters(`${cli.stdout}${cli.stderr}`)).toEqual([]);
  if (!entries.includes('lake')) return;

  const files = await readFiles(lake);
  for (const [path, body] of files) {
    expect(body.includes(TOKEN), path).toBe(false);
    // data/<table>/<key>=<value>/run_id=<run>/part-….parquet, runs/<run>/…, _catalog/<table>/<value>.json
    expect(path, path).toMatch(
      /^(data\/[a-z_]+\/[a-z_]+=[A-Za-z0-9_.:-]+\/(run_id=[A-Za-z0-9_.:-]+\/)?[^/]+\.parquet|runs\/.+|_catalog\/[a-z_]+\/[^/]+\.json)$/,
    );
  }
  expect(files.has(LEASE_KEY)).toBe(false);

  for (const experimentId of exportable.filter((id) => !touched.includes(id))) {
    expect(await digestOf(lake, experimentId), experimentId).toEqual(cleanDigests.get(experimentId));
  }

  // The hostile run left nothing that keeps the next run out: the normal simulator commits at once.
  hostile.use([]);
  const next = await openLake(lake);
  const after = await exportWith({ simulator: hostile, ...next, runId: 'after-hostile' });
  expect(after.status).toBe('committed');
  expect(after.experiments.failed).toBe(0);
}

async function digestOf(
  root: string,
  experimentId: string,
): Promise<Partial<Record<TableName, TableDigest>>> {
  const digest = await lakeDigest(root, { experimentId });
  return Object.fromEntries(
    TABLE_NAMES.filter((table) => table !== 'export_log').map((table) => [table, digest[table]]),
  );
}

/** An export whose one-row assay probe of `target` meets `fault`; the run itself still commits. */
async function strikeAssayProbe(target: string, fault: Fault): Promise<{ outcome: Outcome; path: string }> {
  const outcome = await exportAgainst([{ fault, endpoints: ['assay-data'], experimentId: target }]);
  expect(outcome.cli.code).toBe(0);
  return { outcome, path: experimentPath(target, 'assay-data/?limit=1&offset=0') };
}

const requestsTo = (path: string) => hostile.requests.recent.filter((r) => `${r.path}${r.query}` === path);
const experimentPath = (id: string, rest = '') => `lab/experiments/${id}/${rest}`;

describe('hostile ids', END_TO_END, () => {
  it('records each unusable experiment id as failed with one readable line, and commits the rest', async () => {
    const bad = ['has space', 'a/b', 'x=y', 'nul\u0000id', 'line\nbreak', 'x'.repeat(10_000), '..'];
    const outcome = await exportAgainst([
      {
        fault: { kind: 'extra-items', items: bad.map((id) => ({ pluto_id: id })) },
        endpoints: ['experiments'],
      },
    ]);
    expect(outcome.cli.code).toBe(0);
    const manifest = await manifestOf(outcome.lake);
    const invalid = manifest.experiments.filter((r) => r.error?.name === 'InvalidIdError');
    expect(invalid.map((r) => r.status)).toEqual(bad.map(() => 'failed'));
    expect(invalid.map((r) => r.experimentId).sort()).toEqual(
      [
        '"has space"',
        '"a/b"',
        '"x=y"',
        '"nul\\u0000id"',
        '"line\\nbreak"',
        `"${'x'.repeat(40)}…" (10000 characters)`,
        '".."',
      ].sort(),
    );
    expect(recordOf(manifest, '"a/b"').error?.message).toBe(
      'Pluto listed an experiment with the id "a/b", which is not 1-128 letters, digits, _ . : - (not only dots); it was not exported',
    );
    expect(manifest.counts.failed).toBe(bad.length);
    expect(manifest.counts.exported).toBe(exportable.length);
    const table = lines(outcome.cli.stdout);
    expect(
      table.filter((line) => line.includes('InvalidIdError') || line.includes('which is not')),
    ).toHaveLength(bad.length);
    for (const request of hostile.requests.recent) {
      expect(request.path).not.toMatch(/has%20space|a%2Fb|x%3Dy|%00|%0A|xxxxxxxx|experiments\/\.\.\//);
    }
    await expectSafe(outcome, []);
  });

  it('fails plots with unusable ids on their own and exports the rest of their experiment', async () => {
    const [target] = exportable as [string];
    const bad = ['a/b', '..', '.', 'esc\u001b[2J'];
    const outcome = await exportAgainst([
      {
        fault: { kind: 'extra-items', items: bad.map((uuid) => ({ uuid, analysis_type: 'volcano' })) },
        endpoints: ['plots'],
        experimentId: target,
      },
    ]);
    expect(outcome.cli.code).toBe(0);
    const record = recordOf(await manifestOf(outcome.lake), target);
    expect(record.status).toBe('partial');
    const failed = record.datasets.filter((d) => d.status === 'failed');
    expect(failed.map((d) => d.error?.name)).toEqual(bad.map(() => 'InvalidIdError'));
    for (const dataset of failed) expect(dataset.dataset).toMatch(/^plot-unsafe-[0-9a-f]{16}$/);
    expect(failed.map((d) => d.error?.message).sort()).toEqual(
      ['"a/b"', '".."', '"."', '"esc\\u001b[2J"']
        .map(
          (id) =>
            `Pluto listed a plot with the id ${id}, which is not 1-128 letters, digits, _ . : - (not only dots); its data was not exported`,
        )
        .sort(),
    );
    expect(
      hostile.requests.recent.filter(
        (r) => r.endpoint === 'plot-data' && !/plots\/[0-9a-f-]{36}\//.test(r.path),
      ),
    ).toEqual([]);
    const digest = await digestOf(outcome.lake, target);
    const expected = await digestOf(clean.root, target);
    for (const table of DATA_TABLES) expect(digest[table], table).toEqual(expected[table]);
    await expectSafe(outcome, [target]);
  });
});

describe('unbounded answers', END_TO_END, () => {
  it('stops a gzip bomb at the byte cap of a one-row request and fails only its experiment', async () => {
    const [target] = exportable as [string];
    const { outcome, path } = await strikeAssayProbe(target, {
      kind: 'gzip-bomb',
      expandsToBytes: 256 * 1024 * 1024,
    });
    await expectFailed(
      outcome.lake,
      target,
      'PlutoUnsafeResponseError',
      `Pluto's answer for ${path} is larger than 1114112 bytes (setting maxResponseBytes); it was not read further`,
    );
    expect(requestsTo(path)).toHaveLength(1);
    await expectSafe(outcome, [target]);
  });

  it('fails experiments whose counts lie beyond the row ceiling without planning their slots', async () => {
    const [first, second] = exportable as [string, string];
    const outcome = await exportAgainst([
      { fault: { kind: 'count', count: 1e12 }, endpoints: ['assay-data'], experimentId: first },
      {
        fault: { kind: 'count', count: Number.MAX_SAFE_INTEGER },
        endpoints: ['sample-data'],
        experimentId: second,
      },
    ]);
    expect(outcome.cli.code).toBe(0);
    await expectFailed(
      outcome.lake,
      first,
      'LimitExceededError',
      `${first} assay: Pluto's row count: 1000000000000 is more than the limit of 50000000 (setting maxRowsPerDataset)`,
    );
    await expectFailed(
      outcome.lake,
      second,
      'LimitExceededError',
      `${second} samples: Pluto's row count: 9007199254740991 is more than the limit of 50000000 (setting maxRowsPerDataset)`,
    );
    expect(requestsTo(experimentPath(first, 'assay-data/?limit=1&offset=0'))).toHaveLength(1);
    expect(
      hostile.requests.recent.filter((r) => r.path === experimentPath(first, 'assay-data/')),
    ).toHaveLength(1);
    await expectSafe(outcome, [first, second]);
  });

  it('fails an experiment that needs more slots than its ceiling', async () => {
    const [target] = exportable as [string];
    const outcome = await exportAgainst([], ['--rows-per-part', '300', '--max-slots-per-experiment', '3']);
    expect(outcome.cli.code).toBe(0);
    const manifest = await manifestOf(outcome.lake);
    const over = manifest.experiments.filter((r) => r.error?.name === 'LimitExceededError');
    expect(over.length).toBeGreaterThan(0);
    expect(recordOf(manifest, target).error?.message ?? '').toMatch(
      new RegExp(
        `^${target}: the slots its datasets need: \\d+ is more than the limit of 3 \\(setting maxSlotsPerExperiment\\)$`,
      ),
    );
    await expectSafe(
      outcome,
      over.map((r) => r.experimentId),
    );
  });

  it('ends a listing that never ends at the page ceiling, before taking the lease', async () => {
    const outcome = await exportAgainst(
      [{ fault: { kind: 'endless-list' }, endpoints: ['experiments'] }],
      ['--max-list-pages', '3'],
    );
    expect(outcome.cli.code).toBe(1);
    expect(failureLine(outcome.cli)).toBe(
      'pluto-export: the run failed with LimitExceededError: the pages of lab/experiments/: 4 is more than the limit of 3 (setting maxListPages)',
    );
    expect(hostile.requests.recent.filter((r) => r.endpoint === 'experiments')).toHaveLength(3);
    await expectSafe(outcome, exportable);
  });

  it('takes a list page with more items than asked for as a bad response, retried once', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ pluto_id: `PLXMANY${i}` }));
    const outcome = await exportAgainst([
      { fault: { kind: 'extra-items', items: many }, endpoints: ['experiments'] },
    ]);
    expect(outcome.cli.code).toBe(1);
    const count = exportable.length + hostile.truth.forbiddenExperimentIds.length + many.length;
    expect(failureLine(outcome.cli)).toBe(
      `pluto-export: the run failed with PlutoBadResponseError: Pluto sent ${count} items for lab/experiments/?limit=1000&offset=0 with a count of ${count}: more than asked for`,
    );
    expect(requestsTo('lab/experiments/?limit=1000&offset=0')).toHaveLength(2);
    await expectSafe(outcome, exportable);
  });
});

describe('answers that must not be used', END_TO_END, () => {
  it('refuses a 200 body holding the token, naming no value, and keeps the token out of the lake', async () => {
    const [first, second, third] = exportable as [string, string, string];
    const outcome = await exportAgainst([
      { fault: { kind: 'echo-token', at: 'header' }, endpoints: ['assay-data'], experimentId: first },
      { fault: { kind: 'echo-token', at: 'field' }, endpoints: ['experiment'], experimentId: second },
      {
        fault: { kind: 'echo-token', at: 'cell' },
        endpoints: ['sample-data'],
        experimentId: third,
        minLimit: 2,
      },
    ]);
    expect(outcome.cli.code).toBe(0);
    const paths = [
      [first, experimentPath(first, 'assay-data/?limit=1&offset=0')],
      [second, experimentPath(second)],
      [
        third,
        experimentPath(
          third,
          `sample-data/?limit=${hostile.truth.experiment(third).samples.rowCount}&offset=0`,
        ),
      ],
    ] as const;
    for (const [id, path] of paths) {
      await expectFailed(
        outcome.lake,
        id,
        'PlutoUnsafeResponseError',
        `Pluto's answer for ${path} contains the API token; it was refused and nothing of it was kept`,
      );
      expect(requestsTo(path)).toHaveLength(1);
    }
    await expectSafe(outcome, [first, second, third]);
  });

  it('does not follow a redirect to another origin: the experiment fails naming the target', async () => {
    let decoyRequests = 0;
    const decoy: Server = createServer((_req, res) => {
      decoyRequests++;
      res.end('{"count":0,"headers":[],"items":[]}');
    });
    await new Promise<void>((resolve) => decoy.listen(0, '127.0.0.1', resolve));
    const target = exportable[0] as string;
    const location = `http://127.0.0.1:${(decoy.address() as AddressInfo).port}/elsewhere/`;
    try {
      const { outcome, path } = await strikeAssayProbe(target, { kind: 'redirect', status: 302, location });
      await expectFailed(
        outcome.lake,
        target,
        'PlutoUnsafeResponseError',
        `Pluto answered ${path} with a redirect (302) to ${location}; redirects are not followed: check the API URL`,
      );
      expect(decoyRequests).toBe(0);
      expect(requestsTo(path)).toHaveLength(1);
      await expectSafe(outcome, [target]);
    } finally {
      decoy.closeAllConnections();
      await new Promise((resolve) => decoy.close(resolve));
    }
  });

  it('refuses plain http to any host but this machine, in the CLI and in the Lambda configuration', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pluto-hostile-'));
    work.push(dir);
    hostile.use([]);
    const cli = await runCli(
      ['export', '--api-url', 'http://pluto.example.com/', '--out', join(dir, 'lake')],
      {
        PLUTO_API_TOKEN: TOKEN,
      },
    );
    expect(cli.code).toBe(2);
    const message =
      'http://pluto.example.com would receive the token in clear: use https:// (http:// is allowed only for localhost)';
    expect(failureLine(cli)).toBe(`pluto-export: --api-url: ${message}`);
    expect(hostile.requests.total).toBe(0);
    await expectSafe({ cli, dir, lake: join(dir, 'lake') }, []);

    const environment = {
      LAKE_BUCKET: 'lake-bucket',
      GLUE_DATABASE: 'pluto',
      PLUTO_SECRET_ID: 'pluto-token',
    };
    expect(() => parseEnvironment({ ...environment, PLUTO_API_URL: 'http://pluto.example.com/' })).toThrow(
      new ConfigError(`Environment variable PLUTO_API_URL is invalid: ${message}`),
    );
    expect(parseEnvironment({ ...environment, PLUTO_API_URL: 'http://127.0.0.1:8080/' }).plutoApiUrl).toBe(
      'http://127.0.0.1:8080/',
    );
  });

  it('fails a dataset as drift when a later page replays the rows of offset 0', async () => {
    const target = exportable[0] as string;
    const outcome = await exportAgainst(
      [
        {
          fault: { kind: 'replayed-page', offset: 0 },
          endpoints: ['assay-data'],
          experimentId: target,
          minOffset: 1,
          minLimit: 2,
        },
      ],
      ['--rows-per-part', '300'],
    );
    expect(outcome.cli.code).toBe(0);
    const record = recordOf(await manifestOf(outcome.lake), target);
    expect(record.status).toBe('partial');
    const drift = record.datasets.filter((dataset) => dataset.status === 'failed');
    expect(drift.map((dataset) => dataset.dataset)).toEqual(['assay']);
    expect(drift[0]?.error?.name).toBe('PageDriftError');
    expect(drift[0]?.error?.message).toMatch(
      new RegExp(
        `^${target} assay at offset [1-9]\\d*: Pluto answered with rows it had already sent for another offset \\(a replayed page\\)$`,
      ),
    );
    await expectSafe(outcome, [target]);
  });
});

describe('answers that will never be valid', END_TO_END, () => {
  it('retries a schema-breaking answer once, and ends a Retry-After beyond the budget at once', async () => {
    const [html, negative, fraction, truncated, throttled] = exportable as [
      string,
      string,
      string,
      string,
      string,
    ];
    const outcome = await exportAgainst([
      { fault: { kind: 'html' }, endpoints: ['assay-data'], experimentId: html },
      { fault: { kind: 'count', count: -1 }, endpoints: ['sample-data'], experimentId: negative },
      { fault: { kind: 'count', count: 2.5 }, endpoints: ['sample-data'], experimentId: fraction },
      { fault: { kind: 'truncated-json' }, endpoints: ['experiment'], experimentId: truncated },
      {
        fault: { kind: 'rate-limited', retryAfterSeconds: 3600 },
        endpoints: ['assay-data'],
        experimentId: throttled,
        at: [1],
      },
    ]);
    expect(outcome.cli.code).toBe(0);
    const manifest = await manifestOf(outcome.lake);
    const cases = [
      [html, experimentPath(html, 'assay-data/?limit=1&offset=0'), /^Pluto sent invalid JSON for /],
      [
        negative,
        experimentPath(negative, 'sample-data/?limit=1&offset=0'),
        /`count` is not a non-negative integer$/,
      ],
      [
        fraction,
        experimentPath(fraction, 'sample-data/?limit=1&offset=0'),
        /`count` is not a non-negative integer$/,
      ],
      [truncated, experimentPath(truncated), /^Pluto sent invalid JSON for /],
    ] as const;
    for (const [id, path, message] of cases) {
      const record = recordOf(manifest, id);
      const error = record.status === 'failed' ? record.error : failedDatasetError(record);
      expect(error?.name, id).toBe('PlutoBadResponseError');
      expect(error?.message, id).toMatch(message);
      expect(requestsTo(path), path).toHaveLength(2);
    }
    // The 429 asked for an hour: the client gave up at once, the workflow retried, the data is exact.
    expect(recordOf(manifest, throttled).status).toBe('exported');
    expect(requestsTo(experimentPath(throttled, 'assay-data/?limit=1&offset=0'))).toHaveLength(2);
    await expectSafe(outcome, [html, negative, fraction, truncated]);
  });

  it('strips escape sequences from what it prints and escapes Markdown in report.md', async () => {
    const target = exportable[0] as string;
    const detail = '\u001b[31mred\u001b[0m\r\nline two | **bold** <script>x</script>';
    const outcome = await exportAgainst([
      { fault: { kind: 'refused', status: 403, detail }, endpoints: ['experiment'], experimentId: target },
    ]);
    expect(outcome.cli.code).toBe(0);
    const row = lines(outcome.cli.stdout).find((line) => line.startsWith(target));
    expect(row).toContain('[31mred[0m line two | **bold** <script>x</script>');
    const report = await readFile(join(outcome.lake, reportKey(RUN_ID)), 'utf8');
    const reportRow = lines(report).find((line) => line.startsWith(`| ${target} |`));
    expect(reportRow).toBe(
      `| ${target} | all | skipped | PlutoForbiddenError | Pluto answered 403 for lab/experiments/${target}/: \\[31mred\\[0m line two \\| \\*\\*bold\\*\\* &lt;script&gt;x&lt;/script&gt; |`,
    );
    expect(controlCharacters(report)).toEqual([]);
    await expectSafe(outcome, [target]);
  });
});

describe('query stays read-only and inside the lake', END_TO_END, () => {
  let lake: string;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pluto-hostile-query-'));
    work.push(dir);
    lake = join(dir, 'lake');
    const server = await startHostileSimulator(HOSTILE);
    try {
      expect((await exportWith({ simulator: server, ...(await openLake(lake)), runId: RUN_ID })).status).toBe(
        'committed',
      );
    } finally {
      await server.close();
    }
  }, END_TO_END.timeout);

  it.each([
    [
      "COPY (SELECT 1) TO 'LAKE/data/out.csv'",
      'query is read-only: it runs one SELECT (or WITH ... SELECT, DESCRIBE, SHOW), not COPY',
    ],
    [
      "COPY (SELECT 1) TO 'DIR/out.csv'",
      'query is read-only and reads only the lake\'s tables: Permission Error: Cannot access file "DIR/out.csv" - file system operations are disabled by configuration',
    ],
    [
      "ATTACH '/tmp/pluto-hostile.db'",
      'query is read-only: it runs one SELECT (or WITH ... SELECT, DESCRIBE, SHOW), not ATTACH',
    ],
    ['SELECT 1; SELECT 2', 'query is read-only: give one statement, not 2'],
    [
      'SET enable_external_access = true',
      'query is read-only: it runs one SELECT (or WITH ... SELECT, DESCRIBE, SHOW), not SET',
    ],
    [
      "SELECT * FROM read_text('/etc/hostname')",
      'query is read-only and reads only the lake\'s tables: Permission Error: Cannot access file "/etc/hostname" - file system operations are disabled by configuration',
    ],
  ])('refuses %s with one line and exit 2', async (sql, message) => {
    const before = await readFiles(dir);
    const paths = (text: string) => text.replace('LAKE', lake).replace(/DIR/g, dir);
    const cli = await runCli(['query', '--lake', lake, paths(sql)]);
    expect(cli.code).toBe(2);
    expect(failureLine(cli)).toBe(`pluto-export: ${paths(message)}`);
    expect([...(await readFiles(dir)).keys()]).toEqual([...before.keys()]);
  });

  it('still answers a SELECT with the exact rows', async () => {
    const cli = await runCli([
      'query',
      '--lake',
      lake,
      '--json',
      'SELECT count(*)::INTEGER AS n FROM samples',
    ]);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toEqual([{ n: (await lakeDigest(clean.root)).samples.rows }]);
  });

  it('refuses a catalog pointer that leads outside data/<table>/', async () => {
    await mkdir(join(lake, '_catalog', 'assay'), { recursive: true });
    await writeFile(
      join(lake, '_catalog', 'assay', 'PLXEVIL.json'),
      JSON.stringify({ table: 'assay', partitionValue: 'PLXEVIL', runId: RUN_ID, location: '../../..' }),
    );
    const cli = await runCli(['query', '--lake', lake, 'SELECT count(*) FROM assay']);
    expect(cli.code).toBe(1);
    expect(failureLine(cli)).toBe(
      `pluto-export: the catalog pointer of assay partition PLXEVIL points outside ${join(lake, 'data', 'assay')}/; it was refused`,
    );
  });
});
