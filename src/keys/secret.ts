import { randomBytes } from 'node:crypto';
import { keyedHash } from '../internal/hash.js';

/**
 * How a key's hash is made: SHA-256 of the raw key, or HMAC-SHA-256 with the registry's secret. Recorded
 * beside the hashes so that a registry opened with the wrong setting fails loudly instead of matching nothing.
 *
 * @example
 * ```ts
 * const algorithm: KeyHashAlgorithm = secret === undefined ? 'sha256' : 'hmac-sha256';
 * ```
 */
export type KeyHashAlgorithm = 'sha256' | 'hmac-sha256';

/** The shape of every key the registry issues: `sk_` and 32 random bytes in base64url (43 characters). */
const KEY_SHAPE = /^sk_[A-Za-z0-9_-]{43}$/;

/**
 * A new raw API key, `sk_` + 32 bytes from `crypto.randomBytes` in base64url. Shown once, never stored.
 *
 * @example
 * ```ts
 * newSecret(); // 'sk_H6Ip6Hw6NX2aobM_MDRBc_n-N91h-Q2mo5xKXpbdyB4'
 * ```
 */
export const newSecret = (): string => `sk_${randomBytes(32).toString('base64url')}`;

/**
 * A new key id, `key_` + 9 random bytes in base64url: public, safe to log, to show and to use as a user.
 *
 * @example
 * ```ts
 * newKeyId(); // 'key_UYVkoOd6UKdk'
 * ```
 */
export const newKeyId = (): string => `key_${randomBytes(9).toString('base64url')}`;

/**
 * Whether `value` can be a key this registry issued; anything else is refused before hashing.
 *
 * @example
 * ```ts
 * isWellFormedKey(newSecret()); // true
 * isWellFormedKey('Bearer abc'); // false
 * ```
 */
export const isWellFormedKey = (value: unknown): value is string =>
  typeof value === 'string' && KEY_SHAPE.test(value);

/**
 * The hash function of a registry: SHA-256, or HMAC-SHA-256 with `secret`; base64url, 43 characters.
 *
 * @example
 * ```ts
 * const hash = keyHasher(process.env.SLUICE_KEYS_SECRET);
 * hash(rawKey); // 'xNyBxX6JXVcHpeYY0fgZv6r-48fCTlvE9poWqngJYpg'
 * ```
 */
export function keyHasher(secret: string | undefined): (rawKey: string) => string {
  return keyedHash(secret);
}

/**
 * Length of the hash prefix that `list` shows to tell keys apart.
 *
 * @example
 * ```ts
 * const hashPrefix = record.hash.slice(0, HASH_PREFIX_LENGTH); // 'xNyBxX6J'
 * ```
 */
export const HASH_PREFIX_LENGTH = 8;
