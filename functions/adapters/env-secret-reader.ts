import { ConfigError } from '../core/errors.js';
import type { SecretReader } from '../core/ports.js';

/** The environment variable that holds the Pluto API token locally. */
export const TOKEN_VARIABLE = 'PLUTO_API_TOKEN';

/** Local mode: the token comes from an environment variable, read on every call so a fix takes effect. */
export class EnvSecretReader implements SecretReader {
  constructor(
    private readonly variable = TOKEN_VARIABLE,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async getToken(): Promise<string> {
    const token = this.env[this.variable]?.trim();
    if (!token)
      throw new ConfigError(`${this.variable} is not set: export your Pluto API key as ${this.variable}`);
    return token;
  }

  refresh(): Promise<string> {
    return this.getToken();
  }
}
