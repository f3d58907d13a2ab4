import type { NextFunction, Request, Response } from 'express';
import { whenReady } from '../internal/maybe.js';
import type { Enforcer, Verdict } from '../policy/enforce.js';
import { applyVerdict, decideOnce, type Identify, requestInfoOf } from './node.js';

declare global {
  // Express declares `res.locals` through this global namespace: the augmentation types `res.locals.sluice`.
  namespace Express {
    interface Locals {
      /** The rate limit verdict of the request, set by `sluiceExpress` before the next handler runs. */
      sluice?: Verdict;
    }
  }
}

/**
 * Options of {@link sluiceExpress}.
 *
 * @example
 * ```ts
 * const options: ExpressAdapterOptions = { identify: (req) => ({ user: req.user?.id }) };
 * ```
 */
export interface ExpressAdapterOptions {
  /**
   * Who the request belongs to (key parts `user` and `account`), from the application's own authentication:
   * mount the limiter after the middleware that sets `req.user`.
   * @default no user or account: policies keyed by them do not apply
   * @example (req) => ({ user: req.user?.id, account: req.user?.accountId })
   */
  readonly identify?: Identify<Request>;
  /** The `SLUICE_COUNTED_TWICE` warning (a request through this limiter twice is counted once). @default true */
  readonly warnings?: boolean;
}

/**
 * The Express middleware (Express 4 and 5). It decides, writes the rate limit header fields, answers a
 * rejected request itself (status, headers and body of the rejection) without calling `next`, and exposes
 * the verdict to later handlers as **`res.locals.sluice`** (`allowed`, `applied` with every policy's
 * `remaining`, `headers`). Concurrency leases go back when the response finishes or the client disconnects.
 * If deciding throws (a store outage), the error goes to `next(error)`: the request never hangs, and the
 * application's error handler chooses between failing open and failing closed.
 *
 * The key's path is `req.originalUrl`, so a limiter mounted under a prefix (`app.use('/api', …)`) matches
 * the full path policies are written against.
 *
 * @example
 * ```ts
 * const app = express();
 * app.use(authenticate); // sets req.user
 * app.use(sluiceExpress(createEnforcer({ policies }), { identify: (req) => ({ user: req.user?.id }) }));
 * app.get('/items', (req, res) => {
 *   const remaining = res.locals.sluice?.applied[0]?.decisions[0]?.remaining;
 *   res.json({ items: [], remaining });
 * });
 * ```
 */
export function sluiceExpress(
  enforcer: Enforcer,
  options: ExpressAdapterOptions = {},
): (req: Request, res: Response, next: NextFunction) => void {
  const infoOf = (req: Request) => {
    const info = requestInfoOf(req, options.identify?.(req));
    return { ...info, path: req.originalUrl ?? info.path };
  };
  return (req, res, next) => {
    const proceed = (verdict: Verdict) => {
      res.locals.sluice = verdict;
      let allowed: boolean;
      try {
        allowed = applyVerdict(verdict, res);
      } catch (error) {
        next(error);
        return;
      }
      if (allowed) next();
    };
    // A synchronous store (memory) answers at once: the request goes on without waiting for a promise.
    whenReady(() => decideOnce(enforcer, req, infoOf(req), options.warnings), proceed, next);
  };
}
