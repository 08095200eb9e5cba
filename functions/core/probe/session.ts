/**
 * What one probe has seen of Pluto: the organisation's listing, and every answer it asked for,
 * each asked for once however many checks read it. Checks read answers through this session, so a
 * new check needs no new plumbing: it asks for what it needs, and `--save` gets its shape too.
 */
import { mapConcurrent } from '../concurrency.js';
import { ConfigError, PlutoExportError } from '../errors.js';
import { isPendingAnalysis, type PlutoPlot, plotSchema } from '../pluto/model.js';
import type { PlutoRawReader, RawAnswer } from '../ports.js';
import { type Shape, shapeOf } from './shape.js';

/** Two rows at offsets 0 and 1: enough to see a count, a layout, and whether paging is honoured. */
export const PROBE_LIMIT = 2;
export const PROBE_OFFSETS = [0, 1] as const;
/** Listings are read in pages this large; everything else asks for two rows. */
const LISTING_PAGE = 1000;
const LISTING_CONCURRENCY = 4;

export interface ListedPlot {
  readonly experimentId: string;
  /** The plot object as listed (possibly not matching what the exporter expects). */
  readonly plot: Record<string, unknown>;
  /** The plot as the exporter reads it; undefined when it does not have the fields read. */
  readonly parsed: PlutoPlot | undefined;
}

export interface Survey {
  readonly projectIds: readonly string[];
  readonly experimentIds: readonly string[];
  /** Experiments whose plot list Pluto refused, with the status it answered. */
  readonly refused: ReadonlyMap<string, number>;
  readonly plots: readonly ListedPlot[];
  /** The experiments whose endpoints are probed. */
  readonly probed: readonly string[];
}

export interface RecordedRequest {
  /** The request with ids replaced by `{project}`, `{experiment}` and `{plot}`. */
  readonly request: string;
  readonly status: number;
  readonly contentType: string;
  readonly shape: Shape;
  /** How many requests of this template answered with this status and shape. */
  times: number;
}

/** A data request of one dataset at both probe offsets. */
export interface PagePair {
  readonly path: string;
  readonly pages: readonly [RawAnswer, RawAnswer];
}

export interface PlotData extends PagePair {
  readonly experimentId: string;
  readonly plot: PlutoPlot;
}

const EMPTY_SURVEY: Survey = { projectIds: [], experimentIds: [], refused: new Map(), plots: [], probed: [] };

export class ProbeSession {
  private readonly answers = new Map<string, Promise<RawAnswer>>();
  private readonly recorded = new Map<string, RecordedRequest>();

  constructor(
    private readonly reader: PlutoRawReader,
    private surveyed: Survey = EMPTY_SURVEY,
  ) {}

  get survey(): Survey {
    return this.surveyed;
  }

  /** The same answers, with the listing they were gathered for. */
  withSurvey(survey: Survey): this {
    this.surveyed = survey;
    return this;
  }

  /** GET `path` under the API root, once per probe. */
  get(path: string): Promise<RawAnswer> {
    return this.once(path, () => this.reader.getRaw(path), templateOf(path));
  }

  /** A signed URL that the answer for `from` gave, fetched without the token. */
  getSigned(url: string, from: string): Promise<RawAnswer> {
    return this.once(
      `signed ${url}`,
      () => this.reader.getSignedRaw(url, from),
      `{signed URL of ${templateOf(from)}}`,
    );
  }

  /** The first line of what a signed URL serves (a CSV's header line); the rest is not read. */
  getSignedFirstLine(url: string, from: string): Promise<RawAnswer> {
    return this.once(
      `signed first line ${url}`,
      () => this.reader.getSignedFirstLine(url, from),
      `{first line of the signed URL of ${templateOf(from)}}`,
    );
  }

  /** Both probe pages of a paged path such as `lab/projects/`. */
  async pair(path: string): Promise<PagePair> {
    const [first, second] = await Promise.all(
      PROBE_OFFSETS.map((offset) => this.get(`${path}?limit=${PROBE_LIMIT}&offset=${offset}`)),
    );
    return { path, pages: [first as RawAnswer, second as RawAnswer] };
  }

  /** Every plot of the probed experiments whose data the exporter would read, at both offsets. */
  async plotData(): Promise<PlotData[]> {
    const readable = this.probedPlots().filter((listed) => !isPendingAnalysis(listed.plot));
    const out: PlotData[] = [];
    for (const { experimentId, plot } of readable) {
      const pair = await this.pair(
        `lab/experiments/${encodeURIComponent(experimentId)}/plots/${encodeURIComponent(plot.uuid)}/data/`,
      );
      out.push({ ...pair, experimentId, plot });
    }
    return out;
  }

  /** Plots of the probed experiments that the exporter can read. */
  probedPlots(): { experimentId: string; plot: PlutoPlot }[] {
    return this.survey.plots.flatMap(({ experimentId, parsed }) =>
      parsed !== undefined && this.survey.probed.includes(experimentId)
        ? [{ experimentId, plot: parsed }]
        : [],
    );
  }

