import { ConfigError } from '../core/errors.js';
import type { SecretReader } from '../core/ports.js';

/** Local mode: the token comes from an environment variable, read on every call so a fix takes effect. */
export class EnvSecretReader implements SecretReader {
  constructor(
    private readonly variable = 'PLUTO_API_TOKEN',
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
