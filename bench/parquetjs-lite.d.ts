/** The part of parquetjs-lite 0.8.7 (untyped CommonJS) the benchmark's baseline uses. */
declare module 'parquetjs-lite' {
  import type { Writable } from 'node:stream';

  export type ParquetPrimitive = 'UTF8' | 'INT64' | 'INT32' | 'DOUBLE' | 'BOOLEAN' | 'TIMESTAMP_MILLIS';

  export interface ParquetField {
    readonly type: ParquetPrimitive;
    readonly optional?: boolean;
    readonly compression?: 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';
  }

  export interface ParquetWriterOptions {
    readonly useDataPageV2?: boolean;
    readonly rowGroupSize?: number;
    readonly pageSize?: number;
  }

  export class ParquetSchema {
    constructor(fields: Readonly<Record<string, ParquetField>>);
  }

  export class ParquetWriter {
    static openFile(
      schema: ParquetSchema,
      path: string,
      options?: ParquetWriterOptions,
    ): Promise<ParquetWriter>;
    static openStream(
      schema: ParquetSchema,
      stream: Writable,
      options?: ParquetWriterOptions,
    ): Promise<ParquetWriter>;
    appendRow(row: Readonly<Record<string, unknown>>): Promise<void>;
    close(): Promise<void>;
  }

  const parquet: { ParquetSchema: typeof ParquetSchema; ParquetWriter: typeof ParquetWriter };
  export default parquet;
}
