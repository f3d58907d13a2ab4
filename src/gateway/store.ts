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
  // Limits are shared only once Redis answers: the first requests must not be decided by the failure mode
  // while the connection is being made.
  const client = await connectRedis(config.url, 'store', hooks.connectTimeoutMs);
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

/**
 * An ioredis client for the gateway (the store, the API-key registry), with the settings that prevent
 * replays after a reconnection (see the README); it resolves once Redis answers, or after
 * `connectTimeoutMs` (the callers then serve on their failure mode until it does). Connection errors are
 * reported by the callers' own failure handling, not as unhandled events. `path` names the setting in the
 * error when ioredis is missing.
 *
 * @example
 * ```ts
 * const client = await connectRedis('redis://127.0.0.1:6379', 'store');
 * ```
 */
export async function connectRedis(url: string, path: string, connectTimeoutMs = 2_000) {
  let Redis: typeof import('ioredis').Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch (error) {
    throw new ConfigError(path, 'Redis needs the `ioredis` package: npm install ioredis', { cause: error });
  }
  const client = new Redis(url, {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // Reconnect for ever, at most every 2 s.
    retryStrategy: (times: number) => Math.min(times * 100, 2_000),
  });
  client.on('error', () => {});
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, connectTimeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return client;
}
