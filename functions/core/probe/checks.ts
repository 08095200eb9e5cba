/**
 * Every assumption the exporter makes about Pluto's answers, each a small object: what is assumed,
 * and how to tell from a probe whether it holds. A new assumption is one more entry in `CHECKS`;
 * it asks the session for what it needs (answers are fetched once and recorded for `--save`).
 * The `seen` text names templates, types, counts and API enums, never ids or values.
 */
import { INVALID_OBJECT_ID } from '../pluto/client.js';
import {
  experimentSchema,
  fileItemSchema,
  isPendingAnalysis,
  plotSchema,
  projectSchema,
} from '../pluto/model.js';
import { csvTable } from '../pluto/signed-url.js';
import type { RawAnswer } from '../ports.js';
import { type PagePair, PROBE_LIMIT, type ProbeSession, templateOf } from './session.js';

export interface Finding {
  readonly seen: string;
  /** Undefined when nothing probed could show it (NOT SEEN). */
  readonly holds: boolean | undefined;
}

export interface ProbeCheck {
  /** What the exporter assumes: the first column of the table. */
  readonly assumption: string;
  evaluate(session: ProbeSession): Promise<Finding>;
}

/** An id of the form of Pluto's experiment ids that no organisation is expected to hold. */
export const UNKNOWN_EXPERIMENT_ID = 'PLX000000';
/** Display types whose plot data comes as column arrays (Pluto's R client reads them so). */
const COLUMN_MAJOR_DISPLAY_TYPES = ['volcano_plot_v2'];

const holds = (seen: string): Finding => ({ seen, holds: true });
const differs = (seen: string): Finding => ({ seen, holds: false });
const notSeen = (seen: string): Finding => ({ seen, holds: undefined });

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** `{count, items}` and the like: the keys of an answer, or what it is instead. */
function describeAnswer({ status, json, contentType }: RawAnswer): string {
  if (status !== 200) return `${status}${isObject(json) ? ` {${Object.keys(json).join(', ')}}` : ''}`;
  if (isObject(json)) return `{${Object.keys(json).join(', ')}}`;
  return json === undefined
    ? `${contentType || 'a body without a type'}, not JSON`
    : `a JSON ${Array.isArray(json) ? 'list' : typeof json}`;
}

/** Counts equal answers: `{count, items} ×4`. */
function tally(texts: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const text of texts) counts.set(text, (counts.get(text) ?? 0) + 1);
  return [...counts].map(([text, n]) => (n === 1 ? text : `${text} ×${n}`)).join(', ');
}

/** A check over some paged answers: it holds when `fits` holds for each. */
function everyAnswer(
  answers: readonly { label: string; answer: RawAnswer }[],
  fits: (answer: RawAnswer) => boolean,
  expected: string,
): Finding {
  if (answers.length === 0) return notSeen('nothing of this kind to ask for');
  const misfits = answers.filter(({ answer }) => !fits(answer));
  if (misfits.length === 0) return holds(`${expected} ×${answers.length}`);
  return differs(tally(misfits.map(({ label, answer }) => `${label}: ${describeAnswer(answer)}`)));
}

/** The rows of a data page, row objects or column arrays, as lists in header order. */
function rowsOf(json: unknown): unknown[][] | undefined {
  if (!isObject(json) || !Array.isArray(json.items) || !Array.isArray(json.headers)) return undefined;
  const headers = json.headers as string[];
  const items = json.items as unknown[];
  if (items.length > 0 && items.every(Array.isArray)) {
    const columns = items as unknown[][];
    return (columns[0] ?? []).map((_, r) => columns.map((column) => column[r]));
  }
  return items.map((row) => (isObject(row) ? headers.map((h) => row[h]) : [row]));
}

function listRows(json: unknown): unknown[][] | undefined {
  if (!isObject(json) || !Array.isArray(json.items)) return undefined;
  return (json.items as unknown[]).map((item) => [item]);
}

/**
 * Paging is honoured when offset 0 gives at most `limit` rows and offset 1 starts with the second
 * row of offset 0. Pairs with fewer than two rows cannot show it.
 */
