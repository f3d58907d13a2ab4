/**
 * The error family of sluice. "Over the limit" is never an error: it is a decision with
 * `allowed: false`. Errors are for misconfiguration ({@link ConfigError}), store I/O ({@link StoreError})
 * and callers that asked to be told by an exception ({@link RateLimitedError}).
 *
 * @example
 * ```ts
 * try {
 *   tokenBucket({ rate: 0 });
 * } catch (error) {
 *   if (error instanceof SluiceError) console.error(error.code, error.message);
 * }
 * ```
 */
export class SluiceError extends Error {
  /** A stable, machine-readable code such as `ERR_SLUICE_CONFIG`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A value given to sluice is not what it expects. The message names the option (or the config path),
 * the expected value and the received one.
 *
 * @example
 * ```ts
 * tokenBucket({ rate: 10, burst: 0 });
 * // ConfigError: Expected `burst` to be a positive number, got `0` (number)
 * ```
 */
export class ConfigError extends SluiceError {
  /** The option or config path at fault, e.g. `burst` or `policies[2].limits[0].window`. */
  readonly path: string;

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('ERR_SLUICE_CONFIG', message, options);
    this.path = path;
  }
}

/**
 * A store could not answer: a network error, a timeout, a script error.
 *
 * @example
 * ```ts
 * throw new StoreError('ERR_SLUICE_STORE_TIMEOUT', 'Redis did not answer within 50 ms');
 * ```
 */
export class StoreError extends SluiceError {}

/**
 * Thrown only by APIs that promise to throw when a request is over the limit; carries how long to wait.
 *
 * @example
 * ```ts
 * const error = new RateLimitedError(1500);
 * error.retryAfterMs; // 1500
 * ```
 */
export class RateLimitedError extends SluiceError {
  /** Milliseconds after which the same request would be allowed (`Infinity` if it never can be). */
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number, message = `Rate limited: retry after ${retryAfterMs} ms`) {
    super('ERR_SLUICE_RATE_LIMITED', message);
    this.retryAfterMs = retryAfterMs;
  }
}
