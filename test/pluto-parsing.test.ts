import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  PageDriftError,
  PlutoBadResponseError,
  PlutoForbiddenError,
  PlutoRateLimitedError,
  PlutoUpstreamError,
} from '../functions/core/errors.js';
import { parseRetryAfter, validateToken } from '../functions/core/pluto/client.js';
import { toDataPage } from '../functions/core/pluto/data-page.js';
import { mayHoldUnsafeInteger, parseJsonExact, parseJsonLossless } from '../functions/core/pluto/json.js';
import { LosslessNumber } from '../functions/core/pluto/model.js';
import { backoffDelay, withRetry } from '../functions/core/pluto/retry.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('lossless JSON', () => {
  const corpus = [
    '{}',
    '[]',
    ' \n\t[ 1 , -0, 0.5, -12.25e-3, 1E+21, 123456789012345, 9007199254740991, -9007199254740991 ] ',
    '{"a":"x\\"y\\\\","b":[true,false,null],"c":{"d":"\\u00e9\\n\\t\\/"}}',
    '"Zoë Ångström — µ ✓ \\ud83e\\uddec"',
    '{"headers":["gene_symbol","S 1","treatment.dose"],"items":[{"gene_symbol":"TP53","S 1":"NA","treatment.dose":0.1234567890123456789}]}',
    '{"a":1,"a":2}',
    '0.12345678901234567890',
  ];

  it('the exact parser agrees with JSON.parse wherever doubles are exact', () => {
    for (const text of corpus) expect(parseJsonExact(text)).toStrictEqual(JSON.parse(text));
  });

  it('keeps integer literals beyond 2^53 as LosslessNumber with their exact text', () => {
    const parsed = parseJsonLossless(
      '{"id":12345678901234567891,"neg":-9007199254740993,"safe":9007199254740991,"big":1e300,"cells":[90071992547409930,1.5]}',
    );
    expect(parsed).toStrictEqual({
      id: new LosslessNumber('12345678901234567891'),
      neg: new LosslessNumber('-9007199254740993'),
      safe: 9007199254740991,
      big: 1e300,
      cells: [new LosslessNumber('90071992547409930'), 1.5],
    });
    expect(JSON.stringify(parsed)).toContain('"id":"12345678901234567891"');
  });

  it('takes the native fast path unless an integer literal has 16 or more digits', () => {
    expect(mayHoldUnsafeInteger('[123456789012345, 0.12345678901234567, 1.2345678901234567e-300]')).toBe(
      false,
    );
    expect(mayHoldUnsafeInteger('[1234567890123456]')).toBe(true);
    expect(mayHoldUnsafeInteger('{"a":-12345678901234567}')).toBe(true);

    const parse = vi.spyOn(JSON, 'parse');
    const doubles = '[0.12345678901234567, 3.5, "NA"]';
    expect(parseJsonLossless(doubles)).toEqual([Number('0.12345678901234567'), 3.5, 'NA']);
    expect(parse).toHaveBeenCalledTimes(1);
    expect(parse).toHaveBeenCalledWith(doubles);

    parse.mockClear();
    const big = '[12345678901234567891, 7]';
    expect(parseJsonLossless(big)).toStrictEqual([new LosslessNumber('12345678901234567891'), 7]);
    expect(parse).not.toHaveBeenCalledWith(big);
  });

  it('rejects what JSON.parse rejects, with a SyntaxError', () => {
    for (const text of [
      '',
      '[1,',
      '{"a":1',
      '{"a" 1}',
      '[1] x',
      '"a\u0001b"',
      '"\\x"',
      '[01]',
      'nul',
      '{a:1}',
      '[1,]',
    ]) {
      expect(() => JSON.parse(text), text).toThrow(SyntaxError);
      expect(() => parseJsonExact(text), text).toThrow(SyntaxError);
    }
    expect(() => parseJsonExact(`${'['.repeat(10_000)}${']'.repeat(10_000)}`)).toThrow(SyntaxError);
  });

  it('treats "__proto__" as a plain key, as JSON.parse does', () => {
    const parsed = parseJsonExact('{"__proto__":{"polluted":12345678901234567890}}') as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('parses a 10,000-row page holding big integers exactly', () => {
    const rows = Array.from(
      { length: 10_000 },
      (_, i) => `{"id":"g${i}","barcode":${9_100_000_000_000_000_000n + BigInt(i)},"x":${i / 7}}`,
    );
    const text = `{"count":10000,"headers":["id","barcode","x"],"items":[${rows.join(',')}]}`;
    const page = toDataPage(parseJsonLossless(text), 0, 10_000, 'test');
    expect(page.rowCount).toBe(10_000);
    expect(page.columns[1]?.[9_999]).toStrictEqual(new LosslessNumber('9100000000000009999'));
    expect(page.columns[2]?.[9_999]).toBe(9_999 / 7);
  });
});

