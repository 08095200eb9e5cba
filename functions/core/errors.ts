/**
 * Every failure the exporter knows by name. Step Functions retries and catches on `name`
 * (the Lambda `errorType`), so each class sets it explicitly and says whether it is retryable.
 */
export interface PlutoErrorBody {
  readonly detail?: string;
  readonly code?: string;
  /** Pluto's `details`, as compact JSON text: the fields behind a refusal. */
  readonly details?: string;
}

export abstract class PlutoExportError extends Error {
  abstract readonly retryable: boolean;
  /** Pluto's own `detail` (or `message`), when the error came from the API. */
  readonly detail: string | undefined;
  /** Pluto's `code`, e.g. `authentication_failed`. */
  readonly code: string | undefined;
  /** Pluto's `details` as JSON text, when the body had them. */
  readonly details: string | undefined;

  constructor(message: string, options: { cause?: unknown } & PlutoErrorBody = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.detail = options.detail;
    this.code = options.code;
    this.details = options.details;
  }
}

/** 401: the token is wrong, revoked or deleted. Terminal for the whole run. */
export class PlutoAuthError extends PlutoExportError {
  override readonly name = 'PlutoAuthError';
  readonly retryable = false;
}

/** 403: the token's user may not see this experiment or plot. The experiment is skipped. */
export class PlutoForbiddenError extends PlutoExportError {
  override readonly name = 'PlutoForbiddenError';
  readonly retryable = false;
}

/** 404: missing, or not visible to the token. The experiment is skipped. */
export class PlutoNotFoundError extends PlutoExportError {
  override readonly name = 'PlutoNotFoundError';
  readonly retryable = false;
}

/**
 * 400 with code `invalid_object_id`: Pluto does not know the id, or will not say that it exists
 * (Pluto's R client tests expect exactly this for an unknown experiment). Treated like a 404.
 */
export class PlutoInvalidObjectError extends PlutoExportError {
  override readonly name = 'PlutoInvalidObjectError';
  readonly retryable = false;
}

/** Any other 400: the request itself is wrong, so asking again cannot help. */
export class PlutoBadRequestError extends PlutoExportError {
  override readonly name = 'PlutoBadRequestError';
  readonly retryable = false;
}

/**
 * The plot has no table to export: its data is an image, an external file or anything else that is
 * not CSV or JSON. Recorded as `no_data`, not as a failure.
 */
export class PlutoNoTableError extends PlutoExportError {
  override readonly name = 'PlutoNoTableError';
  readonly retryable = false;
}

/** 405: an endpoint Pluto has switched off. The experiment is skipped. */
export class PlutoInactiveEndpointError extends PlutoExportError {
  override readonly name = 'PlutoInactiveEndpointError';
  readonly retryable = false;
}

/** 429 beyond the client's time budget: the workflow waits and retries. */
export class PlutoRateLimitedError extends PlutoExportError {
  override readonly name = 'PlutoRateLimitedError';
  readonly retryable = true;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options: { cause?: unknown; detail?: string; code?: string; retryAfterMs?: number } = {},
  ) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** 5xx, connection reset or timeout beyond the client's time budget. */
export class PlutoUpstreamError extends PlutoExportError {
  override readonly name = 'PlutoUpstreamError';
  readonly retryable = true;
}

/**
 * Invalid JSON or a body that does not have the documented shape. The client retries it once (it
 * may have been damaged on the way); the workflow does not: a server that keeps sending it will
 * not heal within minutes.
 */
export class PlutoBadResponseError extends PlutoExportError {
  override readonly name = 'PlutoBadResponseError';
  readonly retryable = false;
}

/**
 * Nothing answers at the API URL (connection refused, unknown host): a wrong URL or an outage.
 * Not retried: minutes of retries would only hide a wrong URL; the run stops and can be resumed.
 */
export class PlutoUnreachableError extends PlutoExportError {
  override readonly name = 'PlutoUnreachableError';
  readonly retryable = false;
}

/**
 * Something answers at the API URL, but not Pluto's JSON API (a web page, another service, plain
 * HTTP behind `https://`): the URL is wrong. Told at the first request, not retried.
 */
export class PlutoWrongServerError extends PlutoExportError {
  override readonly name = 'PlutoWrongServerError';
  readonly retryable = false;
}

/** The first request to Pluto kept failing (5xx, timeouts) through its retries: an outage; try later. */
export class PlutoUnavailableError extends PlutoExportError {
  override readonly name = 'PlutoUnavailableError';
  readonly retryable = false;
}

/** The count, headers or order of a dataset changed while it was being paged. Never papered over. */
export class PageDriftError extends PlutoExportError {
  override readonly name = 'PageDriftError';
  readonly retryable = false;
}

/**
 * Pluto's answer asks for more work than a ceiling allows (rows, slots, experiments, pages): a
 * broken or hostile count. Not retried: the same answer would cross it again.
 */
