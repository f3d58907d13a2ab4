import { ConfigError, StoreError } from '../core/errors.js';
import { command, type RedisSend, runScript } from '../store/redis/client.js';
import { identityOf, type KeyBackend, type StoredKey } from './backend.js';
import { KEY_SCRIPTS } from './redis-scripts.js';
import type { KeyHashAlgorithm } from './secret.js';
import type { KeyIdentity } from './types.js';

/**
 * Options of {@link createRedisBackend}, already checked by `createKeyRegistry`.
 *
 * @example
 * ```ts
 * const options: RedisBackendOptions = { send: (args) => client.sendCommand(args), prefix: 'sluice-keys', algorithm: 'sha256' };
 * ```
 */
export interface RedisBackendOptions {
  readonly send: RedisSend;
  /** Namespace of the registry's keys; every key carries it as a hash tag (`{prefix}:…`), one cluster slot. */
  readonly prefix: string;
  readonly algorithm: KeyHashAlgorithm;
}

/**
 * The key registry in Redis:
 * - `{prefix}:records`: hash, key id → record JSON (`id`, `account`, `user`, `label`, `hash`, `createdAt`);
 * - `{prefix}:index`: hash, key hash → identity JSON of the active key (`authenticate` is one `HGET`);
 * - `{prefix}:revoked`: hash, key id → revokedAt;
 * - `{prefix}:active:<account>`: set of the account's active ids (its `SCARD` is the count checked);
 * - `{prefix}:all:<account>`: zset of all the account's ids, by createdAt;
 * - `{prefix}:meta`: hash, `hash` → the hash algorithm.
 *
 * Guarantee: create (count, check, insert) and revoke are each one Lua script, atomic in Redis, so any number
 * of gateways sharing the server never pass `maxActivePerAccount` and never lose a key.
 *
 * @example
 * ```ts
 * const backend = createRedisBackend({ send, prefix: 'sluice-keys', algorithm: 'sha256' });
 * await backend.lookup(hash); // { id, account, user } or undefined
 * ```
 */
export function createRedisBackend(options: RedisBackendOptions): KeyBackend {
  const { send, algorithm } = options;
  const tag = `{${options.prefix}}`;
  const records = `${tag}:records`;
  const index = `${tag}:index`;
  const revoked = `${tag}:revoked`;
  const meta = `${tag}:meta`;
  const active = (account: string) => `${tag}:active:${encodeURIComponent(account)}`;
  const all = (account: string) => `${tag}:all:${encodeURIComponent(account)}`;
  const run = (name: keyof typeof KEY_SCRIPTS, keys: string[], args: string[]) =>
    runScript(send, KEY_SCRIPTS[name], [
      'EVALSHA',
      KEY_SCRIPTS[name].sha,
      String(keys.length),
      ...keys,
      ...args,
    ]);

  return {
    async insert(record, max) {
      const reply = await run(
        'create',
        [records, index, active(record.account), all(record.account), meta],
        [
          Number.isFinite(max) ? String(max) : '-1',
          record.id,
          record.hash,
          JSON.stringify(record),
          JSON.stringify(identityOf(record)),
          String(record.createdAt),
          algorithm,
        ],
      );
      const status = Number(reply[0]);
      if (status === 1) return { ok: true };
      if (status === 0) return { ok: false, active: Number(reply[1]) };
      if (status === 2) {
        throw new ConfigError(
          'secret',
          `The key registry under prefix \`${options.prefix}\` holds ${String(reply[1])} hashes but was ` +
            `opened with ${algorithm === 'sha256' ? 'no `secret`' : 'a `secret`'}`,
        );
      }
      throw new StoreError('ERR_SLUICE_STORE', `Key registry: id or hash of ${record.id} is taken`);
    },
    async revoke(account, id, atMs) {
      const reply: unknown = await run(
        'revoke',
        [records, index, active(account), revoked],
        [id, account, String(atMs)],
      );
      return Number(reply) === 1;
    },
    async list(account) {
      const reply = await run('list', [all(account), records, revoked], []);
      const keys: StoredKey[] = [];
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const raw = String(reply[i]);
        if (raw === '') continue;
        const record = JSON.parse(raw) as StoredKey;
        const at = String(reply[i + 1]);
        keys.push(at === '' ? record : { ...record, revokedAt: Number(at) });
      }
      return keys;
    },
    async lookup(hash) {
      const raw = await command(send, ['HGET', index, hash]);
      return raw === null || raw === undefined
        ? undefined
        : Object.freeze(JSON.parse(String(raw)) as KeyIdentity);
    },
  };
}
