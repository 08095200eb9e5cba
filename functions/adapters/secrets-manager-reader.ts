/**
 * The Pluto API token from AWS Secrets Manager, cached for a few minutes per Lambda container.
 * The secret is the bare token or JSON `{"token": ...}` / `{"PLUTO_API_TOKEN": ...}`. No message
 * ever carries the secret's value.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AccessDeniedError, ConfigError, SecretReadError } from '../core/errors.js';
import type { SecretReader } from '../core/ports.js';

export interface SecretsManagerReaderOptions {
  readonly client?: SecretsManagerClient;
  /** How long a fetched token is reused. Default 5 minutes. */
  readonly ttlMs?: number;
  /** Milliseconds; injectable for tests. */
  readonly now?: () => number;
}

export const DEFAULT_SECRET_TTL_MS = 5 * 60_000;

const JSON_FIELDS = ['token', 'PLUTO_API_TOKEN'] as const;

export class SecretsManagerReader implements SecretReader {
  private readonly client: SecretsManagerClient;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private cached: { readonly token: Promise<string>; readonly fetchedAt: number } | undefined;

  /** `secretId`: the secret's ARN or name. */
  constructor(
    private readonly secretId: string,
    options: SecretsManagerReaderOptions = {},
  ) {
    this.client = options.client ?? new SecretsManagerClient({});
    this.ttlMs = options.ttlMs ?? DEFAULT_SECRET_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  getToken(): Promise<string> {
    if (this.cached !== undefined && this.now() - this.cached.fetchedAt < this.ttlMs)
      return this.cached.token;
    return this.refresh();
  }

  refresh(): Promise<string> {
    const token = this.fetch();
    const entry = { token, fetchedAt: this.now() };
    this.cached = entry;
    // A failed fetch is not cached: the next call asks Secrets Manager again.
    token.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return token;
  }

  private async fetch(): Promise<string> {
    let text: string | undefined;
    try {
      const response = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
      text =
        response.SecretString ??
        (response.SecretBinary === undefined ? undefined : new TextDecoder().decode(response.SecretBinary));
    } catch (error) {
      throw this.wrap(error);
    }
    const token = tokenOf(text?.trim() ?? '', this.secretId);
    if (token === '') throw this.empty();
    return token;
  }

  private empty(): ConfigError {
    return new ConfigError(
      `The Pluto API token secret ${this.secretId} is empty: put the token with ` +
        `aws secretsmanager put-secret-value --secret-id ${this.secretId} --secret-string <token>`,
    );
  }

  private wrap(error: unknown): Error {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    // A secret created without a value has no AWSCURRENT version: GetSecretValue says ResourceNotFound.
    if (name === 'ResourceNotFoundException') {
      return new ConfigError(
        `The Pluto API token secret ${this.secretId} does not exist or has no value: put the token with ` +
          `aws secretsmanager put-secret-value --secret-id ${this.secretId} --secret-string <token>`,
        { cause: error },
      );
    }
    if (name === 'AccessDeniedException' || name === 'DecryptionFailure') {
      return new AccessDeniedError(
        `Cannot read the Pluto API token secret ${this.secretId} (${name}): ${message}. ` +
          'Grant secretsmanager:GetSecretValue on it and kms:Decrypt on its key',
        { cause: error },
      );
    }
    if (name === 'InvalidRequestException') {
      return new ConfigError(
        `Cannot read the Pluto API token secret ${this.secretId} (${name}): ${message}. ` +
          'Make sure it is not scheduled for deletion',
        { cause: error },
      );
    }
    return new SecretReadError(`Secrets Manager failed to return ${this.secretId}: ${name}: ${message}`, {
      cause: error,
    });
  }
}

/** The token inside a secret string: JSON with a known field, or the bare string. */
function tokenOf(text: string, secretId: string): string {
  if (!text.startsWith('{')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`The Pluto API token secret ${secretId} starts with "{" but is not valid JSON`);
  }
  for (const field of JSON_FIELDS) {
    const value = (parsed as Record<string, unknown>)[field];
    if (typeof value === 'string') return value.trim();
  }
  throw new ConfigError(
    `The Pluto API token secret ${secretId} is JSON without a string field "token" or "PLUTO_API_TOKEN"`,
  );
}
