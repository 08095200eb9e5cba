import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { DEMO_ORGANISATION } from '../simulator/demo.js';
import { startSimulator } from '../simulator/index.js';
import { CLI_DEFAULTS } from './defaults.js';
import { stdout } from './terminal.js';

const simulateConfigSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).default(CLI_DEFAULTS.simulatorPort),
  seed: z.coerce.number().int().default(DEMO_ORGANISATION.seed),
  experiments: z.coerce.number().int().min(1).max(10_000).default(DEMO_ORGANISATION.experiments),
});

export async function runSimulateCommand(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const parsed = simulateConfigSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`--${String(issue?.path[0])}: ${issue?.message}`);
  }
  const simulator = await startSimulator(parsed.data);
  stdout.write(
    `Pluto API simulator on ${simulator.url} (seed ${parsed.data.seed}, ${parsed.data.experiments} experiments)\n` +
      `  export PLUTO_API_TOKEN=${simulator.truth.token}\n` +
      `  npm run --silent pluto-export -- export --api-url ${simulator.url}\n` +
      'Ctrl-C stops it.\n',
  );
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
  });
  await simulator.close();
  return 0;
}
