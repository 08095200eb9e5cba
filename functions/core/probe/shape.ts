/**
 * What `probe --save` writes instead of Pluto's answers: their shapes. Keys of Pluto's objects are
 * API field names and stay; every value becomes its type. Inside a data page the keys are header
 * names (sample attributes, sample ids), which are the lab's data, so rows keep only their size.
 */

export type Shape =
  | 'null'
  | 'boolean'
  | 'number'
  | 'string'
  | { readonly list: number; readonly of: readonly Shape[] }
  | { readonly object: { readonly [key: string]: Shape } }
  | { readonly row: number; readonly of: readonly Shape[] };

/** At most this many different element shapes are kept per list. */
const MAX_ELEMENT_SHAPES = 4;
const MAX_DEPTH = 8;

export function shapeOf(value: unknown, options: { dataPage?: boolean } = {}): Shape {
  return describe(value, options.dataPage === true ? 'page' : 'plain', 0);
}

/** `page`: the top of a data page; `items`: the page's rows or columns; `row`: one row object. */
type Where = 'plain' | 'page' | 'items' | 'row';

function describe(value: unknown, where: Where, depth: number): Shape {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'string') return 'string';
  if (depth >= MAX_DEPTH) return { list: 0, of: [] };
  if (Array.isArray(value)) {
    // A data page that is a bare list (a signed URL's JSON) holds rows too.
    const rows = where === 'items' || where === 'page';
    return { list: value.length, of: elementShapes(value, rows ? 'items' : 'plain', depth) };
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (where === 'row' || where === 'items') {
    return {
      row: entries.length,
      of: elementShapes(
        entries.map(([, cell]) => cell),
        'plain',
        depth,
      ),
    };
  }
  return {
    object: Object.fromEntries(
      entries.map(([key, field]) => [
        key,
        where === 'page' && (key === 'items' || key === 'headers')
          ? describeItems(field, depth)
          : describe(field, 'plain', depth + 1),
      ]),
    ),
  };
}

function describeItems(items: unknown, depth: number): Shape {
  if (!Array.isArray(items)) return describe(items, 'plain', depth + 1);
  return { list: items.length, of: elementShapes(items, 'items', depth) };
}

function elementShapes(values: readonly unknown[], where: Where, depth: number): Shape[] {
  const seen = new Map<string, Shape>();
  for (const value of values) {
    const shape = describe(value, where === 'items' && !Array.isArray(value) ? 'row' : where, depth + 1);
    const key = JSON.stringify(shape);
    if (!seen.has(key)) seen.set(key, shape);
    if (seen.size >= MAX_ELEMENT_SHAPES) break;
  }
  return [...seen.values()];
}
