/**
 * Every line the command line prints goes through these two streams, which mask the API token
 * (design.md, Untrusted input): an error quoting an option or a record that holds it prints
 * `[redacted]` instead.
 */
import { TOKEN_VARIABLE } from '../adapters/env-secret-reader.js';
import { holdSecret, maskSecrets } from '../core/secrets.js';

export interface TerminalStream {
  readonly isTTY: boolean;
  write(text: string): void;
}

function masked(stream: NodeJS.WriteStream): TerminalStream {
  return {
    get isTTY() {
      return stream.isTTY === true;
    },
    write: (text) => void stream.write(maskSecrets(text)),
  };
}

export const stdout = masked(process.stdout);
export const stderr = masked(process.stderr);

/** The token a user exported is masked by every command, even one that never sends it. */
export function holdEnvironmentToken(env: NodeJS.ProcessEnv = process.env): void {
  const token = env[TOKEN_VARIABLE]?.trim();
  if (token) holdSecret(token);
}