function paging(
  pairs: readonly (PagePair & { label: string })[],
  rows: (json: unknown) => unknown[][] | undefined,
): Finding {
  let compared = 0;
  const problems: string[] = [];
  for (const { label, pages } of pairs) {
    const [first, second] = pages.map((page) => (page.status === 200 ? rows(page.json) : undefined));
    if (first === undefined || second === undefined) continue;
    if (first.length > PROBE_LIMIT || second.length > PROBE_LIMIT) {
      problems.push(`${label}: limit ${PROBE_LIMIT} answered more rows`);
      continue;
    }
    if (first.length < 2) continue;
    compared++;
    if (JSON.stringify(second[0]) !== JSON.stringify(first[1])) {
      problems.push(`${label}: offset 1 does not start with the second row of offset 0`);
    }
  }
  if (problems.length > 0) return differs(tally(problems));
  if (compared === 0) return notSeen('no answer with two rows to compare');
  return holds(`limit ${PROBE_LIMIT} at offsets 0 and 1 ×${compared}`);
}

const isList = (answer: RawAnswer) =>
  answer.status === 200 &&
  isObject(answer.json) &&
  isCount(answer.json.count) &&
  Array.isArray(answer.json.items);

interface ListEndpoint {
  readonly name: string;
  paths(session: ProbeSession): string[];
}

const LIST_ENDPOINTS: readonly ListEndpoint[] = [
  { name: 'lab/projects/', paths: () => ['lab/projects/'] },
  { name: 'lab/experiments/', paths: () => ['lab/experiments/'] },
  {
    name: 'lab/projects/{project}/experiments/',
    paths: (session) =>
      session.survey.projectIds
        .slice(0, 1)
        .map((id) => `lab/projects/${encodeURIComponent(id)}/experiments/`),
  },
  {
    name: 'lab/experiments/{experiment}/plots/',
    paths: (session) => session.survey.probed.map((id) => `lab/experiments/${encodeURIComponent(id)}/plots/`),
  },
];

async function pairs(session: ProbeSession, paths: readonly string[]) {
  const out: (PagePair & { label: string })[] = [];
  for (const path of paths) out.push({ ...(await session.pair(path)), label: templateOf(path) });
  return out;
}

const answersOf = (list: readonly (PagePair & { label: string })[]) =>
  list.flatMap(({ label, pages }) => pages.map((answer) => ({ label, answer })));

function listChecks(endpoint: ListEndpoint): ProbeCheck[] {
  return [
    {
      assumption: `${endpoint.name} answers {count, items}`,
      evaluate: async (session) =>
        everyAnswer(answersOf(await pairs(session, endpoint.paths(session))), isList, '{count, items}'),
    },
    {
      assumption: `${endpoint.name} honours limit and offset`,
      evaluate: async (session) => paging(await pairs(session, endpoint.paths(session)), listRows),
    },
  ];
}

const DATA_ENDPOINTS = [
  { name: 'sample-data', path: 'sample-data/' },
  { name: 'assay-data', path: 'assay-data/' },
] as const;

const isRowPage = (answer: RawAnswer) =>
  isList(answer) &&
  Array.isArray((answer.json as Json).headers) &&
  ((answer.json as Json).items as unknown[]).every(isObject);

function dataChecks(endpoint: (typeof DATA_ENDPOINTS)[number]): ProbeCheck[] {
  const name = `lab/experiments/{experiment}/${endpoint.path}`;
  const paths = (session: ProbeSession) =>
    session.survey.probed.map((id) => `lab/experiments/${encodeURIComponent(id)}/${endpoint.path}`);
  return [
    {
      assumption: `${name} answers {count, headers, items} of row objects`,
      evaluate: async (session) =>
        everyAnswer(
          answersOf(await pairs(session, paths(session))),
          isRowPage,
          '{count, headers, items} of row objects',
        ),
    },
    {
      assumption: `${name} honours limit and offset`,
      evaluate: async (session) => paging(await pairs(session, paths(session)), rowsOf),
    },
  ];
}

const isSignedUrl = (json: unknown) => isObject(json) && typeof json.url === 'string' && !('items' in json);
const isDataPage = (json: unknown) =>
  isObject(json) && Array.isArray(json.headers) && Array.isArray(json.items);
const PLOT_DATA = 'lab/experiments/{experiment}/plots/{plot}/data/';
const displayTypeOf = (plot: { display?: { display_type?: string | null } | null }) =>
  plot.display?.display_type ?? 'no display type';

