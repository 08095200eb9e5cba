/**
 * `pluto-export probe`: checks, before a first export, that the organisation behind the token
 * answers as the exporter assumes. Exit 0 when nothing differs, 1 when something does, 2 on bad
 * usage or when no Pluto API answers at --api-url.
 */
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { EnvSecretReader } from '../adapters/env-secret-reader.js';
import { ConfigError, PlutoUnreachableError } from '../core/errors.js';
import { apiUrlSchema, createPlutoClient } from '../core/pluto/client.js';
import type { SecretReader } from '../core/ports.js';
import { type ProbeReport, runProbe } from '../core/probe/probe.js';
import { ListingRefusedError } from '../core/probe/session.js';
import { DEFAULT_PLUTO_API_URL, idListSchema } from '../core/settings.js';
import { CODE_VERSION } from '../core/version.js';
import { CLI_DEFAULTS } from './defaults.js';
import { formatTable } from './progress.js';
import { stdout } from './terminal.js';

const probeConfigSchema = z.object({
  apiUrl: apiUrlSchema.default(DEFAULT_PLUTO_API_URL),
  experimentIds: idListSchema.optional(),
  save: z.string().min(1).optional(),
});

const OPTION_NAMES: Record<string, string> = {
  apiUrl: '--api-url',
  experimentIds: '--experiments',
  save: '--save',
};

export async function runProbeCommand(
  values: Record<string, string | boolean | undefined>,
  secrets: SecretReader = new EnvSecretReader(),
): Promise<number> {
  const parsed = probeConfigSchema.safeParse({
    apiUrl: values['api-url'],
    experimentIds: values.experiments,
    save: values.save,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${OPTION_NAMES[String(issue?.path[0])]}: ${issue?.message ?? 'invalid value'}`);
  }
  const config = parsed.data;
  await secrets.getToken();
  const client = createPlutoClient({ baseUrl: config.apiUrl, secrets, version: CODE_VERSION });
  let report: ProbeReport;
  try {
    report = await runProbe(client, {
      sample: CLI_DEFAULTS.probedExperiments,
      ...(config.experimentIds === undefined ? {} : { experimentIds: config.experimentIds }),
    });
  } catch (error) {
    if (error instanceof ListingRefusedError || error instanceof PlutoUnreachableError) {
      throw new ConfigError(`${error.message}: check --api-url`, { cause: error });
    }
    throw error;
  }
  stdout.write(`${describeReport(report)}\n`);
  if (config.save !== undefined) {
    await writeFile(config.save, `${JSON.stringify(savedReport(report, config.apiUrl), null, 2)}\n`);
    stdout.write(`The shapes (keys, types and counts; no values, no token) are in ${config.save}\n`);
  }
  return report.checks.some((check) => check.verdict === 'DIFFERENT') ? 1 : 0;
}

export function describeReport(report: ProbeReport): string {
  const { organisation: o, checks } = report;
  const plots = Object.entries(o.plotsByDisplayType)
    .sort(([, a], [, b]) => b - a)
    .map(([type, n]) => `${type} ${n}`)
    .join(', ');
  const verdicts = (verdict: string) => checks.filter((check) => check.verdict === verdict).length;
  return [
    `projects: ${o.projects}; experiments: ${o.experiments}${o.refusedExperiments === 0 ? '' : ` (${o.refusedExperiments} refused)`}`,
    `plots by display type: ${plots === '' ? 'none' : plots}`,
    `probed: ${o.probedExperiments} experiment(s), two rows at offsets 0 and 1 of every endpoint`,
    '',
    formatTable(
      ['assumption', 'seen', 'verdict'],
      checks.map((check) => [check.assumption, check.seen, check.verdict]),
    ),
    '',
    `${checks.length} assumptions: ${verdicts('OK')} OK, ${verdicts('DIFFERENT')} DIFFERENT, ${verdicts('NOT SEEN')} NOT SEEN`,
  ].join('\n');
}

/** What `--save` writes: the report without ids or values, for a bug report. */
function savedReport(report: ProbeReport, apiUrl: string) {
  return { version: CODE_VERSION, api: new URL(apiUrl).origin, ...report };
}
