import type { Enforcer, Verdict } from '../policy/enforce.js';
import { decideOnce, type Identify } from './node.js';

/**
 * Options of {@link sluiceFetch}.
 *
 * @example
 * ```ts
 * const options: FetchAdapterOptions = { remoteAddress: (request, info) => info?.remoteAddress };
 * ```
 */
export interface FetchAdapterOptions<I = unknown> {
  /** The client's address: fetch-style runtimes keep it outside the Request (Hono: `c.env.incoming.socket`). */
  readonly remoteAddress?: (request: Request, info: I | undefined) => string | undefined;
  readonly identify?: Identify<Request>;
  /** The `SLUICE_COUNTED_TWICE` warning (a request through this limiter twice is counted once). @default true */
  readonly warnings?: boolean;
}

/**
 * The result of {@link sluiceFetch}'s check: a `Response` to send instead (rejected), or the verdict and a
 * function that adds the rate limit fields to the application's own response.
 *
 * @example
 * ```ts
 * const result: FetchCheck = await check(request);
 * ```
 */
export type FetchCheck =
  | { readonly rejected: Response; readonly verdict: Verdict }
  | { readonly rejected?: undefined; readonly verdict: Verdict; decorate(response: Response): Response };

/**
 * The fetch-style adapter (`Request → Response | undefined`), usable as Hono middleware or in any
 * fetch handler. A rejected request gets its `Response`; an allowed one gets `decorate`, which adds the
 * header fields to the response and releases the concurrency leases when its body has been sent (or
 * failed); call `verdict.release()` yourself if you never build a response.
 *
 * @example
 * ```ts
 * const check = sluiceFetch(createEnforcer({ policies }));
 * export default {
 *   async fetch(request: Request) {
 *     const result = await check(request);
 *     if (result.rejected) return result.rejected;
 *     return result.decorate(new Response('hello'));
 *   },
 * };
 * ```
 */
export function sluiceFetch<I = unknown>(
  enforcer: Enforcer,
  options: FetchAdapterOptions<I> = {},
): (request: Request, info?: I) => Promise<FetchCheck> {
  if (options.remoteAddress === undefined && options.warnings !== false) {
    process.emitWarning(
      'sluiceFetch() has no remoteAddress option: every client has the same address ("unknown"), so policies keyed by ip share one budget',
      { code: 'SLUICE_NO_CLIENT_ADDRESS', type: 'SluiceWarning' },
    );
  }
  return async (request, info) => {
    const url = new URL(request.url);
    const identity = options.identify?.(request);
    const verdict = await decideOnce(
      enforcer,
      request,
      () => ({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers: Object.fromEntries(request.headers),
        remoteAddress: options.remoteAddress?.(request, info),
        ...(identity?.user === undefined ? {} : { user: identity.user }),
        ...(identity?.account === undefined ? {} : { account: identity.account }),
      }),
      options.warnings,
    );
    if (verdict.rejection !== undefined) {
      await verdict.release();
      const { status, headers, body } = verdict.rejection;
      return { rejected: new Response(body, { status, headers }), verdict };
    }
    // The client going away aborts the request's signal: the leases go back then too (at once if it left
    // while the decision was being made).
    if (verdict.holdsLeases) {
      if (request.signal.aborted) void verdict.release();
      else request.signal.addEventListener('abort', () => void verdict.release(), { once: true });
    }
    return {
      verdict,
      decorate(response) {
        const headers = new Headers(response.headers);
        for (const [name, value] of verdict.headers) headers.set(name, value);
        if (response.body === null) {
          void verdict.release();
          return new Response(null, { status: response.status, statusText: response.statusText, headers });
        }
        const release = new TransformStream({ flush: () => void verdict.release() });
        response.body.pipeTo(release.writable).catch(() => void verdict.release());
        return new Response(release.readable, {
          status: response.status,
          statusText: response.statusText,
          headers,
        });
      },
    };
  };
}
