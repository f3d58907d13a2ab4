import { ConfigError, StoreError } from '../../core/errors.js';
import { fail } from '../../internal/describe.js';
import type { Script } from './scripts.js';

/**
 * Sends one Redis command, given as its words (`['EVALSHA', sha, '1', key, …]`), and resolves the reply.
 *
 * @example
 * ```ts
 * const send: RedisSend = (args) => client.sendCommand(args); // node-redis
 * ```
 */
export type RedisSend = (args: string[]) => Promise<unknown>;

/**
 * The part of an ioredis client (`Redis` or `Cluster`) the store uses: its public `call`.
 *
 * @example
 * ```ts
 * const client: IoRedisLike = new Redis({ enableOfflineQueue: false });
 * ```
 */
export interface IoRedisLike {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/**
 * The part of a node-redis client the store uses: its public `sendCommand`.
 *
 * @example
 * ```ts
 * const client: NodeRedisLike = await createClient({ disableOfflineQueue: true }).connect();
 * ```
 */
export interface NodeRedisLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/** Runs a script by SHA1, loading it with `EVAL` when the server does not have it (`NOSCRIPT`). */
export async function runScript(send: RedisSend, script: Script, args: string[]): Promise<unknown[]> {
  try {
    return (await send(args)) as unknown[];
  } catch (error) {
    if (!/\bNOSCRIPT\b/.test(String((error as Error | undefined)?.message))) throw storeError(error);
  }
  args[0] = 'EVAL';
  args[1] = script.source;
  try {
    return (await send(args)) as unknown[];
  } catch (error) {
    throw storeError(error);
  }
}

/** The one function the store sends commands through, from exactly one of `client` and `send`. */
export function senderOf(client: unknown, send: unknown): RedisSend {
  if (send !== undefined) {
    if (client !== undefined)
      throw new ConfigError('send', 'Give either `client` or `send` to createRedisStore(), not both');
    if (typeof send !== 'function') fail('send', 'a function (args: string[]) => Promise<reply>', send);
    return send as RedisSend;
  }
  if (typeof client === 'object' && client !== null) {
    // ioredis's public escape hatch is `call`; node-redis's is `sendCommand` (ioredis also has a
    // `sendCommand`, an internal one taking a Command object, so `call` is tried first).
    const { call, sendCommand } = client as { call?: unknown; sendCommand?: unknown };
    if (typeof call === 'function')
      return (args) => (call as IoRedisLike['call']).apply(client, args as [string]);
    if (typeof sendCommand === 'function') {
      // A node-redis cluster's sendCommand is (firstKey, isReadonly, args): it needs routing, so `send`.
      if (sendCommand.length >= 3)
        fail('client', 'a single-node client; for a node-redis cluster give `send` (see the README)', client);
      return (args) => (sendCommand as RedisSend).call(client, args);
    }
  }
  return fail('client', 'an ioredis or node-redis client (or give `send`)', client);
}

/** Sends one command; a failure becomes a `StoreError`. */
export async function command(send: RedisSend, args: string[]): Promise<unknown> {
  try {
    return await send(args);
  } catch (error) {
    throw storeError(error);
  }
}

function storeError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError('ERR_SLUICE_STORE', `Redis store: ${message}`, { cause: error });
}
