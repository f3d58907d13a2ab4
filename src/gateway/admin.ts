import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Duration, parsePositiveDuration } from '../core/duration.js';
import { fail, integerAtLeast, knownKeys, nonEmptyString, optionsObject } from '../internal/describe.js';

/**
 * What a readiness check answers: `ok`, and details merged into the `/readyz` body (e.g. the store's
 * breaker state).
 *
 * @example
 * ```ts
 * const readiness: Readiness = { ok: store.stats().state === 'up', details: { store: store.stats().state } };
 * ```
 */
export interface Readiness {
  /** Whether the gateway may take traffic: `/readyz` answers 200 if so, 503 if not. */
  readonly ok: boolean;
  /** Members added to the JSON body (any `status` member is overridden). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The metrics an admin server serves: any {@link GatewayMetrics} will do.
 *
 * @example
 * ```ts
 * const source: MetricsSource = createGatewayMetrics();
 * ```
 */
export interface MetricsSource {
  /** The registry, for the content type of its text (`text/plain; version=0.0.4; charset=utf-8`). */
  readonly registry: { readonly contentType: string };
  /** The metrics in the registry's text format. */
  text(): Promise<string>;
}

/**
 * Options of {@link createAdminServer}.
 *
 * @example
 * ```ts
 * const options: AdminServerOptions = { metrics, port: 9464, ready: () => ({ ok: true }) };
 * ```
 */
export interface AdminServerOptions {
  /** The metrics served at `GET /metrics`. */
  readonly metrics: MetricsSource;
  /**
   * The readiness check of `GET /readyz`. A check that throws, rejects, answers anything but a
   * {@link Readiness}, or takes longer than `readyTimeout` means "not ready".
   * @default () => ({ ok: true })
   * @example () => ({ ok: store.stats().state === 'up', details: { store: store.stats().state } })
   */
  readonly ready?: () => Readiness | Promise<Readiness>;
  /**
   * The longest wait for `ready()`.
   * @default '1s'
   * @example '250ms'
   */
  readonly readyTimeout?: Duration;
  /**
   * The address to listen on. Keep the admin port off the public network.
   * @default '127.0.0.1'
   * @example '0.0.0.0'
   */
  readonly host?: string;
  /**
   * The port to listen on; 0 picks a free one (see what `listen()` resolves).
   * @default 0
   * @example 9464
   */
  readonly port?: number;
}

/**
 * The admin HTTP server of a gateway, made by {@link createAdminServer}.
 *
 * @example
 * ```ts
 * const admin: AdminServer = createAdminServer({ metrics });
 * const { port } = await admin.listen();
 * ```
 */
export interface AdminServer {
  /** The underlying node:http server. */
  readonly server: Server;
  /** Starts listening; resolves the bound address, rejects if it cannot be bound. */
  listen(): Promise<{ readonly port: number; readonly host: string }>;
  /** Stops listening and closes every open connection; resolves when the server is closed. */
  close(): Promise<void>;
}

type Body = Record<string, unknown>;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

function send(res: ServerResponse, status: number, contentType: string, text: string, extra: Body = {}) {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(text);
}

const sendJson = (res: ServerResponse, status: number, body: Body, extra?: Body) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), extra);

const isRecord = (value: unknown): value is Body =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isReadiness = (value: unknown): value is Readiness =>
  isRecord(value) &&
  typeof value.ok === 'boolean' &&
  (value.details === undefined || isRecord(value.details));

/** Runs the readiness check within `timeoutMs`: its answer, or "not ready" with the reason. */
async function readiness(ready: () => Readiness | Promise<Readiness>, timeoutMs: number): Promise<Body> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`ready() did not answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    const answer: unknown = await Promise.race([Promise.resolve().then(ready), timeout]);
    if (!isReadiness(answer))
      return {
        status: 'not ready',
        error: 'ready() answered something other than { ok: boolean, details?: object }',
      };
    const body: Body = { status: answer.ok ? 'ready' : 'not ready', ...answer.details };
    body.status = answer.ok ? 'ready' : 'not ready'; // first member, and never overridden by details
    return body;
  } catch (error) {
    return { status: 'not ready', error: messageOf(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function readyz(res: ServerResponse, ready: () => Readiness | Promise<Readiness>, timeoutMs: number) {
  const body = await readiness(ready, timeoutMs);
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch (error) {
    text = JSON.stringify({ status: 'not ready', error: `details are not JSON: ${messageOf(error)}` });
    body.status = 'not ready';
  }
  send(res, body.status === 'ready' ? 200 : 503, 'application/json; charset=utf-8', text);
}

/**
 * Creates the admin server of a gateway (node:http), meant for a separate, private port:
 *
 * - `GET /healthz`: 200 `{"status":"ok"}` while the process serves (liveness);
 * - `GET /readyz`: 200 `{"status":"ready",…details}` or 503 `{"status":"not ready",…}` from `ready()`;
 * - `GET /metrics`: the metrics, in the registry's text format and content type;
 * - `HEAD` as `GET` without a body; any other method 405, any other path 404.
 *
 * @example
 * ```ts
 * const admin = createAdminServer({
 *   metrics,
 *   ready: () => ({ ok: store.stats().state === 'up', details: { store: store.stats().state } }),
 *   port: 9464,
 * });
 * const { host, port } = await admin.listen();
 * process.on('SIGTERM', () => void admin.close());
 * ```
 */
export function createAdminServer(options: AdminServerOptions): AdminServer {
  const o = optionsObject('createAdminServer options', options);
  knownKeys('createAdminServer()', o, ['metrics', 'ready', 'readyTimeout', 'host', 'port']);
  const metrics = o.metrics as MetricsSource;
  if (
    typeof metrics !== 'object' ||
    metrics === null ||
    typeof metrics.text !== 'function' ||
    typeof metrics.registry?.contentType !== 'string'
  )
    fail('metrics', 'the result of createGatewayMetrics() (with text() and registry.contentType)', metrics);
  if (o.ready !== undefined && typeof o.ready !== 'function') fail('ready', 'a function', o.ready);
  const ready = (o.ready as AdminServerOptions['ready']) ?? (() => ({ ok: true }));
  const timeoutMs = parsePositiveDuration(o.readyTimeout ?? 1000, 'readyTimeout');
  const host = nonEmptyString('host', o.host ?? '127.0.0.1');
  const port = integerAtLeast('port', o.port ?? 0, 0);
  if (port > 65_535) fail('port', 'an integer from 0 to 65535', port);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendJson(res, 405, { status: 'method not allowed' }, { Allow: 'GET, HEAD' });
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') return readyz(res, ready, timeoutMs);
    if (path === '/metrics') return send(res, 200, metrics.registry.contentType, await metrics.text());
    sendJson(res, 404, { status: 'not found' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { status: 'error', error: messageOf(error) });
    });
  });

  return {
    server,
    listen: () =>
      new Promise((resolve, reject) => {
        const onError = (error: Error) => {
          server.off('listening', onListening);
          reject(error);
        };
        const onListening = () => {
          server.off('error', onError);
          const address = server.address() as AddressInfo;
          resolve({ port: address.port, host: address.address });
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen(port, host);
      }),
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
