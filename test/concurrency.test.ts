import { describe, expect, it } from 'vitest';
import { mapConcurrent } from '../functions/core/concurrency.js';

describe('mapConcurrent', () => {
  it('keeps the order of the items and never exceeds the limit', async () => {
    let inFlight = 0;
    let most = 0;
    const items = Array.from({ length: 50 }, (_, i) => i);
    const results = await mapConcurrent(items, 7, async (item) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, (item * 7) % 5));
      inFlight--;
      return item * 2;
    });
    expect(results).toEqual(items.map((item) => item * 2));
    expect(most).toBe(7);
  });

  it('returns nothing for no items and rejects with the first failure', async () => {
    expect(await mapConcurrent([], 4, async () => 1)).toEqual([]);
    await expect(
      mapConcurrent([1, 2, 3], 2, async (item) => {
        if (item === 2) throw new Error('item 2 failed');
        return item;
      }),
    ).rejects.toThrow('item 2 failed');
  });
});
