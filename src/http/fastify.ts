import type {
  HookHandlerDoneFunction as DoneFn,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import { whenReady } from '../internal/maybe.js';
import type { Enforcer, Verdict } from '../policy/enforce.js';
import { decideOnce, type Identify, requestInfoOf } from './node.js';

/** The request field that records which enforcers decided a request (see `decideOnce`). */
const DECIDED = Symbol.for('sluice.fastify.decided');

declare module 'fastify' {
  interface FastifyRequest {
    /** The rate limit verdict of the request, set by the `sluiceFastify` plugin's `onRequest` hook. */
    sluice?: Verdict;
  }
}

/**
 * Options of {@link sluiceFastify}.
 *
 * @example
 * ```ts
 * const options: FastifyAdapterOptions = { enforcer, identify: (request) => ({ user: request.user?.id }) };
 * ```
 */
export interface FastifyAdapterOptions {
  /** The enforcer that decides every request. */
  readonly enforcer: Enforcer;
  /**
   * Who the request belongs to (key parts `user` and `account`), from the application's own authentication.
   * It runs in `onRequest`, before body parsing: use something known then (a decoded token, a session).
   * @default no user or account: policies keyed by them do not apply
   * @example (request) => ({ account: request.headers['x-account'] as string | undefined })
   */
  readonly identify?: Identify<FastifyRequest>;
  /** The `SLUICE_COUNTED_TWICE` warning (a request through this limiter twice is counted once). @default true */
  readonly warnings?: boolean;
}

/**
 * The Fastify plugin (Fastify 5). Its `onRequest` hook decides, sets the rate limit header fields on the
 * reply, answers a rejected request itself (status, headers and body of the rejection) and stops there, and
 * exposes the verdict to handlers as **`request.sluice`**. Concurrency leases go back in `onResponse`, or
 * when the client disconnects first. A throwing decision (a store outage) goes to Fastify's error handler.
 *
 * The plugin skips Fastify's encapsulation (as `fastify-plugin` would, without depending on it): registered
 * at the root it limits every route; registered inside a plugin it limits that plugin's routes only.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(sluiceFastify, { enforcer: createEnforcer({ policies }) });
 * app.get('/items', async (request) => ({ allowed: request.sluice?.allowed }));
 * await app.listen({ port: 3000 });
 * ```
 */
export const sluiceFastify: FastifyPluginAsync<FastifyAdapterOptions> = Object.assign(
  async function sluice(
    instance: Parameters<FastifyPluginAsync<FastifyAdapterOptions>>[0],
    options: FastifyAdapterOptions,
  ) {
    const { enforcer, identify } = options;
    if (!instance.hasRequestDecorator('sluice')) instance.decorateRequest('sluice', undefined);
    // The record of the enforcers that decided a request lives in a field Fastify declares on every
    // request up front, rather than one added to the raw request later (which changes its shape).
    if (!instance.hasRequestDecorator(DECIDED)) instance.decorateRequest(DECIDED, null);
    /** Applies a verdict to the reply; answers a rejected request itself (and then never calls `done`). */
    function proceed(verdict: Verdict, request: FastifyRequest, reply: FastifyReply, done: DoneFn) {
      request.sluice = verdict;
      // 'close' fires after the response and also when the client goes away mid-request.
      if (verdict.holdsLeases) {
        if (reply.raw.closed || reply.raw.destroyed) void verdict.release();
        else reply.raw.once('close', () => void verdict.release());
      }
      for (const [name, value] of verdict.headers) reply.header(name, value);
      if (verdict.rejection === undefined) {
        done();
        return;
      }
      const { status, headers, body } = verdict.rejection;
      for (const [name, value] of headers) reply.header(name, value);
      reply.code(status).send(body);
    }
    // A callback hook rather than an async one: on a synchronous store (memory) the request goes on
    // without a promise.
    instance.addHook('onRequest', (request, reply, done) => {
      whenReady(
        () =>
          decideOnce(
            enforcer,
            request,
            requestInfoOf(request.raw, identify?.(request)),
            options.warnings,
            DECIDED,
          ),
        (verdict) => proceed(verdict, request, reply, done),
        (error) => done(error as Error),
      );
    });
  },
  {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'sluice',
    [Symbol.for('plugin-meta')]: { name: 'sluice', fastify: '5.x' },
  },
);
