/**
 * The lake contract's cell rules (design.md, Lake contract), written out independently of functions/core/melt.ts
 * so that end-to-end tests compare the exporter with the specification, not with itself.
 */
import { LosslessNumber } from '../../functions/core/pluto/model.js';
import type { DatasetTruth } from '../../functions/simulator/index.js';

const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** `assay` / `results`: value when the cell is a finite number; value_text whenever value does not hold it exactly. */
export function numericCell(cell: unknown): { value: number | null; valueText: string | null } {
  if (cell === null || cell === undefined) return { value: null, valueText: null };
  if (cell instanceof LosslessNumber) return { value: Number(cell.text), valueText: cell.text };
  if (typeof cell === 'number') return { value: cell, valueText: null };
  const text = String(cell);
  if (DECIMAL.test(text.trim()) && Number.isFinite(Number(text))) {
    const value = Number(text);
    return { value, valueText: String(value) === text ? null : text };
  }
  return { value: null, valueText: text };
}

/** `samples`: value is the text as returned; value_number the number when it is one. */
export function sampleCell(cell: unknown): { value: string | null; valueNumber: number | null } {
  if (cell === null || cell === undefined) return { value: null, valueNumber: null };
  if (cell instanceof LosslessNumber) return { value: cell.text, valueNumber: Number(cell.text) };
  if (typeof cell === 'number') return { value: String(cell), valueNumber: cell };
  const text = String(cell);
  const number = DECIMAL.test(text.trim()) ? Number(text) : Number.NaN;
  return { value: text, valueNumber: Number.isFinite(number) ? number : null };
}

export interface TidyCell {
  rowNumber: number;
  key: string;
  column: string;
  cell: unknown;
}

/** Every (row, non-key column) cell of a dataset, in API order. */
export function* tidyCells(dataset: DatasetTruth): Generator<TidyCell> {
  for (let row = 0; row < dataset.rowCount; row++) {
    const cells = dataset.row(row);
    const key = cells[0] instanceof LosslessNumber ? cells[0].text : String(cells[0]);
    for (let column = 1; column < dataset.headers.length; column++) {
      yield { rowNumber: row, key, column: dataset.headers[column] ?? '', cell: cells[column] };
    }
  }
}
