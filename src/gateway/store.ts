import { ConfigError } from '../core/errors.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import { createRedisStore } from '../store/redis/redis-store.js';
import { createResilientStore, type ResilientStore } from '../store/resilient.js';
import type { Store } from '../store/types.js';
import type { GatewayStoreConfig } from './config.js';

/**
 * The gateway's store and how to close it.
 *
 * @example
 * ```ts
 * const { store, close } = await openGatewayStore({ type: 'memory' });
 * ```
 */
export interface GatewayStore {
  readonly store: Store;
  /** The resilience wrapper around Redis (its breaker state is the gateway's readiness). */
  readonly resilient: ResilientStore | undefined;
  close(): Promise<void>;
}

/**
 * Opens the store a gateway configuration names: a memory store, or Redis through ioredis (an optional
 * dependency, loaded only then) behind `createResilientStore` with the configured failure mode and timeout.
 * The Redis client uses the settings that prevent replays after a reconnection (see the README).
 *
 * @example
 * ```ts
 * const { store, close } = await openGatewayStore({ type: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'sluice', failureMode: 'fallback', timeoutMs: 50 });
 * ```
 */
export async function openGatewayStore(config: GatewayStoreConfig): Promise<GatewayStore> {
  if (config.type === 'memory') {
    const store = createMemoryStore(config.maxKeys === undefined ? {} : { maxKeys: config.maxKeys });
    return { store, resilient: undefined, close: async () => {} };
  }
  let Redis: typeof import('ioredis').Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch (error) {
    throw new ConfigError('store', 'A Redis store needs the `ioredis` package: npm install ioredis', {
      cause: error,
    });
  }
  const client = new Redis(config.url, {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // Reconnect for ever, at most every 2 s: the breaker answers meanwhile.
    retryStrategy: (times: number) => Math.min(times * 100, 2_000),
  });
  client.on('error', () => {}); // reported through the resilient store's errors and readiness
  const resilient = createResilientStore(createRedisStore({ client, prefix: config.prefix }), {
    failureMode: config.failureMode,
    timeout: config.timeoutMs,
  });
  return {
    store: resilient,
    resilient,
    close: async () => {
      client.disconnect();
    },
  };
}
