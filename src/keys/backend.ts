import type { KeyIdentity } from './types.js';

/**
 * A key as a backend stores it: the hash of the secret, never the secret.
 *
 * @example
 * ```ts
 * const record: StoredKey = { id: 'key_3Jb9xQ0aZk2m', account: 'acme', user: 'key_3Jb9xQ0aZk2m', hash, createdAt: Date.now() };
 * ```
 */
export interface StoredKey {
  readonly id: string;
  readonly account: string;
  readonly user: string;
  readonly label?: string;
  /** base64url SHA-256 or HMAC-SHA-256 of the raw key. */
  readonly hash: string;
  readonly createdAt: number;
  readonly revokedAt?: number;
}

/**
 * The outcome of an insert: done, or refused because the account has `active` active keys already.
 *
 * @example
 * ```ts
 * const result: InsertResult = await backend.insert(record, 6);
 * if (!result.ok) throw new KeyLimitError(record.account, 6);
 * ```
 */
export type InsertResult = { readonly ok: true } | { readonly ok: false; readonly active: number };

/**
 * Where keys live. Each operation is atomic on its own; `insert` checks the maximum and inserts as one.
 *
 * @example
 * ```ts
 * const backend: KeyBackend = createRedisBackend({ send, prefix: 'sluice-keys', algorithm: 'sha256' });
 * ```
 */
export interface KeyBackend {
  /** Adds `record` unless its account already has `max` active keys (`Infinity`: no maximum). */
  insert(record: StoredKey, max: number): Promise<InsertResult>;
  /** Every key of the account, in no particular order. */
  list(account: string): Promise<readonly StoredKey[]>;
  /** Marks an active key of the account revoked at `atMs`; false when there is no such active key. */
  revoke(account: string, id: string, atMs: number): Promise<boolean>;
  /** The owner of the active key with this hash. */
  lookup(hash: string): Promise<KeyIdentity | undefined>;
}

/**
 * The identity of a record, frozen: it is shared by every `authenticate` that finds it.
 *
 * @example
 * ```ts
 * identityOf(record); // { id: 'key_3Jb9xQ0aZk2m', account: 'acme', user: 'key_3Jb9xQ0aZk2m' }
 * ```
 */
export const identityOf = (record: StoredKey): KeyIdentity =>
  Object.freeze({ id: record.id, account: record.account, user: record.user });
