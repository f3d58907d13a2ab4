/**
 * What `create` takes: the account (the merchant) and, optionally, the API user the key acts as and a label.
 *
 * @example
 * ```ts
 * const input: CreateKeyInput = { account: 'acme', label: 'order import' };
 * ```
 */
export interface CreateKeyInput {
  /** The account that owns the key; `maxActivePerAccount` counts its active keys. @example 'acme' */
  readonly account: string;
  /**
   * The API user the key authenticates as, which rate limits are keyed by. Give the same user to several
   * keys to make them share a budget.
   * @default the new key's id: each key is its own API user, as in the Merchant API
   */
  readonly user?: string;
  /** A note for people, shown by `list`. @example 'rating service' */
  readonly label?: string;
}

/**
 * What `create` returns. `key` is the secret: it is shown here once and never stored (only its hash is).
 *
 * @example
 * ```ts
 * const { id, key } = await registry.create({ account: 'acme' });
 * // id: 'key_3Jb9xQ0aZk2m', key: 'sk_…' (46 characters)
 * ```
 */
export interface CreatedKey {
  /** The public id of the key, used to revoke it. */
  readonly id: string;
  /** The secret, `sk_` + 43 base64url characters. Hand it to the client now: it cannot be shown again. */
  readonly key: string;
  readonly account: string;
  /** The API user the key authenticates as. */
  readonly user: string;
  readonly label?: string;
  /** When the key was made, in ms since the epoch (the registry's `clock`). */
  readonly createdAt: number;
}

/**
 * A key as `list` shows it: everything but the secret.
 *
 * @example
 * ```ts
 * const active = (await registry.list({ account: 'acme' })).filter((info) => info.revokedAt === undefined);
 * ```
 */
export interface KeyInfo {
  readonly id: string;
  readonly account: string;
  readonly user: string;
  readonly label?: string;
  /** When the key was made, in ms since the epoch. */
  readonly createdAt: number;
  /** When the key was revoked, in ms since the epoch; absent while it is active. */
  readonly revokedAt?: number;
  /** The first characters of the key's stored hash: enough to tell keys apart, useless to an attacker. */
  readonly hashPrefix: string;
}

/**
 * Who a key belongs to: what `authenticate` returns for an active key.
 *
 * @example
 * ```ts
 * const who: KeyIdentity | undefined = await registry.authenticate(request.headers['x-api-key']);
 * if (who !== undefined) request.user = who.user; // the rate-limit key
 * ```
 */
export interface KeyIdentity {
  readonly id: string;
  readonly account: string;
  readonly user: string;
}

/**
 * An API-key registry, made by `createKeyRegistry`.
 *
 * @example
 * ```ts
 * const registry: KeyRegistry = createKeyRegistry({ file: 'keys.json', maxActivePerAccount: 6 });
 * const { id, key } = await registry.create({ account: 'acme' });
 * await registry.authenticate(key); // { id, account: 'acme', user: id }
 * await registry.revoke({ account: 'acme', id }); // true
 * await registry.authenticate(key); // undefined
 * ```
 */
export interface KeyRegistry {
  /**
   * Makes a key for an account. Throws a `KeyLimitError` (code `ERR_SLUICE_KEY_LIMIT`) when the account already
   * has `maxActivePerAccount` active keys; the check and the insert are one atomic step.
   */
  create(input: CreateKeyInput): Promise<CreatedKey>;
  /** An account's keys, active and revoked, oldest first, without secrets. */
  list(input: { readonly account: string }): Promise<KeyInfo[]>;
  /** Revokes an active key of the account: true if it was revoked now, false if unknown or already revoked. */
  revoke(input: { readonly account: string; readonly id: string }): Promise<boolean>;
  /** The owner of an active key; undefined for a malformed, unknown or revoked key. */
  authenticate(rawKey: string): Promise<KeyIdentity | undefined>;
}