export class LimitExceededError extends PlutoExportError {
  override readonly name = 'LimitExceededError';
  readonly retryable = false;
}

/**
 * An answer that must not be used at all: larger than allowed, holding the API token, or a
 * redirect. Not retried, and its message names no value from the body.
 */
export class PlutoUnsafeResponseError extends PlutoExportError {
  override readonly name = 'PlutoUnsafeResponseError';
  readonly retryable = false;
}

/** A row that the lake contract cannot hold. Nothing is dropped silently. */
export class ContractError extends PlutoExportError {
  override readonly name = 'ContractError';
  readonly retryable = false;
}

/** CommitExperiment found parts that do not add up to what was planned. */
export class CommitVerificationError extends PlutoExportError {
  override readonly name = 'CommitVerificationError';
  readonly retryable = false;
}

/** An immutable object already exists with different content. */
export class ObjectConflictError extends PlutoExportError {
  override readonly name = 'ObjectConflictError';
  readonly retryable = false;
}

/**
 * The object store failed (I/O error, throttling, 5xx): the S3 bucket or the lake folder, which the
 * message names. The step may be retried.
 */
export class StoreError extends PlutoExportError {
  override readonly name = 'StoreError';
  readonly retryable = true;
}

/**
 * The catalog failed (Glue throttling or 5xx, or the local current-view folder could not be
 * written); the step may be retried.
 */
export class CatalogError extends PlutoExportError {
  override readonly name = 'CatalogError';
  readonly retryable = true;
}

/** Secrets Manager failed to return the API token secret (throttling, 5xx); the read may be retried. */
export class SecretReadError extends PlutoExportError {
  override readonly name = 'SecretReadError';
  readonly retryable = true;
}

/**
 * The exporter may not use what it needs: a lake folder that is not writable, or a bucket, Glue
 * database or secret its role may not use. The message names the permission to grant; retrying
 * cannot help until someone grants it.
 */
export class AccessDeniedError extends PlutoExportError {
  override readonly name = 'AccessDeniedError';
  readonly retryable = false;
}

/** The store is out of space: retrying cannot help until someone frees it. */
export class StoreFullError extends PlutoExportError {
  override readonly name = 'StoreFullError';
  readonly retryable = false;
}

/** `query` was given something other than one read-only statement. */
export class ReadOnlyQueryError extends PlutoExportError {
  override readonly name = 'ReadOnlyQueryError';
  readonly retryable = false;
}

/** Configuration or usage that cannot work; the message names what to fix. */
export class ConfigError extends PlutoExportError {
  override readonly name = 'ConfigError';
  readonly retryable = false;
}

/** A file to copy is bigger than the per-file cap: recorded as skipped, with the sizes. */
export class FileTooLargeError extends PlutoExportError {
  override readonly name = 'FileTooLargeError';
  readonly retryable = false;
}

/** Errors after which the experiment is recorded as `skipped` (Pluto said no) rather than `failed`. */
export const SKIPPING_ERROR_NAMES = [
  'PlutoForbiddenError',
  'PlutoNotFoundError',
  'PlutoInvalidObjectError',
  'PlutoInactiveEndpointError',
] as const;

/** Errors that end the whole run: nothing further can succeed. */
export const RUN_FATAL_ERROR_NAMES = [
  'PlutoAuthError',
  'PlutoUnreachableError',
  'ConfigError',
  'AccessDeniedError',
  'StoreFullError',
] as const;

/** A workflow step received a payload that does not have its documented shape: a wiring bug. */
export class InvalidStepInputError extends PlutoExportError {
  override readonly name = 'InvalidStepInputError';
  readonly retryable = false;
}

/** Every error class a step can end with; the lists of names the workflow matches on derive from it. */
export const ERROR_CLASSES = [
  PlutoAuthError,
  PlutoForbiddenError,
  PlutoNotFoundError,
  PlutoInvalidObjectError,
  PlutoBadRequestError,
  PlutoInactiveEndpointError,
  PlutoNoTableError,
  PlutoRateLimitedError,
  PlutoUpstreamError,
  PlutoBadResponseError,
  PlutoUnreachableError,
  PlutoWrongServerError,
  PlutoUnavailableError,
  PageDriftError,
  LimitExceededError,
  PlutoUnsafeResponseError,
  ContractError,
  CommitVerificationError,
  ObjectConflictError,
  StoreError,
  CatalogError,
  SecretReadError,
  AccessDeniedError,
  StoreFullError,
  ReadOnlyQueryError,
  ConfigError,
  InvalidStepInputError,
  FileTooLargeError,
] as const;

/** Errors the workflow retries with backoff: those whose class says retrying can help. */
export const RETRYABLE_ERROR_NAMES: readonly string[] = ERROR_CLASSES.map((ErrorClass) => new ErrorClass(''))
  .filter((error) => error.retryable)
  .map((error) => error.name);