/** The plot data answers that are pages, labelled by display type. */
async function plotPages(session: ProbeSession) {
  return (await session.plotData())
    .filter(({ pages }) => pages.every((page) => page.status === 200 && isDataPage(page.json)))
    .map((data) => ({ ...data, label: displayTypeOf(data.plot) }));
}

const PLOT_DOWNLOAD = 'lab/experiments/{experiment}/plots/{plot}/download/';

/** The header of the CSV behind a plot's download, or undefined when the plot has none. */
async function downloadHeaders(
  session: ProbeSession,
  dataPath: string,
): Promise<readonly string[] | undefined> {
  const path = dataPath.replace(/data\/$/, 'download/');
  const answer = await session.get(path);
  if (answer.status !== 200 || !isSignedUrl(answer.json)) return undefined;
  const served = await session.getSignedFirstLine((answer.json as { url: string }).url, path);
  if (served.status !== 200 || served.contentType !== 'text/csv') return undefined;
  return csvTable(served.text, path).headers;
}

const PLOT_CHECKS: readonly ProbeCheck[] = [
  {
    assumption: `${PLOT_DATA} answers a page {count, headers, items}, not {url}`,
    evaluate: async (session) => {
      const data = await session.plotData();
      if (data.length === 0) return notSeen('no plot to ask for');
      const signed: string[] = [];
      const other: string[] = [];
      for (const { path, pages, plot } of data) {
        const [first] = pages;
        if (first.status === 200 && isDataPage(first.json)) continue;
        if (first.status === 200 && isSignedUrl(first.json)) {
          const served = await session.getSigned((first.json as { url: string }).url, path);
          signed.push(`${served.status === 200 ? served.contentType || 'no type' : served.status}`);
        } else other.push(`${displayTypeOf(plot)}: ${describeAnswer(first)}`);
      }
      if (signed.length === 0 && other.length === 0) return holds(`a page ×${data.length}`);
      const parts = [
        ...(signed.length === 0 ? [] : [`{url}, fetched without the token: ${tally(signed)}`]),
        ...(other.length === 0 ? [] : [tally(other)]),
      ];
      return differs(`a page ×${data.length - signed.length - other.length}; ${parts.join('; ')}`);
    },
  },
  {
    assumption: `${PLOT_DATA} pages carry count`,
    evaluate: async (session) => {
      const pages = (await plotPages(session)).flatMap(({ pages }) => pages);
      if (pages.length === 0) return notSeen('no plot data page');
      const without = pages.filter((page) => !isCount((page.json as Json).count)).length;
      return without === 0
        ? holds(`count ×${pages.length}`)
        : differs(`no count on ${without} of ${pages.length} pages`);
    },
  },
  {
    assumption: `${PLOT_DATA} honours limit and offset`,
    evaluate: async (session) => paging(await plotPages(session), rowsOf),
  },
  {
    assumption: `${PLOT_DATA} items are row objects; column arrays for ${COLUMN_MAJOR_DISPLAY_TYPES.join(', ')}`,
    evaluate: async (session) => {
      const layouts: string[] = [];
      const problems: string[] = [];
      for (const { label, pages } of await plotPages(session)) {
        const items = (pages[0].json as Json).items as unknown[];
        if (items.length === 0) continue;
        const columns = items.every(Array.isArray);
        const layout = `${label}: ${columns ? 'column arrays' : items.every(isObject) ? 'row objects' : 'mixed items'}`;
        layouts.push(layout);
        if (columns !== COLUMN_MAJOR_DISPLAY_TYPES.includes(label) || (!columns && !items.every(isObject))) {
          problems.push(layout);
        }
      }
      if (problems.length > 0) return differs(tally(problems));
      return layouts.length === 0 ? notSeen('no plot data with rows') : holds(tally(layouts));
    },
  },
  {
    assumption: `${PLOT_DOWNLOAD} (CSV) has no more columns than ${PLOT_DATA}`,
    evaluate: async (session) => {
      let compared = 0;
      const wider: string[] = [];
      for (const { path, pages, label } of await plotPages(session)) {
        const headers = await downloadHeaders(session, path);
        if (headers === undefined) continue;
        compared++;
        const dataColumns = ((pages[0].json as Json).headers as unknown[]).length;
        if (headers.length > dataColumns) {
          wider.push(`${label}: download ${headers.length} columns, data ${dataColumns}`);
        }
      }
      if (compared === 0) return notSeen('no plot with a CSV download');
      return wider.length === 0
        ? holds(`no more columns ×${compared}`)
        : differs(`${tally(wider)} (auto reads the download)`);
    },
  },
  {
    assumption: `${PLOT_DATA} has columns, the first one the row key`,
    evaluate: async (session) => {
      const pages = await plotPages(session);
      if (pages.length === 0) return notSeen('no plot data page');
      const empty = pages.filter(({ pages }) => ((pages[0].json as Json).headers as unknown[]).length === 0);
      if (empty.length === 0) return holds(`headers ×${pages.length}`);
      return differs(
        `no columns: ${tally(empty.map(({ plot }) => `analysis type ${plot.analysis_type ?? 'none'}`))}`,
      );
    },
  },
];

