/**
 * `pluto-export probe`: first contact with a real organisation. Lists what the token sees, asks
 * each endpoint kind of a few experiments for two rows at two offsets, and checks every assumption
 * the exporter makes (see `checks.ts`). The report holds shapes and counts, never values.
 */
import { PlutoAuthError, PlutoExportError, PlutoUnreachableError } from '../errors.js';
import type { PlutoRawReader } from '../ports.js';
import { CHECKS, type Finding, type ProbeCheck } from './checks.js';
import { type ProbeSession, type RecordedRequest, surveyOrganisation, templateOf } from './session.js';

export type Verdict = 'OK' | 'DIFFERENT' | 'NOT SEEN';

export interface CheckResult {
  readonly assumption: string;
  readonly seen: string;
  readonly verdict: Verdict;
}

export interface ProbeReport {
  readonly organisation: {
    readonly projects: number;
    readonly experiments: number;
    /** Experiments whose plot list Pluto refused. */
    readonly refusedExperiments: number;
    /** Plots of every listed experiment, by display type. */
    readonly plotsByDisplayType: Readonly<Record<string, number>>;
    readonly probedExperiments: number;
  };
  readonly checks: readonly CheckResult[];
  readonly requests: readonly RecordedRequest[];
}

export async function runProbe(
  reader: PlutoRawReader,
  options: { experimentIds?: readonly string[]; sample: number; checks?: readonly ProbeCheck[] },
): Promise<ProbeReport> {
  const session = await surveyOrganisation(reader, {
    ...(options.experimentIds === undefined ? {} : { chosen: options.experimentIds }),
    sample: options.sample,
  });
  const checks: CheckResult[] = [];
  for (const check of options.checks ?? CHECKS) {
    checks.push({ assumption: check.assumption, ...verdictOf(await evaluate(check, session)) });
  }
  const { survey } = session;
  const plotsByDisplayType: Record<string, number> = {};
  for (const { plot } of survey.plots) {
    const display = plot.display as { display_type?: unknown } | null | undefined;
    const type = typeof display?.display_type === 'string' ? display.display_type : '(none)';
    plotsByDisplayType[type] = (plotsByDisplayType[type] ?? 0) + 1;
  }
  return {
    organisation: {
      projects: survey.projectIds.length,
      experiments: survey.experimentIds.length,
      refusedExperiments: survey.refused.size,
      plotsByDisplayType,
      probedExperiments: survey.probed.length,
    },
    checks,
    requests: session.requests(),
  };
}

/** A check that could not get its answers says why; a refused token or no Pluto at all ends the probe. */
async function evaluate(check: ProbeCheck, session: ProbeSession): Promise<Finding> {
  try {
    return await check.evaluate(session);
  } catch (error) {
    if (
      !(error instanceof PlutoExportError) ||
      error instanceof PlutoAuthError ||
      error instanceof PlutoUnreachableError
    ) {
      throw error;
    }
    return { seen: `${error.name}: ${templateOf(error.message)}`, holds: false };
  }
}

function verdictOf({ seen, holds }: Finding): { seen: string; verdict: Verdict } {
  return { seen, verdict: holds === undefined ? 'NOT SEEN' : holds ? 'OK' : 'DIFFERENT' };
}
