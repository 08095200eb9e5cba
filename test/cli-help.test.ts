/** The command line answers for itself: every command's --help lists all of its options, and errors keep their hints. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../functions/cli/commands.js';
import { parseExportConfig } from '../functions/cli/export-command.js';
import { DEFAULT_LIMITS } from '../functions/core/limits.js';
import { SETTINGS } from '../functions/core/settings.js';
import { runCli } from './support/cli.js';

describe('--help', () => {
  it.each(Object.keys(COMMANDS))(
    '%s --help exits 0 and lists every option the command accepts',
    async (name) => {
      const result = await runCli([name, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^usage: pluto-export ${name} \\[options\\]`));
      const options = Object.keys(COMMANDS[name as keyof typeof COMMANDS].options);
      expect(options.length).toBeGreaterThan(0);
      for (const option of options) expect(result.stdout).toMatch(new RegExp(`^  --${option}\\b`, 'm'));
    },
  );

  it('shows for each export option the default its parser applies', () => {
    const parsed = parseExportConfig({});
    const applied: Record<string, unknown> = {
      'api-url': parsed.apiUrl,
      out: parsed.out,
      concurrency: parsed.concurrency,
      'rows-per-part': parsed.rowsPerPart,
      'row-group-rows': parsed.rowGroupRows,
      'prefetch-pages': parsed.prefetchPages,
      missing: parsed.missingExperiments,
      'retention-days': parsed.retentionDays,
      'connect-timeout': parsed.connectTimeoutSeconds,
      'max-experiments': parsed.maxExperimentsPerRun,
      'max-rows-per-dataset': parsed.maxRowsPerDataset,
      'max-slots-per-experiment': parsed.maxSlotsPerExperiment,
      'max-list-pages': parsed.maxListPages,
      'max-response-mib': parsed.maxResponseMiB,
      'max-file-bytes': parsed.maxFileBytes,
      'results-source': parsed.resultsSource,
    };
    const shown = Object.entries(COMMANDS.export.help).flatMap(([option, [, text]]) => {
      const value = text.match(/\(default ([^;)]+)/)?.[1];
      return value === undefined || option === 'run-id' ? [] : [[option, value]];
    });
    expect(Object.fromEntries(shown)).toEqual(
      Object.fromEntries(Object.entries(applied).map(([option, value]) => [option, String(value)])),
    );
    expect(COMMANDS.export.help['rows-per-part'][1]).toBe(
      `Parquet rows per part file (default ${SETTINGS.rowsPerPart.default})`,
    );
    expect(COMMANDS.export.help['max-list-pages'][1]).toBe(
      `ceiling on the pages of one list (default ${DEFAULT_LIMITS.maxListPages})`,
    );
  });

  it('lists every command with a line about it', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const name of Object.keys(COMMANDS))
      expect(result.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });
});

describe('query errors', () => {
  it("print DuckDB's whole message: its suggestion and the caret under the mistake", async () => {
    const lake = await mkdtemp(join(tmpdir(), 'pluto-query-error-'));
    const result = await runCli(['query', '--lake', lake, 'select count(*) from assy']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Table with name assy does not exist!');
    expect(result.stderr).toContain('Did you mean "assay"');
    expect(result.stderr).toMatch(/LINE 1: select count\(\*\) from assy\n\s+\^/);
    await rm(lake, { recursive: true });
  });
});
