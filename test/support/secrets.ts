/** The one secret-reader fake of the tests: a fixed token, and after a refresh the rotated one. */
import type { SecretReader } from '../../functions/core/ports.js';

export interface FixedSecret extends SecretReader {
  /** How often the client asked for the token and for a refresh. */
  readonly calls: { get: number; refresh: number };
}

export function fixedSecret(token: string, rotated: string = token): FixedSecret {
  const calls = { get: 0, refresh: 0 };
  return {
    calls,
    getToken: async () => {
      calls.get++;
      return token;
    },
    refresh: async () => {
      calls.refresh++;
      return rotated;
    },
  };
}
