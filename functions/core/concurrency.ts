/** `fn` over every item with at most `limit` calls in flight; results keep the items' order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * How the workflow spreads its Pluto budget: `experiments` at once (MaxConcurrency of
 * ExportExperiments), each with `slots` ExportSlots at once (MaxConcurrency of ExportSlots).
 * Each ExportSlot has one request in flight, so the product bounds the requests of the slots.
 */
export interface MapConcurrency {
  readonly experiments: number;
  readonly slots: number;
}

/** The most requests in flight a deployment may allow Pluto (infra/config.ts plutoConcurrency). */
export const MAX_PLUTO_CONCURRENCY = 100;

/**
 * The split of a budget of `plutoConcurrency` requests in flight over the two Maps, whose product
 * stays within it (design.md, Network-bound).
 */
export function mapConcurrency(plutoConcurrency: number): MapConcurrency {
  const experiments = Math.ceil(Math.sqrt(plutoConcurrency));
  return { experiments, slots: Math.max(1, Math.floor(plutoConcurrency / experiments)) };
}

/**
 * Runs the tasks given to it with at most `limit` running, in the order they were given. After a
 * task fails, the tasks still waiting do not start and fail with that error: a run-fatal answer
 * (a refused token) stops the requests as it would stop a step that makes them one by one.
 */
export function limiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  let failed: { error: unknown } | undefined;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running < limit) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      if (failed !== undefined) throw failed.error;
      return await task();
    } catch (error) {
      failed ??= { error };
      throw error;
    } finally {
      // The place passes straight to the next waiting task, so none can start in between.
      const next = waiting.shift();
      if (next === undefined) running--;
      else next();
    }
  };
}

/**
 * Awaits every promise, then gives their values in order or throws the error of the first one (in
 * order, not in time) that failed: what a step makes concurrently fails as it would in sequence.
 */
export async function allInOrder<T extends readonly unknown[]>(
  promises: {
    readonly [K in keyof T]: Promise<T[K]>;
  },
): Promise<T> {
  const settled = await Promise.allSettled(promises);
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
