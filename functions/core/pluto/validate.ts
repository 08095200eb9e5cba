import type { z } from 'zod';
import { PlutoBadResponseError } from '../errors.js';

/** A part of Pluto's answer read with `schema`; a mismatch is a bad response naming where. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const at = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  throw new PlutoBadResponseError(
    `Pluto sent an unexpected body for ${where}${at}: ${issue?.message ?? 'invalid'}`,
  );
}
