import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createKeyRegistry } from '../keys/registry.js';
import type { Verdict } from '../policy/verdict.js';
import { type AdminServer, createAdminServer } from './admin.js';
import type { GatewayConfig } from './config.js';
import { type Gateway, type GatewayOptions, startGateway } from './gateway.js';
import { createGatewayLogger, decisionLogFields, requestIdOf } from './log.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { connectRedis } from './store.js';

/**
 * Options of {@link runGateway}.
 *
 * @example
 * ```ts
 * const options: RunGatewayOptions = { config, configPath: 'sluice.yaml' };
 * ```
 */
export interface RunGatewayOptions {
  readonly config: GatewayConfig;
  /** Watched and reloaded when it changes. */
  readonly configPath?: string;
  readonly environment?: string;
  /** @default createGatewayLogger() (JSON lines on stdout) */
  readonly logger?: Logger;
  /** Identifies callers before they are counted (API keys); `undefined` answers 401. */
  readonly authenticate?: GatewayOptions['authenticate'];
}

/**
 * A running gateway with its observability.
 *
 * @example
 * ```ts
 * const { gateway, admin, close } = await runGateway({ config });
 * ```
 */
export interface RunningGateway {
  readonly gateway: Gateway;
  readonly metrics: GatewayMetrics;
  /** The admin server, when the configuration has `admin`. */
  readonly admin: AdminServer | undefined;
  readonly adminUrl: string | undefined;
  readonly logger: Logger;
  close(): Promise<void>;
}

/**
 * The gateway as `sluice gateway` runs it: {@link startGateway} plus Prometheus metrics, the admin endpoint
 * (`/healthz`, `/readyz` — ready while the store is up —, `/metrics`) on its own port, and one structured
 * log line per request (request id, policies, hashed keys, outcome, status, duration).
 *
 * @example
 * ```ts
 * const running = await runGateway({ config: loadGatewayConfig(text), configPath: 'sluice.yaml' });
 * process.once('SIGTERM', () => running.close());
 * ```
 */
export async function runGateway(options: RunGatewayOptions): Promise<RunningGateway> {
  const logger = options.logger ?? createGatewayLogger({ level: process.env.SLUICE_LOG_LEVEL ?? 'info' });
  const metrics = createGatewayMetrics();
  // With a secret, logged keys are HMACs: a plain hash of an IPv4 key could be reversed by trying them all.
  const logSecret = process.env.SLUICE_LOG_SECRET;

  function onDecision(req: IncomingMessage, res: ServerResponse, verdict: Verdict, seconds: number) {
    metrics.observeDecision(verdict, seconds, verdict.degraded);
    const done = metrics.requestStarted(verdict);
    const started = performance.now() - seconds * 1000;
    const requestId = requestIdOf(req.headers);
    res.once('close', () => {
      done();
      // Nothing to build when the level leaves request lines out.
      if (!logger.isLevelEnabled('info')) return;
      logger.info(
        decisionLogFields({
          requestId,
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          status: res.writableFinished ? res.statusCode : 499,
          verdict,
          durationMs: performance.now() - started,
          ...(logSecret === undefined ? {} : { keySecret: logSecret }),
        }),
        'request',
      );
    });
  }

  const registry = options.authenticate === undefined ? await keysOf(options.config) : undefined;
  const authenticate = options.authenticate ?? registry?.authenticate;
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      config: options.config,
      ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
      ...(options.environment === undefined ? {} : { environment: options.environment }),
      logger,
      onDecision,
      onUpstream: (status, seconds) => metrics.observeUpstream(status, seconds),
      onStoreError: (reason) => metrics.observeStoreError(reason),
      ...(authenticate === undefined
        ? {}
        : {
            authenticate: async (req: IncomingMessage) => {
              const started = performance.now();
              const identity = await authenticate(req);
              if (identity === undefined) {
                metrics.observeUnauthorized();
                // Answered 401 before any decision: logged too, as `unchecked`.
                if (logger.isLevelEnabled('info'))
                  logger.info(
                    decisionLogFields({
                      requestId: requestIdOf(req.headers),
                      method: req.method ?? 'GET',
                      path: req.url ?? '/',
                      status: 401,
                      durationMs: performance.now() - started,
                    }),
                    'request',
                  );
              }
              return identity;
            },
          }),
    });
  } catch (error) {
    await registry?.close();
    throw error;
  }

  let admin: AdminServer | undefined;
  let adminUrl: string | undefined;
  if (options.config.admin !== undefined) {
    const resilient = gateway.gatewayStore?.resilient;
    admin = createAdminServer({
      metrics,
      host: options.config.admin.host,
      port: options.config.admin.port,
      ready: () => {
        const state = resilient?.stats().state ?? 'up';
        return { ok: state === 'up', details: { store: state } };
      },
    });
    let bound: { host: string; port: number };
    try {
      bound = await admin.listen();
    } catch (error) {
      // A gateway without its admin endpoint is not what was configured: stop, and say why.
      await gateway.close();
      await registry?.close();
      throw error;
    }
    const { host, port } = bound;
    adminUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.info({ url: adminUrl }, 'admin endpoint listening (/healthz, /readyz, /metrics)');
  }

  return {
    gateway,
    metrics,
    admin,
    adminUrl,
    logger,
    close: async () => {
      await gateway.close();
      await admin?.close();
      await registry?.close();
      logger.flush();
    },
  };
}

/**
 * Authentication by API key when the configuration has `keys`: the key in `keys.header` must be an active
 * key of the registry (a file, or Redis through ioredis); its API user and account become the request's
 * `user` and `account`.
 */
async function keysOf(
  config: GatewayConfig,
): Promise<{ authenticate: GatewayOptions['authenticate']; close: () => Promise<void> } | undefined> {
  const keys = config.keys;
  if (keys === undefined) return undefined;
  const common = {
    // The same secret as `sluice keys` (which reads it from this variable), when the keys are HMACs.
    ...(process.env.SLUICE_KEYS_SECRET === undefined ? {} : { secret: process.env.SLUICE_KEYS_SECRET }),
    ...(keys.maxActivePerAccount === undefined ? {} : { maxActivePerAccount: keys.maxActivePerAccount }),
  };
  let close = async () => {};
  let registry: ReturnType<typeof createKeyRegistry>;
  if (keys.redis !== undefined) {
    const client = await connectRedis(keys.redis.url, 'keys.redis');
    close = async () => {
      client.disconnect();
    };
    registry = createKeyRegistry({
      redis: client,
      ...(keys.redis.prefix === undefined ? {} : { prefix: keys.redis.prefix }),
      ...common,
    });
  } else registry = createKeyRegistry({ file: keys.file!, ...common });
  return {
    close,
    authenticate: async (req) => {
      const raw = req.headers[keys.header];
      const identity = typeof raw === 'string' ? await registry.authenticate(raw) : undefined;
      return identity === undefined ? undefined : { user: identity.user, account: identity.account };
    },
  };
}