  requests(): RecordedRequest[] {
    return [...this.recorded.values()];
  }

  private once(key: string, ask: () => Promise<RawAnswer>, template: string): Promise<RawAnswer> {
    const known = this.answers.get(key);
    if (known !== undefined) return known;
    const pending = ask().then((answer) => {
      this.record(template, answer);
      return answer;
    });
    this.answers.set(key, pending);
    return pending;
  }

  private record(request: string, answer: RawAnswer): void {
    const shape =
      answer.json === undefined
        ? ('string' as const)
        : shapeOf(answer.json, { dataPage: /\/(sample-data|assay-data|data)\/\?/.test(request) });
    const key = JSON.stringify([request, answer.status, answer.contentType, shape]);
    const known = this.recorded.get(key);
    if (known !== undefined) known.times++;
    else
      this.recorded.set(key, {
        request,
        status: answer.status,
        contentType: answer.contentType,
        shape,
        times: 1,
      });
  }
}

/** `lab/experiments/PLX123456/plots/<uuid>/data/?limit=2` -> `lab/experiments/{experiment}/plots/{plot}/data/?limit=2`. */
export function templateOf(path: string): string {
  const singular: Record<string, string> = {
    projects: 'project',
    experiments: 'experiment',
    plots: 'plot',
    analyses: 'analysis',
    files: 'file',
  };
  return path.replace(
    /(projects|experiments|plots|analyses|files)\/([^/?]+)\//g,
    (_, kind: string) => `${kind}/{${singular[kind]}}/`,
  );
}

/** Every item of a listing, page by page, as far as its answers allow; the answers are recorded. */
async function listAll(session: ProbeSession, path: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (let offset = 0; ; offset += LISTING_PAGE) {
    const { status, json } = await session.get(`${path}?limit=${LISTING_PAGE}&offset=${offset}`);
    const page = json as { count?: unknown; items?: unknown } | undefined;
    if (status !== 200 || !Array.isArray(page?.items)) {
      if (offset === 0) throw new ListingRefusedError(path, status);
      return items;
    }
    items.push(
      ...page.items.filter(
        (item): item is Record<string, unknown> => typeof item === 'object' && item !== null,
      ),
    );
    const count = typeof page.count === 'number' ? page.count : items.length;
    if (page.items.length < LISTING_PAGE || items.length >= count) return items;
  }
}

/** A listing Pluto answered with something other than a list: nothing below it can be surveyed. */
export class ListingRefusedError extends PlutoExportError {
  override readonly name = 'ListingRefusedError';
  readonly retryable = false;

  constructor(
    readonly path: string,
    readonly status: number,
  ) {
    super(`Pluto answered ${path} with ${status === 200 ? 'something other than a list' : status}`);
  }
}

/**
 * Lists what the token sees: projects, experiments and every experiment's plots. The probed
 * experiments are `chosen`, or the first `sample` whose plot list Pluto answers.
 */
export async function surveyOrganisation(
  reader: PlutoRawReader,
  options: { chosen?: readonly string[]; sample: number },
): Promise<ProbeSession> {
  const listing = new ProbeSession(reader);
  const idOf = (item: Record<string, unknown>) =>
    typeof item.pluto_id === 'string' ? item.pluto_id : undefined;
  // An organisation may show no projects endpoint; its check says so, the rest is still probed.
  const projects = await listAll(listing, 'lab/projects/').catch((error: unknown) => {
    if (error instanceof ListingRefusedError) return [];
    throw error;
  });
  const projectIds = projects.map(idOf).filter((id) => id !== undefined);
  const experimentIds = (await listAll(listing, 'lab/experiments/'))
    .map(idOf)
    .filter((id) => id !== undefined);
  const unlisted = options.chosen?.filter((id) => !experimentIds.includes(id)) ?? [];
  if (unlisted.length > 0) {
    throw new ConfigError(
      `Pluto lists no experiment ${unlisted.join(', ')} for this token: check --experiments`,
    );
  }
  const refused = new Map<string, number>();
  const plotLists = await mapConcurrent(experimentIds, LISTING_CONCURRENCY, async (experimentId) => {
    try {
      return (await listAll(listing, `lab/experiments/${encodeURIComponent(experimentId)}/plots/`)).map(
        (plot) => ({ experimentId, plot, parsed: plotSchema.safeParse(plot).data }),
      );
    } catch (error) {
      if (!(error instanceof ListingRefusedError)) throw error;
      refused.set(experimentId, error.status);
      return [];
    }
  });
  const probed = options.chosen ?? experimentIds.filter((id) => !refused.has(id)).slice(0, options.sample);
  const survey: Survey = { projectIds, experimentIds, refused, plots: plotLists.flat(), probed };
  return listing.withSurvey(survey);
}
