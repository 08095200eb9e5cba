/**
 * The one shape of an id the exporter accepts: run ids and Pluto experiment and project ids. They
 * become object keys, partition values and Step Functions payloads, so nothing else may pass.
 */
import { z } from 'zod';

export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

export const idSchema = z.string().regex(ID_PATTERN, 'an id is 1-128 letters, digits, _ . : -');
