/**
 * A hostile stand-in for Pluto: the simulator, whose ground truth stays intact, answering through
 * a fault plan of hostile answers that a test swaps case by case. It is bounded so that a client
 * that never stops cannot keep it busy: past `maxRequests` it answers every request with a 503,
 * and after `lifetimeMs` it closes by itself.
 */
import { createFaultPlan, type FaultPlan, type FaultRule } from './faults.js';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from './index.js';

export interface HostileOptions extends Omit<SimulatorOptions, 'faults'> {
  /** Requests answered before every further one gets a 503. Default 2,000. */
  readonly maxRequests?: number;
  /** The server closes itself this long after it started. Default 15 minutes. */
  readonly lifetimeMs?: number;
}

export interface RunningHostile extends RunningSimulator {
  /** Replaces the hostile answers (none: the normal simulator) and clears the request log. */
  use(rules: readonly FaultRule[]): FaultPlan;
  /** True once more than `maxRequests` requests arrived. */
  readonly exhausted: boolean;
}

export async function startHostileSimulator(options: HostileOptions = {}): Promise<RunningHostile> {
  const maxRequests = options.maxRequests ?? 2_000;
  let plan = createFaultPlan([]);
  let seen = 0;
  const simulator = await startSimulator({
    ...options,
    faults: (request) => {
      seen++;
      if (seen > maxRequests)
        return { kind: 'status', status: 503, body: { detail: 'request budget spent' } };
      return plan.hook(request);
    },
  });
  let closed: Promise<void> | undefined;
  const closeOnce = () => {
    closed ??= simulator.close();
    return closed;
  };
  const lifetime = setTimeout(() => void closeOnce().catch(() => undefined), options.lifetimeMs ?? 900_000);
  lifetime.unref();
  return {
    url: simulator.url,
    truth: simulator.truth,
    requests: simulator.requests,
    get exhausted() {
      return seen > maxRequests;
    },
    use(rules) {
      plan = createFaultPlan(rules);
      seen = 0;
      simulator.requests.reset();
      return plan;
    },
    async close() {
      clearTimeout(lifetime);
      await closeOnce();
    },
  };
}
