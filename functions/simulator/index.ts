/**
 * A Pluto API simulator: a real HTTP server on 127.0.0.1 serving a seeded organisation with the
 * shapes of design.md (Pluto API), plus the ground truth tests compare against. Free of test-runner imports so
 * the CLI (`pluto-export simulate`, `npm start`) can run it too.
 */
import { type FaultHook, type LatencyModel, type RequestLog, serve, type UnknownIdAnswer } from './server.js';
import { type SimulatorTruth, type SimulatorVariant, World } from './world.js';

export { fileBytes, type SimulatedFile } from './catalogue.js';
export {
  createFaultPlan,
  DAMAGED_BODY_FAULTS,
  DATA_ENDPOINTS,
  type Fault,
  type FaultKind,
  type FaultPlan,
  type FaultRule,
  type FiredFault,
  fits,
  LIST_ENDPOINTS,
  type RequestFilter,
  TRANSIENT_FAULTS,
} from './faults.js';
export {
  DEFAULT_LIMIT,
  type EndpointKind,
  type FaultAction,
  type FaultHook,
  type FaultRequest,
  type LatencyModel,
  type RequestLog,
  type RequestRecord,
  type UnknownIdAnswer,
} from './server.js';
export {
  ASSAY_SPECIALS,
  type DatasetName,
  type DatasetTruth,
  type ExperimentTruth,
  type ListedExperiment,
  type ProjectTruth,
  SAMPLE_HEADERS,
  SIMULATOR_VARIANTS,
  type SimulatorTruth,
  type SimulatorVariant,
  UNICODE_NOTE,
} from './world.js';

/** The token the simulator accepts unless told otherwise: 40 letters and digits, like Pluto's keys. */
export const SIMULATOR_TOKEN = 'plutoSimulatorToken000000000000000000000';

export interface SimulatorOptions {
  /** Everything served follows from it. Default 42. */
  seed?: number;
  /** Listed experiments (default 6); with two or more, one of them (never the first) answers 403. */
  experiments?: number;
  /** Default 2; with three or more experiments the last one is outside every project. */
  projects?: number;
  /** Assay rows per experiment, inclusive range. Default [20000, 30000]. */
  genes?: readonly [min: number, max: number];
  /** Samples per experiment, inclusive range. Default [6, 48]. */
  samples?: readonly [min: number, max: number];
  /** False: no experiment has a plot, as in a lab that has only uploaded data. Default true. */
  plots?: boolean;
  token?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Consulted for every request; an action replaces or damages the normal answer. */
  faults?: FaultHook;
  /** Uncertain behaviours of the real API to switch on (see SIMULATOR_VARIANTS). */
  variants?: readonly SimulatorVariant[];
  /** How unknown ids are answered; default `invalid_object_id` (400), as Pluto does. */
  unknownIds?: UnknownIdAnswer;
  /** A network to answer through (the benchmark's); default none, answers go out at once. */
  latency?: LatencyModel;
}

export interface RunningSimulator {
  /** Base URL, ending with `/`. */
  readonly url: string;
  readonly truth: SimulatorTruth;
  readonly requests: RequestLog;
  close(): Promise<void>;
}

function range(
  value: readonly [number, number] | undefined,
  fallback: readonly [number, number],
  what: string,
) {
  const [min, max] = value ?? fallback;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max < min) {
    throw new RangeError(`simulator ${what} must be integers with 1 <= min <= max, got [${min}, ${max}]`);
  }
  return [min, max] as const;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const world = new World(options.token ?? SIMULATOR_TOKEN, {
    variants: options.variants ?? [],
    seed: options.seed ?? 42,
    experiments: options.experiments ?? 6,
    projects: options.projects ?? 2,
    genes: range(options.genes, [20_000, 30_000], 'genes'),
    samples: range(options.samples, [6, 48], 'samples'),
    ...(options.plots === undefined ? {} : { plots: options.plots }),
  });
  const http = await serve(world, {
    port: options.port ?? 0,
    faults: options.faults,
    unknownIds: options.unknownIds,
    latency: options.latency,
  });
  return { url: http.url, truth: world, requests: http.requests, close: () => http.close() };
}
