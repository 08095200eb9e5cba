/** Ctrl-C during a local export: the run stops, and its lease does not lock out the next run. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_KEY } from '../functions/core/layout.js';
import {
  createFaultPlan,
  type FaultPlan,
  type RunningSimulator,
  startSimulator,
} from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';

let simulator: RunningSimulator;
let plan: FaultPlan;
let lake: string;

beforeAll(async () => {
  // Slot pages (limit > 1) hang, so the export is certainly mid-run when it is interrupted.
  plan = createFaultPlan([
    { fault: { kind: 'slow-headers', ms: 30_000 }, endpoints: ['assay-data'], minLimit: 2 },
  ]);
  simulator = await startSimulator({
    seed: 5,
    experiments: 2,
    genes: [50, 60],
    samples: [3, 4],
    faults: plan.hook,
  });
  lake = await mkdtemp(join(tmpdir(), 'pluto-interrupt-'));
});

afterAll(async () => {
  plan?.stop();
  await simulator?.close();
  if (lake) await rm(lake, { recursive: true, force: true });
});

describe('an interrupted export', () => {
  it('exits 130, releases its lease, publishes nothing, and the next run exports', async () => {
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
        'cut',
      ],
      { env: { ...process.env, PLUTO_API_TOKEN: simulator.truth.token }, stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    while (plan.count('slow-headers') === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(join(lake, LEASE_KEY))).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(existsSync(join(lake, LEASE_KEY))).toBe(false);
    expect(existsSync(join(lake, 'runs', 'cut', 'manifest.json'))).toBe(false);

    plan.stop();
    const next = await runCli(['export', '--api-url', simulator.url, '--out', lake, '--run-id', 'next'], {
      PLUTO_API_TOKEN: simulator.truth.token,
    });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain(`run next committed`);
    expect(next.stdout).toMatch(/1 exported, 0 partial, 0 unchanged, 1 skipped, 0 failed/);
  });
});
