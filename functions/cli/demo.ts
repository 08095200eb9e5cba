/**
 * The export `npm start` runs without a token: the simulator's demo organisation into a local lake.
 */
import type { SecretReader } from '../core/ports.js';
import { DEFAULT_COPY_FILE_TYPES } from '../core/settings.js';
import { DEMO_ORGANISATION } from '../simulator/demo.js';
import { type SimulatorOptions, startSimulator } from '../simulator/index.js';
import { runExportCommand } from './export-command.js';

export const DEMO_LAKE = 'demo-lake';

/** The demo shows a plot without a table (an image: `no_data`) beside the PCA and volcano plots. */
export const DEMO_SIMULATOR: SimulatorOptions = { ...DEMO_ORGANISATION, variants: ['image-plot'] };

/** Exports the demo organisation into `out` and returns the export's exit code. */
export async function exportDemo(
  out: string,
  organisation: SimulatorOptions = DEMO_SIMULATOR,
): Promise<number> {
  const simulator = await startSimulator(organisation);
  const secrets: SecretReader = {
    getToken: async () => simulator.truth.token,
    refresh: async () => simulator.truth.token,
  };
  try {
    return await runExportCommand(
      { 'api-url': simulator.url, out, files: DEFAULT_COPY_FILE_TYPES.join(',') },
      secrets,
    );
  } finally {
    await simulator.close();
  }
}
