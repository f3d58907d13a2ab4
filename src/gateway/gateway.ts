import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname } from 'node:path';
import { createClientIp } from '../http/client-ip.js';
import { applyVerdict, decideOnce, requestInfoOf } from '../http/node.js';
import { whenReady } from '../internal/maybe.js';
import { createEnforcer, type Enforcer, type Verdict } from '../policy/enforce.js';
import type { Store } from '../store/types.js';
import { type GatewayConfig, loadGatewayConfig, requireCallers } from './config.js';
import { requestIdOf } from './log.js';
import { createProxy } from './proxy.js';
import { type GatewayStore, openGatewayStore } from './store.js';

/**
 * Where the gateway reports what happens: a pino logger fits (`info(fields, message)`, …).
 *
 * @example
 * ```ts
 * const logger: GatewayLogger = pino();
 * ```
 */
export interface GatewayLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/**
 * Options of {@link startGateway}.
 *
 * @example
 * ```ts
 * const options: GatewayOptions = { config: loadGatewayConfig(text), configPath: 'sluice.yaml' };
 * ```
 */
export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** The file the configuration came from: watched, and reloaded when it changes. */
  readonly configPath?: string;
  /** The environment policies' `modes` are read for (over the file's `environment`). */
  readonly environment?: string;
  /** A store to use instead of the configuration's (tests). */
  readonly store?: Store;
  /** @default a logger that writes nothing */
  readonly logger?: GatewayLogger;
  /**
   * Authenticates a request before it is counted: an identity (its `user` and `account` become key parts),
   * or `undefined` to reject it with 401 (it then consumes no one's budget).
   */
  readonly authenticate?: (req: IncomingMessage) => Identity | undefined | Promise<Identity | undefined>;
  /** Told of every decision (metrics, logs). */
  readonly onDecision?: (
    req: IncomingMessage,
    res: ServerResponse,
    verdict: Verdict,
    seconds: number,
  ) => void;
  /** Told of every failed store call. */
  readonly onStoreError?: (reason: 'store-timeout' | 'store-error') => void;
  /** Told of every upstream answer. */
  readonly onUpstream?: (status: number | 'error', seconds: number) => void;
}

/**
 * A running gateway.
 *
 * @example
 * ```ts
 * const gateway: Gateway = await startGateway({ config });
 * await gateway.close();
 * ```
 */
export interface Gateway {
  readonly server: Server;
  /** `http://host:port` */
  readonly url: string;
  /** The configuration in force. */
  readonly config: () => GatewayConfig;
  readonly store: Store;
  readonly gatewayStore: GatewayStore | undefined;
  /** Reloads the configuration file (or the given text); false (and the old one kept) when it is invalid. */
  reload(text?: string): boolean;
  /** Stops accepting requests, lets those in flight finish (up to `shutdownTimeout`), then closes. */
  close(): Promise<void>;
}

/** Who a request belongs to, from the gateway's authentication: its key parts `user` and `account`. */
type Identity = { user?: string; account?: string };

const SILENT: GatewayLogger = { info: () => {}, warn: () => {}, error: () => {} };

function problem(res: ServerResponse, status: number, title: string, detail: string) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