describe('data page normalization', () => {
  const headers = ['Gene_Symbol', 'P_Value'];

  it('normalizes row objects and column arrays to the same columns', () => {
    const rows = toDataPage(
      {
        count: 5,
        headers,
        items: [
          { Gene_Symbol: 'A', P_Value: 0.1 },
          { P_Value: 'NA', Gene_Symbol: 'B' },
          { Gene_Symbol: 'C' },
        ],
      },
      2,
      3,
      'x',
    );
    const columns = toDataPage(
      {
        count: 5,
        headers,
        items: [
          ['A', 'B', 'C'],
          [0.1, 'NA', null],
        ],
      },
      2,
      3,
      'x',
    );
    expect(rows).toEqual({ ...columns, layout: 'rows' });
    expect(columns).toMatchObject({ layout: 'columns', rowCount: 3, offset: 2, count: 5 });
    expect(columns.columns).toEqual([
      ['A', 'B', 'C'],
      [0.1, 'NA', null],
    ]);
  });

  it('accepts an empty page in either shape', () => {
    expect(toDataPage({ count: 0, headers, items: [] }, 0, 10, 'x')).toMatchObject({
      rowCount: 0,
      columns: [[], []],
    });
    expect(toDataPage({ count: 0, headers, items: [[], []] }, 0, 10, 'x')).toMatchObject({
      rowCount: 0,
      columns: [[], []],
      layout: 'columns',
    });
  });

  it('reads a page without count, asked for in one request, as the whole dataset in either shape', () => {
    const rows = {
      headers,
      items: [
        { Gene_Symbol: 'A', P_Value: 0.1 },
        { Gene_Symbol: 'B', P_Value: 0.2 },
      ],
    };
    const columns = {
      headers,
      items: [
        ['A', 'B', 'C'],
        [0.1, 0.2, 0.3],
      ],
    };
    expect(toDataPage(rows, 0, 100, 'x', true)).toMatchObject({ count: 2, rowCount: 2, whole: true });
    expect(toDataPage(columns, 0, 100, 'x', true)).toMatchObject({
      count: 3,
      rowCount: 3,
      layout: 'columns',
      whole: true,
    });
    // Paged reads (sample and assay data) still need the count.
    expect(() => toDataPage(rows, 0, 100, 'x')).toThrow('`count` is not a non-negative integer');
    expect(() => toDataPage({ ...rows, count: null }, 0, 100, 'x', true)).toThrow(
      '`count` is not a non-negative integer',
    );
  });

  it('rejects malformed pages as bad responses', () => {
    const cases: [unknown, string][] = [
      [[], 'the body is not an object'],
      [{ count: -1, headers, items: [] }, '`count` is not a non-negative integer'],
      [{ count: 1, headers: ['a', 2], items: [] }, '`headers` is not a list of strings'],
      [{ count: 1, headers, items: {} }, '`items` is not a list'],
      [{ count: 2, headers, items: [{ Gene_Symbol: 'A' }, ['A']] }, 'mixes row objects'],
      [{ count: 2, headers, items: [1, 2] }, 'mixes row objects'],
      [{ count: 2, headers, items: [['A', 'B']] }, '1 column arrays for 2 headers'],
      [
        { count: 2, headers, items: [['A', 'B'], [1]] },
        'column "P_Value" has 1 cells, column "Gene_Symbol" has 2',
      ],
      [
        { count: 2, headers, items: [{ Gene_Symbol: 'A', gene_symbol: 'a' }] },
        'row 0 has a key "gene_symbol"',
      ],
      [{ count: 2, headers: ['a', 'a'], items: [{ a: 1 }] }, 'header "a" appears twice'],
    ];
    for (const [body, message] of cases) {
      expect(() => toDataPage(body, 0, 10, 'lab/x/'), message).toThrow(PlutoBadResponseError);
      expect(() => toDataPage(body, 0, 10, 'lab/x/'), message).toThrow(message);
    }
  });

  it('reports a page longer than its limit, or beyond its count, as drift', () => {
    const three = {
      count: 9,
      headers,
      items: [
        ['A', 'B', 'C'],
        [1, 2, 3],
      ],
    };
    expect(() => toDataPage(three, 0, 2, 'x')).toThrow(PageDriftError);
    expect(() => toDataPage(three, 0, 2, 'x')).toThrow('page longer than limit');
    expect(() => toDataPage(three, 7, 3, 'x')).toThrow('beyond its count of 9');
  });
});