const METADATA_CHECKS: readonly ProbeCheck[] = [
  {
    assumption: 'lab/experiments/{experiment}/ answers an experiment with pluto_id and the fields read',
    evaluate: async (session) => {
      const { probed } = session.survey;
      if (probed.length === 0) return notSeen('no experiment to ask for');
      const problems: string[] = [];
      for (const id of probed) {
        const answer = await session.get(`lab/experiments/${encodeURIComponent(id)}/`);
        const problem =
          answer.status === 200 ? schemaProblem(experimentSchema, answer.json) : describeAnswer(answer);
        if (problem !== undefined) problems.push(problem);
      }
      return problems.length === 0 ? holds(`experiment ×${probed.length}`) : differs(tally(problems));
    },
  },
  {
    assumption: 'plots have uuid and the fields read',
    evaluate: async (session) => {
      const { plots } = session.survey;
      if (plots.length === 0) return notSeen('no plot listed');
      const problems = plots
        .map(({ plot }) => schemaProblem(plotSchema, plot))
        .filter((p) => p !== undefined);
      return problems.length === 0 ? holds(`plot ×${plots.length}`) : differs(tally(problems));
    },
  },
];

const ANALYSIS_CHECKS: readonly ProbeCheck[] = [
  {
    assumption: 'plot analyses are complete, none pending',
    evaluate: async (session) => {
      const { plots } = session.survey;
      if (plots.length === 0) return notSeen('no plot listed');
      const pending = plots.filter(({ parsed }) => parsed !== undefined && isPendingAnalysis(parsed)).length;
      return pending === 0
        ? holds(`not pending ×${plots.length}`)
        : differs(`pending ×${pending} of ${plots.length} (their data is not read)`);
    },
  },
  {
    assumption: 'each analysis is shown by one plot',
    evaluate: async (session) => {
      const byAnalysis = new Map<string, number>();
      for (const { plot } of session.survey.plots) {
        const analysis = isObject(plot.analysis) ? plot.analysis.uuid : undefined;
        if (typeof analysis === 'string') byAnalysis.set(analysis, (byAnalysis.get(analysis) ?? 0) + 1);
      }
      if (byAnalysis.size === 0) return notSeen('no plot names its analysis');
      const shared = [...byAnalysis.values()].filter((plots) => plots > 1);
      return shared.length === 0
        ? holds(`${byAnalysis.size} analyses, one plot each`)
        : differs(
            `${shared.length} of ${byAnalysis.size} analyses shown by several plots (${tally(shared.map((n) => `${n} plots`))})`,
          );
    },
  },
  {
    assumption: `an unknown id answers 400 {code: ${INVALID_OBJECT_ID}, message}`,
    evaluate: async (session) => {
      const answer = await session.get(`lab/experiments/${UNKNOWN_EXPERIMENT_ID}/`);
      const body = isObject(answer.json) ? answer.json : {};
      const fits =
        answer.status === 400 && body.code === INVALID_OBJECT_ID && typeof body.message === 'string';
      const seen = `${answer.status}${
        isObject(answer.json)
          ? ` {${Object.keys(body)
              .map((key) => (key === 'code' && typeof body.code === 'string' ? `code: ${body.code}` : key))
              .join(', ')}}`
          : ''
      }`;
      return fits ? holds(seen) : differs(seen);
    },
  },
];

