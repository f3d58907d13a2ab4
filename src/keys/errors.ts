import { SluiceError } from '../core/errors.js';

/**
 * The message of a {@link KeyLimitError} unless `limitMessage` says otherwise: the Merchant API's own
 * sentence (seeds/003) with the maximum filled in.
 *
 * @example
 * ```ts
 * defaultLimitMessage(6);
 * // 'You’ve reached your limit of 6 API keys. Please delete any unused API keys and try again.'
 * ```
 */
export const defaultLimitMessage = (max: number): string =>
  `You’ve reached your limit of ${max} API keys. Please delete any unused API keys and try again.`;

/**
 * An account already has its maximum of active keys (`maxActivePerAccount`), so no key was created.
 * Revoking one of them frees a slot.
 *
 * @example
 * ```ts
 * try {
 *   await registry.create({ account: 'acme' });
 * } catch (error) {
 *   if (error instanceof KeyLimitError) reply(409, { error: error.message }); // error.code === 'ERR_SLUICE_KEY_LIMIT'
 * }
 * ```
 */
export class KeyLimitError extends SluiceError {
  /** The account that is full. */
  readonly account: string;
  /** Its maximum of active keys. */
  readonly limit: number;

  constructor(account: string, limit: number, message: string = defaultLimitMessage(limit)) {
    super('ERR_SLUICE_KEY_LIMIT', message);
    this.account = account;
    this.limit = limit;
  }
}
