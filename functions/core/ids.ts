/**
 * The one shape of an id the exporter accepts: run ids and Pluto experiment and project ids. They
 * become object keys, partition values and Step Functions payloads, so nothing else may pass.
 */
import { z } from 'zod';

/** Letters, digits, `_ . : -`, at most 128, and not only dots (`.` and `..` are path segments). */
export const ID_PATTERN = /^(?!\.+$)[A-Za-z0-9_.:-]{1,128}$/;
export const ID_RULE = '1-128 letters, digits, _ . : - (not only dots)';

export const isSafeId = (id: string): boolean => ID_PATTERN.test(id);

export const idSchema = z.string().regex(ID_PATTERN, `an id is ${ID_RULE}`);
