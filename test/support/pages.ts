import type { DataPage } from '../../functions/core/pluto/model.js';

/** A data page as the client hands it over, from row-major cells. */
export function rowsPage(headers: string[], rows: unknown[][], offset = 0): DataPage {
  return {
    count: offset + rows.length,
    headers,
    offset,
    rowCount: rows.length,
    columns: headers.map((_, i) => rows.map((row) => row[i])),
    layout: 'rows',
  };
}

/** A column-major (`volcano_plot_v2`) data page. */
export function columnsPage(headers: string[], columns: unknown[][], offset = 0): DataPage {
  return {
    count: offset + (columns[0]?.length ?? 0),
    headers,
    offset,
    rowCount: columns[0]?.length ?? 0,
    columns,
    layout: 'columns',
  };
}
