import { SluiceError } from '../core/errors.js';

/**
 * A response outside 2xx, thrown by `client.json()`. Carries the status and the response (its body unread).
 *
 * @example
 * ```ts
 * try {
 *   await client.json('/orders/42');
 * } catch (error) {
 *   if (error instanceof HttpStatusError && error.status === 404) return undefined;
 *   throw error;
 * }
 * ```
 */
export class HttpStatusError extends SluiceError {
  /** The response status. */
  readonly status: number;
  /** The response, body unread. */
  readonly response: Response;

  constructor(response: Response) {
    super(
      'ERR_SLUICE_HTTP_STATUS',
      `Request to ${response.url || 'the server'} failed with ${response.status} ${response.statusText}`.trim(),
    );
    this.status = response.status;
    this.response = response;
  }
}
