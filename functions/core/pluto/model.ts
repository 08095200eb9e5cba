/**
 * The Pluto API as far as it is known (design.md, Pluto API). Every schema tolerates unknown fields and
 * missing optional ones: only what the sources show is assumed.
 */
import { z } from 'zod';

const person = z.looseObject({ first_name: z.string().nullish(), last_name: z.string().nullish() }).nullish();
const shortnamed = z.looseObject({ shortname: z.string().nullish() }).nullish();

/**
 * Pluto's R client documents a project's `uuid, pluto_id, name, share_level, owner,
 * experiments_count, is_archived, created_at`; `description` is read where present.
 */
export const projectSchema = z.looseObject({
  pluto_id: z.string().optional(),
  uuid: z.string().optional(),
  name: z.string().nullish(),
  description: z.string().nullish(),
  share_level: z.string().nullish(),
  owner: person,
  experiments_count: z.number().int().nullish(),
  is_archived: z.boolean().nullish(),
  created_at: z.string().nullish(),
});
export type PlutoProject = z.infer<typeof projectSchema>;

export const experimentSchema = z.looseObject({
  pluto_id: z.string(),
  uuid: z.string().nullish(),
  name: z.string().nullish(),
  description: z.string().nullish(),
  is_archived: z.boolean().nullish(),
  // The R client: "organism (e.g. human) and genome build, if relevant".
  organism: z.looseObject({ shortname: z.string().nullish(), genome_build: z.string().nullish() }).nullish(),
  type: shortnamed,
  share_level: z.string().nullish(),
  status: z.string().nullish(),
  assay_data_units: z.looseObject({ units: shortnamed }).nullish(),
  plot_count: z.number().int().nullish(),
  experiment_owner: person,
  created_by: person,
  created_at: z.string().nullish(),
  user_permissions: z.array(z.unknown()).nullish(),
});
export type PlutoExperiment = z.infer<typeof experimentSchema>;

export const plotSchema = z.looseObject({
  uuid: z.string(),
  analysis_type: z.string().nullish(),
  analysis: z
    .looseObject({
      uuid: z.string().nullish(),
      name: z.string().nullish(),
      pipeline_status: z.string().nullish(),
      pipeline_version: z.union([z.string(), z.number()]).nullish(),
    })
    .nullish(),
  display: z
    .looseObject({
      display_type: z.string().nullish(),
      plot_title: z.string().nullish(),
      is_archived: z.boolean().nullish(),
    })
    .nullish(),
  share_level: z.string().nullish(),
  status: z.string().nullish(),
});
export type PlutoPlot = z.infer<typeof plotSchema>;

/**
 * Pluto's R client names `pending` among an analysis's statuses, as `analysis.pipeline_status`
 * and as the plot's `status`: such an analysis has no results yet, so its data is not read.
 */
export function isPendingAnalysis(plot: PlutoPlot): boolean {
  return plot.analysis?.pipeline_status === 'pending' || plot.status === 'pending';
}

/**
 * `analyses/{uuid}/`, as Pluto's Python SDK reads it. Only `uuid` is relied on; methods and
 * parameters are kept as given.
 */
export const analysisSchema = z.looseObject({
  uuid: z.string().nullish(),
  analysis_type: z.string().nullish(),
  name: z.string().nullish(),
  pipeline_version: z.union([z.string(), z.number()]).nullish(),
  pipeline_status: z.string().nullish(),
  methods: z.string().nullish(),
  parameters: z.unknown().optional(),
  created_at: z.string().nullish(),
});
export type PlutoAnalysis = z.infer<typeof analysisSchema>;

/**
 * One item of `lab/experiments/{id}/files/`. Pluto's R client reads `uuid` and `filename`; the
 * size and checksum fields are read under the names uploads use (`file_size`) or `size`, where present.
 */
export const fileItemSchema = z.looseObject({
  uuid: z.string(),
  filename: z.string().nullish(),
  file_name: z.string().nullish(),
  file_size: z.number().int().nonnegative().nullish(),
  size: z.number().int().nonnegative().nullish(),
  checksum: z.string().nullish(),
  md5: z.string().nullish(),
  created_at: z.string().nullish(),
});
export type PlutoFileItem = z.infer<typeof fileItemSchema>;

/** A file of the inventory with the group (data type) it was listed in. */
export interface PlutoFile {
  readonly dataType: string;
  readonly item: PlutoFileItem;
}

/** One group of the files answer: `{<data_type>: {count, items}}`. */
export const fileGroupSchema = z.looseObject({
  count: z.number().int().nonnegative(),
  items: z.array(z.unknown()),
});

export const listEnvelopeSchema = z.looseObject({
  count: z.number().int().nonnegative(),
  items: z.array(z.unknown()),
});

export type DatasetKind = 'samples' | 'assay' | 'results';

/** Where a plot's results are read: its data pages, or the complete CSV its download gives. */
export type ResultsOrigin = 'data' | 'download';

export type DatasetRef =
  | { readonly kind: 'samples'; readonly experimentId: string }
  | { readonly kind: 'assay'; readonly experimentId: string }
  | {
      readonly kind: 'results';
      readonly experimentId: string;
      readonly plotId: string;
      /** Default `data`; `download` is read whole, as one page, whatever the offset and limit. */
      readonly from?: ResultsOrigin;
    };

export type ResultsRef = Extract<DatasetRef, { kind: 'results' }>;

/**
 * One page of a tabular dataset, normalized to columns: `columns[i]` holds the cells of
 * `headers[i]` for the rows of this page, in API order. Cells are JSON values as parsed
 * (numbers beyond 2^53 arrive as `LosslessNumber`).
 */
export interface DataPage {
  readonly count: number;
  readonly headers: readonly string[];
  readonly offset: number;
  readonly rowCount: number;
  readonly columns: readonly (readonly unknown[])[];
  readonly layout: 'rows' | 'columns';
  /**
   * The whole dataset, whatever `offset` and `limit` asked for: a column-major page from a server
   * that ignores paging, or a table read from a signed URL. `offset` is then 0.
   */
  readonly whole?: boolean;
}

/** A JSON number whose text a double cannot hold exactly (e.g. integers beyond 2^53). */
export class LosslessNumber {
  constructor(readonly text: string) {}
  valueOf(): number {
    return Number(this.text);
  }
  toJSON(): string {
    return this.text;
  }
}
