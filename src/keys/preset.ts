/**
 * The Merchant API's key rules (seeds/003): at most 6 active API keys per merchant, each key its own API user
 * (the registry's default), and the Merchant API's message when a seventh is asked for (the default message).
 *
 * @example
 * ```ts
 * const registry = createKeyRegistry({ file: 'keys.json', ...merchantApiKeys });
 * ```
 */
export const merchantApiKeys = Object.freeze({ maxActivePerAccount: 6 });