/**
 * Starts the gateway: a reverse proxy that decides every request with the configuration's policies, answers
 * rejected ones itself (429/409 with the configured headers and bodies), and forwards the others to the
 * upstream. With `configPath`, the file is watched and reloaded when it changes; a new configuration that
 * fails validation is refused with a logged error, and the old one stays in force. Counters survive a
 * reload (the store is kept); settings that need a restart (`listen`, `upstream`, `store`, `admin`, `keys`)
 * are logged as not applied.
 *
 * @example
 * ```ts
 * const gateway = await startGateway({ config: loadGatewayConfig(readFileSync('sluice.yaml', 'utf8')), configPath: 'sluice.yaml' });
 * process.once('SIGTERM', () => gateway.close());
 * ```
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? SILENT;
  requireCallers(options.config, options.authenticate !== undefined);
  const opened =
    options.store === undefined
      ? await openGatewayStore(options.config.store, {
          onError: (error, reason) => {
            options.onStoreError?.(reason);
            logger.warn({ err: error, reason }, 'rate limit store call failed');
          },
        })
      : undefined;
  if (opened?.ready === false)
    logger.warn(
      {
        store: options.config.store.type,
        failureMode: (options.config.store as { failureMode?: string }).failureMode,
      },
      'the store did not answer at start: deciding on the failure mode until it does',
    );
  const store = options.store ?? opened!.store;
  let config = options.config;
  const enforcerOf = (c: GatewayConfig): Enforcer =>
    createEnforcer({
      policies: c.policies,
      store,
      headers: c.headers,
      rejection: c.rejection,
      clientIp: c.clientIp,
    });
  let enforcer = enforcerOf(config);
  // A peer is a trusted proxy when the client-IP rules would take the client from its forwarding field.
  const clientIp = createClientIp({ ...config.clientIp, warnings: false });
  const probe = { 'x-forwarded-for': '192.0.2.1', forwarded: 'for=192.0.2.1' };
  const proxy = createProxy({
    trusted: (peer) => clientIp({ remoteAddress: peer, headers: probe }).via !== 'socket',
    upstream: config.upstream.url,
    timeoutMs: config.upstream.timeoutMs,
    connections: config.upstream.connections,
    ...(options.onUpstream === undefined ? {} : { onUpstream: options.onUpstream }),
  });
  let inFlight = 0;
  let drained: (() => void) | undefined;

  function proceed(req: IncomingMessage, res: ServerResponse, verdict: Verdict, started: number) {
    options.onDecision?.(req, res, verdict, (performance.now() - started) / 1000);
    if (!applyVerdict(verdict, res)) return;
    // The client left while the decision was being made: nothing to forward (its leases are released).
    if (res.destroyed || req.socket.destroyed) return;
    const fixed = new Set(verdict.headers.map(([name]) => name.toLowerCase()));
    void proxy.forward(req, res, fixed);
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    inFlight++;
    // One id per request, for the logs, the upstream and the client (a sane incoming one is kept).
    const requestId = requestIdOf(req.headers);
    req.headers['x-request-id'] = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) drained?.();
    });
    const started = performance.now();
    if (options.authenticate === undefined) {
      decide(req, res, undefined, started);
      return;
    }
    const authenticate = options.authenticate;
    whenReady(
      () => authenticate(req),
      (identity) => authenticated(req, res, identity, started),
      (error) => failed(res, error),
    );
  }

  /** An unknown or revoked key gets 401 and consumes no one's budget. */
  function authenticated(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity | undefined,
    started: number,
  ) {
    if (identity === undefined) problem(res, 401, 'Unauthorized', 'A valid API key is required.');
    else decide(req, res, identity, started);
  }

  function decide(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity | undefined,
    started: number,
  ) {
    whenReady(
      () => decideOnce(enforcer, req, requestInfoOf(req, identity)),
      (verdict) => proceed(req, res, verdict, started),
      (error) => failed(res, error),
    );
  }

  function failed(res: ServerResponse, error: unknown) {
    logger.error({ err: error }, 'the request could not be decided');
    problem(res, 503, 'Service Unavailable', 'The rate limit store could not decide; retry later.');
  }

  const server = createServer(handle);
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // Nothing may keep the process alive after a failed start (the Redis connection, the upstream pool).
    await proxy.close();
    await opened?.close();
    throw error;
  }
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  let lastText: string | undefined;
  let loaded = config; // the configuration as the file gave it
  function reload(text?: string): boolean {
    let source = text;
    try {
      source ??= readFileSync(options.configPath!, 'utf8');
      if (text === undefined && source === lastText) return true;
      const next = loadGatewayConfig(source, options.environment);
      // Compared with the file as last loaded: the command line's overrides are not changes.
      const fixed = (['listen', 'upstream', 'store', 'admin', 'keys'] as const).filter(
        (k) => JSON.stringify(next[k]) !== JSON.stringify(loaded[k]),
      );
      if (fixed.length > 0)
        logger.warn(
          { settings: fixed },
          `config reloaded; ${fixed.join(', ')} take effect at the next restart`,
        );
      enforcer = enforcerOf(next);
      config = {
        ...next,
        ...Object.fromEntries(
          (['listen', 'upstream', 'store', 'admin', 'keys'] as const).map((k) => [k, config[k]]),
        ),
      };
      loaded = next;
      lastText = source;
      logger.info({ policies: next.policies.policies.length }, 'config reloaded');
      return true;
    } catch (error) {
      lastText = source;
      logger.error(
        { err: error, path: (error as { path?: string }).path },
        `config refused, the previous one stays in force: ${(error as Error).message}`,
      );
      return false;
    }
  }

  let watcher: FSWatcher | undefined;
  if (options.configPath !== undefined) {
    lastText = readFileSync(options.configPath, 'utf8');
    try {
      loaded = loadGatewayConfig(lastText, options.environment);
    } catch {} // the file changed since it was read: the next reload reports it
    const file = basename(options.configPath);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The directory is watched: editors often replace the file rather than write it in place.
    watcher = watch(dirname(options.configPath), (_event, name) => {
      if (name !== null && name !== file) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload(), 100);
    });
    watcher.unref();
  }

  let closing: Promise<void> | undefined;
  async function close() {
    closing ??= (async () => {
      watcher?.close();
      const idle = new Promise<void>((resolve) => {
        drained = resolve;
        if (inFlight === 0) resolve();
      });
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([idle, grace]);
      server.closeAllConnections();
      await stopped;
      await proxy.close();
      await opened?.close();
    })();
    return closing;
  }

  logger.info({ url, upstream: config.upstream.url, store: config.store.type }, 'gateway listening');
  return {
    server,
    url,
    config: () => config,
    store,
    gatewayStore: opened,
    reload,
    close,
  };
}
