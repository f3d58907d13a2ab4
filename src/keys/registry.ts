import { fail, knownKeys, nonEmptyString, optionsObject } from '../internal/describe.js';
import type { KeyBackend, StoredKey } from './backend.js';
import { KeyLimitError } from './errors.js';
import { createFileBackend } from './file-backend.js';
import { type KeyRegistryOptions, normaliseOptions } from './options.js';
import { createRedisBackend } from './redis-backend.js';
import { HASH_PREFIX_LENGTH, isWellFormedKey, keyHasher, newKeyId, newSecret } from './secret.js';
import type { KeyInfo, KeyRegistry } from './types.js';

/**
 * An API-key registry, the Merchant API's model: accounts (merchants) own keys, each key is its own API user
 * unless told otherwise, and an account may have at most `maxActivePerAccount` active keys. Keys are
 * `sk_` + 32 random bytes; only their SHA-256 (or HMAC-SHA-256 with `secret`) is stored, and the raw key is
 * returned once, by `create`. `authenticate` is a hash lookup: a map in memory for a file (reloaded when the
 * file changes, checked at most every `reloadIntervalMs`), one `HGET` for Redis.
 *
 * @example
 * ```ts
 * import { createKeyRegistry, KeyLimitError, merchantApiKeys } from 'sluice/keys';
 *
 * const registry = createKeyRegistry({ file: 'keys.json', ...merchantApiKeys });
 * const { id, key } = await registry.create({ account: 'acme', label: 'order import' });
 * console.log(`Give the client ${key}: it cannot be shown again`);
 *
 * // In the gateway: the API user is the rate-limit key.
 * const who = await registry.authenticate(String(req.headers['x-api-key'] ?? ''));
 * if (who === undefined) return reply(401);
 * const verdict = await enforcer.decide({ ...requestInfo, user: who.user, account: who.account });
 * ```
 */
export function createKeyRegistry(options: KeyRegistryOptions): KeyRegistry {
  const o = normaliseOptions(options);
  const algorithm = o.secret === undefined ? 'sha256' : 'hmac-sha256';
  const hash = keyHasher(o.secret);
  const backend: KeyBackend =
    o.backend.kind === 'file'
      ? createFileBackend({ ...o.backend, algorithm, clock: o.clock })
      : createRedisBackend({ ...o.backend, algorithm });

  return {
    async create(input) {
      const i = optionsObject('create()', input);
      knownKeys('create()', i, ['account', 'user', 'label']);
      const account = nonEmptyString('account', i.account);
      if (i.user !== undefined) nonEmptyString('user', i.user);
      if (i.label !== undefined && typeof i.label !== 'string') fail('label', 'a string', i.label);
      const id = newKeyId();
      const key = newSecret();
      const label = i.label as string | undefined;
      const record: StoredKey = {
        id,
        account,
        user: (i.user as string | undefined) ?? id,
        ...(label !== undefined && { label }),
        hash: hash(key),
        createdAt: o.clock(),
      };
      const result = await backend.insert(record, o.max);
      if (!result.ok) throw new KeyLimitError(account, o.max, String(o.limitMessage(o.max)));
      const { hash: _stored, ...shown } = record;
      return { ...shown, key };
    },
    async list(input) {
      const account = nonEmptyString('account', optionsObject('list()', input).account);
      const keys = await backend.list(account);
      return keys.map(infoOf).sort((a, b) => a.createdAt - b.createdAt); // stable: ties keep the backend's order
    },
    async revoke(input) {
      const r = optionsObject('revoke()', input);
      knownKeys('revoke()', r, ['account', 'id']);
      return backend.revoke(nonEmptyString('account', r.account), nonEmptyString('id', r.id), o.clock());
    },
    async authenticate(rawKey) {
      // Anything but a well-formed key (a missing header, a huge string) is refused before hashing.
      return isWellFormedKey(rawKey) ? backend.lookup(hash(rawKey)) : undefined;
    },
  };
}

/** What `list` shows of a stored key: all but the hash, of which only a prefix. */
function infoOf(record: StoredKey): KeyInfo {
  const { hash, ...rest } = record;
  return { ...rest, hashPrefix: hash.slice(0, HASH_PREFIX_LENGTH) };
}