const isFileGroup = (group: unknown): group is { count: number; items: unknown[] } =>
  isObject(group) && isCount(group.count) && Array.isArray(group.items);

/** The file groups (`{<data type>: {count, items}}`) of the probed experiments. */
async function fileGroups(session: ProbeSession) {
  const groups: { count: number; items: unknown[] }[] = [];
  for (const id of session.survey.probed) {
    const answer = await session.get(`lab/experiments/${encodeURIComponent(id)}/files/`);
    if (answer.status === 200 && isObject(answer.json))
      groups.push(...Object.values(answer.json).filter(isFileGroup));
  }
  return groups;
}

const RESOURCE_CHECKS: readonly ProbeCheck[] = [
  {
    assumption: 'lab/projects/{project}/ answers the project',
    evaluate: async (session) => {
      const [id] = session.survey.projectIds;
      if (id === undefined) return notSeen('no project listed');
      const answer = await session.get(`lab/projects/${encodeURIComponent(id)}/`);
      const problem =
        answer.status === 200 ? schemaProblem(projectSchema, answer.json) : describeAnswer(answer);
      return problem === undefined ? holds('project') : differs(problem);
    },
  },
  {
    assumption: "analyses/{analysis}/ answers each plot's analysis",
    evaluate: async (session) => {
      const uuids = [
        ...new Set(
          session.probedPlots().flatMap(({ plot }) => (plot.analysis?.uuid ? [plot.analysis.uuid] : [])),
        ),
      ];
      if (uuids.length === 0) return notSeen('no plot names its analysis');
      const answers = [];
      for (const uuid of uuids)
        answers.push({
          label: 'analyses/{analysis}/',
          answer: await session.get(`analyses/${encodeURIComponent(uuid)}/`),
        });
      return everyAnswer(answers, (answer) => answer.status === 200 && isObject(answer.json), 'analysis');
    },
  },
  {
    assumption:
      'lab/experiments/{experiment}/files/ answers {<data type>: {count, items}}, every item at once',
    evaluate: async (session) => {
      const groups = await fileGroups(session);
      if (groups.length === 0) return notSeen('no file group');
      const short = groups.filter((group) => group.items.length < group.count).length;
      return short === 0
        ? holds(`group ×${groups.length}`)
        : differs(`fewer items than count in ${short} of ${groups.length} groups`);
    },
  },
  {
    assumption: 'lab/experiments/{experiment}/qc-report/ answers a file record {uuid, filename}, or 404',
    evaluate: async (session) => {
      const answers = [];
      for (const id of session.survey.probed) {
        const answer = await session.get(`lab/experiments/${encodeURIComponent(id)}/qc-report/`);
        if (answer.status !== 404) answers.push({ label: 'qc-report/', answer });
      }
      if (answers.length === 0) return notSeen('no QC report');
      return everyAnswer(
        answers,
        (answer) => answer.status === 200 && schemaProblem(fileItemSchema, answer.json) === undefined,
        'file record',
      );
    },
  },
  {
    assumption: 'file items carry a size',
    evaluate: async (session) => {
      const items = (await fileGroups(session)).flatMap((group) => group.items);
      if (items.length === 0) return notSeen('no file item');
      const sized = (item: unknown) => isObject(item) && (isCount(item.file_size) || isCount(item.size));
      const without = items.filter((item) => !sized(item)).length;
      return without === 0
        ? holds(`size ×${items.length}`)
        : differs(`no size on ${without} of ${items.length} items`);
    },
  },
];

function schemaProblem(
  schema: typeof experimentSchema | typeof plotSchema | typeof projectSchema | typeof fileItemSchema,
  value: unknown,
): string | undefined {
  const result = schema.safeParse(value);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  return `${issue?.path.join('.') || 'the object'}: ${issue?.message ?? 'invalid'}`;
}

/** In the order the table shows them. */
export const CHECKS: readonly ProbeCheck[] = [
  ...LIST_ENDPOINTS.flatMap(listChecks),
  ...METADATA_CHECKS,
  ...DATA_ENDPOINTS.flatMap(dataChecks),
  ...PLOT_CHECKS,
  ...ANALYSIS_CHECKS,
  ...RESOURCE_CHECKS,
];
