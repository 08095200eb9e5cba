/**
 * Reading ahead: the source's next items are requested while the consumer still works on the
 * current one, so a fetch overlaps the processing of the page before it. The source still runs
 * one step at a time and in order: an async generator queues the requests.
 */
export async function* prefetched<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const ahead: Promise<IteratorResult<T>>[] = [];
  try {
    for (;;) {
      while (ahead.length <= depth) {
        const next = iterator.next();
        // Settled by the loop below, or dropped when the consumer stops early.
        next.catch(() => undefined);
        ahead.push(next);
      }
      const result = await (ahead.shift() as Promise<IteratorResult<T>>);
      if (result.done === true) return;
      yield result.value;
    }
  } finally {
    // Queued behind the requests already made: the source ends once they have settled.
    await iterator.return?.();
  }
}