describe('retry policy', () => {
  it('grows the full-jitter ceiling from 250 ms and caps it at 20 s', () => {
    expect([1, 2, 3, 4, 7, 8, 9, 50].map((attempt) => backoffDelay(attempt, () => 0.999999))).toEqual([
      249, 499, 999, 1999, 15_999, 19_999, 19_999, 19_999,
    ]);
    expect(backoffDelay(5, () => 0)).toBe(0);
  });

  it('honours Retry-After, retries within the budget and stops at its end', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls === 1) throw new PlutoRateLimitedError('429', { retryAfterMs: 4000 });
        if (calls < 4) throw new PlutoUpstreamError('503');
        return 'ok';
      },
      { budgetMs: 10_000, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5, now: () => 0 },
    );
    expect(result).toBe('ok');
    expect(sleeps).toEqual([4000, 250, 500]);

    let attempts = 0;
    const exhausted = withRetry(
      async () => {
        attempts++;
        throw new PlutoUpstreamError('502');
      },
      { budgetMs: 3000, sleep: async () => {}, random: () => 1, now: () => 0 },
    );
    await expect(exhausted).rejects.toThrow(PlutoUpstreamError);
    // 250 + 500 + 1000 + 1250 (what was left) = 3000, then the final attempt.
    expect(attempts).toBe(5);
  });

  it('throws non-retryable errors and over-budget Retry-After at once', async () => {
    let attempts = 0;
    const forbidden = withRetry(
      async () => {
        attempts++;
        throw new PlutoForbiddenError('403');
      },
      { budgetMs: 60_000, sleep: async () => {}, random: () => 0.5 },
    );
    await expect(forbidden).rejects.toThrow(PlutoForbiddenError);
    const throttled = withRetry(
      async () => {
        attempts++;
        throw new PlutoRateLimitedError('429', { retryAfterMs: 61_000 });
      },
      { budgetMs: 60_000, sleep: async () => {}, random: () => 0.5 },
    );
    await expect(throttled).rejects.toMatchObject({ name: 'PlutoRateLimitedError', retryAfterMs: 61_000 });
    expect(attempts).toBe(2);
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 0);
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter('Wed, 01 Jan 2025 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('accepts exactly 40 letters and digits as a token', () => {
    const token = 'a1B2'.repeat(10);
    expect(validateToken(token)).toBe(token);
    for (const bad of [token.slice(1), `${token}x`, `${token.slice(1)}_`, `${token.slice(1)}é`]) {
      expect(() => validateToken(bad)).toThrow(
        'the Pluto API token is malformed (expected 40 letters and digits)',
      );
    }
  });
});
