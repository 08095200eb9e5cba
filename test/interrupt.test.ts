/**
 * A local export stopped by a signal — Ctrl-C, `timeout`, systemd, `docker stop`, a cancelled CI
 * job, a closed terminal, or `kill -9` — never locks the lake and never leaves its run off the
 * record. Real child processes, real signals, a real HTTP server standing in for Pluto.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderStore } from '../functions/adapters/folder-store.js';
import { readManifest } from '../functions/core/history.js';
import { commitRecordKey, LEASE_KEY } from '../functions/core/layout.js';
import { readLease } from '../functions/core/lease.js';
import {
  createFaultPlan,
  type FaultPlan,
  type RunningSimulator,
  startSimulator,
} from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';
import { queryLake } from './support/lake-query.js';

let simulator: RunningSimulator;
let plan: FaultPlan | undefined;
let hung: string;
let others: string[];
const lakes: string[] = [];

beforeAll(async () => {
  simulator = await startSimulator({
    seed: 5,
    experiments: 3,
    genes: [50, 60],
    samples: [3, 4],
    // Each test starts its own plan; the one in force is read per request.
    faults: (request) => plan?.hook(request),
  });
  const [first, ...rest] = simulator.truth.exportable.map((e) => e.id);
  if (first === undefined || rest.length === 0) throw new Error('need two exportable experiments');
  hung = first;
  others = rest;
});

afterAll(async () => {
  plan?.stop();
  await simulator?.close();
  for (const lake of lakes) await rm(lake, { recursive: true, force: true });
});

async function newLake(): Promise<string> {
  const lake = await mkdtemp(join(tmpdir(), 'pluto-interrupt-'));
  lakes.push(lake);
  return lake;
}

/** One experiment's slot pages hang; the others commit. Resolves once they have, mid-run. */
async function startHungExport(
  lake: string,
  runId: string,
): Promise<{ child: ChildProcess; exited: Promise<Exit> }> {
  const hanging = createFaultPlan([
    {
      fault: { kind: 'slow-headers', ms: 60_000 },
      endpoints: ['assay-data'],
      experimentId: hung,
      minLimit: 2,
    },
  ]);
  plan = hanging;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'functions/cli/main.ts',
      'export',
      '--api-url',
      simulator.url,
      '--out',
      lake,
      '--run-id',
      runId,
    ],
    {
      env: { ...process.env, PLUTO_API_TOKEN: simulator.truth.token, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.resume();
  const exited = new Promise<Exit>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  const store = new FolderStore(lake);
  const committed = async () =>
    (await Promise.all(others.map((id) => store.head(commitRecordKey(runId, id))))).every(Boolean);
  while (hanging.count('slow-headers') === 0 || !(await committed())) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, exited };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

describe.each([
  ['SIGTERM', 143],
  ['SIGHUP', 129],
  ['SIGINT', 130],
] as const)('an export stopped by %s', (signal, exitCode) => {
  it(`exits ${exitCode} with one line saying how to resume, records the run as interrupted and releases its lease`, async () => {
    const lake = await newLake();
    const { child, exited } = await startHungExport(lake, 'cut');
    const holder = await readLease(new FolderStore(lake));
    expect(holder).toMatchObject({ runId: 'cut', holder: { pid: child.pid, host: hostname() } });

    child.kill(signal);
    const exit = await exited;
    expect(exit.code).toBe(exitCode);
    const resume = `pluto-export export --run-id cut --out ${lake} --api-url ${simulator.url}`;
    expect(exit.stderr.trim().split('\n').at(-1)).toBe(
      `pluto-export: interrupted by ${signal}: run cut stopped; ${others.length} experiment(s) committed stay published; resume with: ${resume}`,
    );
    expect(existsSync(join(lake, LEASE_KEY))).toBe(false);

    const manifest = await readManifest(new FolderStore(lake), 'cut');
    expect(manifest).toMatchObject({
      status: 'interrupted',
      error: { name: 'RunInterruptedError', message: `interrupted by ${signal}` },
      counts: { exported: others.length, failed: 0 },
    });
    expect(manifest?.experiments.map((e) => e.experimentId)).not.toContain(hung);
    const logged = await queryLake(
      lake,
      `select distinct experiment_id, status from export_log where run_id = 'cut' and status = 'exported' order by 1`,
    );
    expect(logged).toEqual([...others].sort().map((id) => ({ experiment_id: id, status: 'exported' })));
    const runs = await runCli(['runs', '--lake', lake, '--json']);
    expect(JSON.parse(runs.stdout)).toMatchObject([
      { run_id: 'cut', status: 'interrupted', exported: others.length },
    ]);

    if (signal !== 'SIGTERM') return;
    plan?.stop();
    const [command, ...args] = resume.split(' ').slice(1);
    const resumed = await runCli([command ?? '', ...args], { PLUTO_API_TOKEN: simulator.truth.token });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(
      /run cut committed in .*: \d+ exported, 0 partial, 0 unchanged, \d+ skipped, 0 failed/,
    );
    expect(await readManifest(new FolderStore(lake), 'cut')).toMatchObject({
      status: 'committed',
      counts: { exported: others.length + 1 },
    });
  });
});

describe('a run that finds a live run holding the lease', () => {
  it('does not start, names the holder and exits 3', async () => {
    const lake = await newLake();
    const { child, exited } = await startHungExport(lake, 'first');
    const second = await runCli(['export', '--api-url', simulator.url, '--out', lake, '--run-id', 'second'], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(second.code).toBe(3);
    expect(second.stderr.trim().split('\n').at(-1)).toMatch(
      new RegExp(
        `^pluto-export: not started: run first \\(process ${child.pid} on ${hostname()}, started \\S+\\) holds the lease on ${lake} until \\S+; run again when it has finished$`,
      ),
    );
    expect(existsSync(join(lake, 'runs', 'second'))).toBe(false);
    child.kill('SIGTERM');
    expect((await exited).code).toBe(143);
  });
});

describe('an export killed with SIGKILL', () => {
  it('leaves a lease the next run on this host takes over at once, saying so; retention reclaims what it left', async () => {
    const lake = await newLake();
    const { child, exited } = await startHungExport(lake, 'killed');
    const pid = child.pid;
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    expect(await readLease(new FolderStore(lake))).toMatchObject({ runId: 'killed', holder: { pid } });
    const killedFolders = async () =>
      (await new FolderStore(lake).list('data/')).filter((o) =>
        o.key.includes(`experiment_id=${hung}/run_id=killed/`),
      );
    expect(await killedFolders()).not.toEqual([]);
    // What a writer killed between writing and publishing leaves.
    await writeFile(join(lake, 'data', '.tmp-killed-writer'), 'half a part');

    plan?.stop();
    const next = await runCli(
      ['export', '--api-url', simulator.url, '--out', lake, '--run-id', 'next', '--retention-days', '0'],
      { PLUTO_API_TOKEN: simulator.truth.token },
    );
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(
      new RegExp(
        `^pluto-export: taking over the lease of run killed \\(process ${pid} on ${hostname()}, started \\S+\\): its process is gone$`,
        'm',
      ),
    );
    expect(next.stdout).toMatch(/run next committed/);
    expect(await killedFolders()).toEqual([]);
    expect(await readdir(join(lake, 'data'))).not.toContain('.tmp-killed-writer');
    const runs = JSON.parse((await runCli(['runs', '--lake', lake, '--json'])).stdout) as {
      run_id: string;
      status: string;
    }[];
    expect(runs.map((r) => [r.run_id, r.status])).toEqual([
      ['next', 'committed'],
      ['killed', 'unfinished'],
    ]);
  });
});
