import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Enforcer, RequestInfo, Verdict } from '../policy/enforce.js';

/**
 * How an adapter learns who the request belongs to, from the application's own authentication.
 *
 * @example
 * ```ts
 * const identify: Identify<Request> = (req) => ({ user: req.user?.id, account: req.user?.accountId });
 * ```
 */
export type Identify<R> = (
  request: R,
) => { user?: string | undefined; account?: string | undefined } | undefined;

/**
 * The request description of a node:http request.
 *
 * @example
 * ```ts
 * const verdict = await enforcer.decide(requestInfoOf(req, { user: session.userId }));
 * ```
 */
export function requestInfoOf(
  req: IncomingMessage,
  identity?: ReturnType<Identify<IncomingMessage>>,
): RequestInfo {
  const info: { -readonly [K in keyof RequestInfo]: RequestInfo[K] } = {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
  };
  if (identity?.user !== undefined) info.user = identity.user;
  if (identity?.account !== undefined) info.account = identity.account;
  return info;
}

/**
 * Applies a verdict to a node:http response: sets the header fields, sends the rejection if there is one,
 * and releases the request's concurrency leases once the response finishes or the client goes away.
 * Returns true when the request may go on to the application.
 *
 * @example
 * ```ts
 * if (applyVerdict(await enforcer.decide(requestInfoOf(req)), res)) next();
 * ```
 */
export function applyVerdict(verdict: Verdict, res: ServerResponse): boolean {
  // 'close' fires after 'finish' and also when the client disconnects first: one release either way; a
  // response that closed while the decision was being made releases at once.
  if (verdict.holdsLeases) {
    if ((res as { closed?: boolean }).closed === true || res.destroyed) void verdict.release();
    else res.once('close', () => void verdict.release());
  }
  if (!res.headersSent) for (const [name, value] of verdict.headers) res.setHeader(name, value);
  if (verdict.rejection === undefined) return true;
  const { status, headers, body } = verdict.rejection;
  if (!res.headersSent) {
    res.statusCode = status;
    for (const [name, value] of headers) res.setHeader(name, value);
  }
  res.end(body);
  return false;
}

/**
 * Verdicts already given to a raw request, per enforcer: a request is counted once, however many layers.
 * Kept on the request object itself (a WeakMap of every request in flight would weigh on the GC).
 */
const DECIDED = Symbol('sluice.decided');
interface Decided {
  readonly enforcer: Enforcer;
  readonly verdict: Verdict | Promise<Verdict>;
}
const warned = new WeakSet<Enforcer>();

/**
 * Decides a request once per enforcer. A second pass of the same request through the same enforcer (the
 * limiter mounted twice, app-wide and on a route) gets the first verdict instead of counting the request
 * again, and raises the coded warning `SLUICE_COUNTED_TWICE` once per enforcer (unless `warnings` is false).
 * Like `enforcer.check`, it gives the verdict itself when the store is synchronous, and may throw. `info`
 * is the request's description, or a function that makes it (called only if the request is new). `slot` is
 * the property that keeps the record on `raw` (an adapter may give one its framework declares up front).
 *
 * @example
 * ```ts
 * const verdict = await decideOnce(enforcer, req, requestInfoOf(req));
 * ```
 */
export function decideOnce(
  enforcer: Enforcer,
  raw: object,
  info: RequestInfo | (() => RequestInfo),
  warnings = true,
  slot: symbol = DECIDED,
): Verdict | Promise<Verdict> {
  // The record: one entry for the first enforcer (the usual case), a list once a second one decides.
  const holder = raw as Record<symbol, Decided | Decided[] | null | undefined>;
  const seen = holder[slot] ?? undefined;
  const earlier =
    seen === undefined
      ? undefined
      : Array.isArray(seen)
        ? seen.find((entry) => entry.enforcer === enforcer)?.verdict
        : seen.enforcer === enforcer
          ? seen.verdict
          : undefined;
  if (earlier !== undefined) {
    if (warnings && !warned.has(enforcer)) {
      warned.add(enforcer);
      process.emitWarning(
        'sluice saw the same request twice through one enforcer (is the limiter mounted twice?); it was counted once',
        { code: 'SLUICE_COUNTED_TWICE', type: 'SluiceWarning' },
      );
    }
    return earlier;
  }
  const verdict = enforcer.check(typeof info === 'function' ? info() : info);
  const entry: Decided = { enforcer, verdict };
  if (seen === undefined) holder[slot] = entry;
  else if (Array.isArray(seen)) seen.push(entry);
  else holder[slot] = [seen, entry];
  return verdict;
}

/**
 * Options of {@link sluiceNode}.
 *
 * @example
 * ```ts
 * const options: NodeAdapterOptions = { identify: (req) => ({ user: String(req.headers['x-user'] ?? '') }) };
 * ```
 */
export interface NodeAdapterOptions {
  readonly identify?: Identify<IncomingMessage>;
  /** The `SLUICE_COUNTED_TWICE` warning. @default true */
  readonly warnings?: boolean;
}

/**
 * The node:http adapter: `guard(req, res)` decides, writes the rate limit headers, answers a rejected
 * request itself and resolves `undefined` for it, or resolves the verdict (for `remaining` and the rest) when
 * the request may go on. Leases are released when the response finishes or the client disconnects.
 *
 * @example
 * ```ts
 * const guard = sluiceNode(createEnforcer({ policies }));
 * createServer(async (req, res) => {
 *   const verdict = await guard(req, res);
 *   if (verdict === undefined) return; // rejected: already answered
 *   res.end('hello');
 * }).listen(3000);
 * ```
 */
export function sluiceNode(
  enforcer: Enforcer,
  options: NodeAdapterOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<Verdict | undefined> {
  return async (req, res) => {
    const verdict = await decideOnce(
      enforcer,
      req,
      requestInfoOf(req, options.identify?.(req)),
      options.warnings,
    );
    return applyVerdict(verdict, res) ? verdict : undefined;
  };
}
