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
  /** Whether the store answered at start (always true for memory). */
  readonly ready: boolean;
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
export async function openGatewayStore(
  config: GatewayStoreConfig,
  hooks: {
    /** Told of every failed store call (metrics, logs). */
    onError?: (error: unknown, reason: 'store-timeout' | 'store-error') => void;
    /** How long to wait for Redis at start before serving on the failure mode. @default 2000 */
    connectTimeoutMs?: number;
  } = {},
): Promise<GatewayStore> {
  if (config.type === 'memory') {
    const store = createMemoryStore(config.maxKeys === undefined ? {} : { maxKeys: config.maxKeys });
    return { store, resilient: undefined, ready: true, close: async () => {} };
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
  // Limits are shared only once Redis answers: wait for it (a while) before serving, so that the first
  // requests are not decided by the failure mode while the connection is being made.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, hooks.connectTimeoutMs ?? 2_000);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const resilient = createResilientStore(createRedisStore({ client, prefix: config.prefix }), {
    failureMode: config.failureMode,
    timeout: config.timeoutMs,
    ...(hooks.onError === undefined ? {} : { onError: hooks.onError }),
  });
  return {
    store: resilient,
    resilient,
    ready: client.status === 'ready',
    close: async () => {
      client.disconnect();
    },
  };
}
