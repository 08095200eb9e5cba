import { describe, expect, it } from 'vitest';
import * as errors from '../functions/core/errors.js';
import { ERROR_CLASSES, PlutoExportError, RETRYABLE_ERROR_NAMES } from '../functions/core/errors.js';
import { isRetryableByClient } from '../functions/core/pluto/retry.js';

describe('the error model', () => {
  it('lists every error class the module exports', () => {
    const exported = Object.values(errors).filter(
      (value): value is (typeof ERROR_CLASSES)[number] =>
        typeof value === 'function' && value.prototype instanceof PlutoExportError,
    );
    expect(new Set(ERROR_CLASSES)).toEqual(new Set(exported));
  });

  it('names each class as its Lambda errorType', () => {
    for (const ErrorClass of ERROR_CLASSES) expect(new ErrorClass('x').name).toBe(ErrorClass.name);
  });

  it('derives the workflow retry list and the client retries from the classes', () => {
    expect(RETRYABLE_ERROR_NAMES).toEqual([
      'PlutoRateLimitedError',
      'PlutoUpstreamError',
      'StoreError',
      'CatalogError',
      'SecretReadError',
    ]);
    // The client alone tries a bad response once more: it may have been damaged on the way.
    const retriedByClient = ERROR_CLASSES.filter((ErrorClass) => isRetryableByClient(new ErrorClass('x')));
    expect(retriedByClient.map((ErrorClass) => ErrorClass.name)).toEqual([
      'PlutoRateLimitedError',
      'PlutoUpstreamError',
      'PlutoBadResponseError',
      'StoreError',
      'CatalogError',
      'SecretReadError',
    ]);
    expect(isRetryableByClient(new Error('plain'))).toBe(false);
  });
});
