/** Ids a user types that Pluto does not know: one line naming them, exit 2, nothing taken or written. */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../functions/simulator/index.js';
import { runCli } from './support/cli.js';

let simulator: RunningSimulator;
let notFoundVariant: RunningSimulator;
let root: string;

beforeAll(async () => {
  const small = { seed: 11, experiments: 3, genes: [20, 30] as const, samples: [3, 4] as const };
  simulator = await startSimulator(small);
  notFoundVariant = await startSimulator({ ...small, unknownIds: 'not_found' });
  root = await mkdtemp(join(tmpdir(), 'pluto-unknown-ids-'));
});

afterAll(async () => {
  await simulator?.close();
  await notFoundVariant?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

const exportTo = (sim: RunningSimulator, out: string, ...args: string[]) =>
  runCli(['export', '--api-url', sim.url, '--out', out, ...args], { PLUTO_API_TOKEN: sim.truth.token });

/** Exit 2, exactly one line naming the unknown ids, nothing on stdout and no file in the lake. */
async function expectRefusedBeforeStart(
  sim: RunningSimulator,
  name: string,
  args: readonly string[],
  unknown: string,
): Promise<void> {
  const out = join(root, name);
  const result = await exportTo(sim, out, ...args);
  expect(result.code).toBe(2);
  expect(result.stderr).toBe(
    `pluto-export: Pluto does not know ${unknown}: check the ids given (nothing was exported)\n`,
  );
  expect(result.stdout).toBe('');
  expect(await filesUnder(out)).toEqual([]);
}

describe('unknown ids given by the user', () => {
  it('--experiments with an id Pluto answers 400 invalid_object_id: exit 2, one line naming it, nothing written', async () => {
    const known = simulator.truth.exportable[0]?.id ?? expect.unreachable();
    simulator.requests.reset();
    await expectRefusedBeforeStart(
      simulator,
      'typo',
      ['--experiments', `${known},PLX000000,PLX999999`],
      'experiments PLX000000, PLX999999',
    );
    expect(simulator.requests.recent.some((r) => r.endpoint === 'assay-data')).toBe(false);
  });

  it('--projects with an unknown id: exit 2 naming it', async () => {
    await expectRefusedBeforeStart(simulator, 'bogus-project', ['--projects', 'bogus'], 'projects bogus');
  });

  it('reads a plain 404 for the id the same way (simulator variant not_found)', async () => {
    await expectRefusedBeforeStart(
      notFoundVariant,
      'not-found',
      ['--experiments', 'PLX000000'],
      'experiments PLX000000',
    );
  });

  it('plans an id Pluto knows but refuses (403), which is recorded as skipped', async () => {
    const forbidden = simulator.truth.forbiddenExperimentIds[0] ?? expect.unreachable();
    const known = simulator.truth.exportable[0]?.id ?? expect.unreachable();
    const out = join(root, 'forbidden');
    const result = await exportTo(simulator, out, '--experiments', `${known},${forbidden}`, '--run-id', 'r1');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('run r1 committed');
    expect(result.stdout).toMatch(/1 exported, 0 partial, 0 unchanged, 1 skipped, 0 failed/);
  });

  it('status of an experiment no run has seen says so and exits 1; a seen one exits 0', async () => {
    const lake = join(root, 'forbidden');
    const unseen = await runCli(['status', '--lake', lake, 'PLX999999']);
    expect(unseen.code).toBe(1);
    expect(unseen.stderr).toBe(
      `pluto-export: no run in ${lake} has seen experiment PLX999999: check the id\n`,
    );
    expect(unseen.stdout).toBe('');
    const seen = simulator.truth.forbiddenExperimentIds[0] ?? expect.unreachable();
    const skipped = await runCli(['status', '--lake', lake, seen]);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stdout).toContain('r1: skipped');
  });
});
