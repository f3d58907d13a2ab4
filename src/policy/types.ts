import type { Duration } from '../core/duration.js';
import type { Limit } from '../core/limits.js';
import type { PathPattern, RequestClass } from './match.js';

/**
 * What a policy does with the requests it matches: `enforce` (count, announce and reject), `shadow`
 * (count and announce, never reject: for turning limits on safely) or `off`.
 *
 * @example
 * ```ts
 * const mode: PolicyMode = 'shadow';
 * ```
 */
export type PolicyMode = 'enforce' | 'shadow' | 'off';

/**
 * One part of a policy's key: who the limit applies to.
 * - `ip`: the client address (see the trusted-proxy options);
 * - `apiKey`: the `X-API-Key` header, `bearer`: the `Authorization: Bearer` token; both hashed before use
 *   (never stored or logged raw), each read from its one source only;
 * - `user`, `account`: supplied by the application from its own authentication;
 * - `{ header }`: a request header's value; `{ param }`: a route parameter of the matched path.
 *
 * @example
 * ```ts
 * const key: KeyPart[] = ['account', { param: 'siteIdentifier' }];
 * ```
 */
export type KeyPart =
  | 'ip'
  | 'apiKey'
  | 'bearer'
  | 'user'
  | 'account'
  | { readonly header: string }
  | { readonly param: string };

/**
 * A limit in configuration: the options of `tokenBucket`, `fixedWindow` or `slidingWindow` with a `type`.
 *
 * @example
 * ```ts
 * const limit: LimitConfig = { type: 'fixedWindow', limit: 50, window: '10s' };
 * ```
 */
export type LimitConfig =
  | {
      readonly type: 'tokenBucket';
      readonly rate: number;
      readonly per?: Duration;
      readonly burst?: number;
      readonly name?: string;
    }
  | {
      readonly type: 'fixedWindow' | 'slidingWindow';
      readonly limit: number;
      readonly window: Duration;
      readonly name?: string;
    };

/**
 * One policy as written in configuration (YAML or JSON).
 *
 * @example
 * ```ts
 * const policy: PolicyConfig = {
 *   name: 'process',
 *   match: { methods: ['POST'], paths: ['/platform/v2/process/:siteIdentifier'] },
 *   key: [{ param: 'siteIdentifier' }],
 *   limits: [{ type: 'tokenBucket', rate: 1, per: '5m', burst: 1 }],
 * };
 * ```
 */
export interface PolicyConfig {
  /** Unique name: in headers, bodies, logs and metrics. */
  readonly name: string;
  /** Which requests it applies to; every request when omitted. All given conditions must hold. */
  readonly match?: {
    readonly methods?: readonly string[];
    readonly paths?: readonly string[];
    /** Paths left out even when `paths` matches them (e.g. `/**` except the endpoints with their own policy). */
    readonly except?: readonly string[];
    readonly class?: RequestClass | readonly RequestClass[];
  };
  /** Whose budget: one part or a combination. @default 'ip' */
  readonly key?: KeyPart | readonly KeyPart[];
  /** `shared` by every matched route, or one budget per `endpoint` (method and route). @default 'shared' */
  readonly scope?: 'shared' | 'endpoint';
  /**
   * A request without a key part (no API key, no tenant header, no user): `share` one budget with every
   * such request, so that leaving a credential out never escapes the limit; or `skip` the policy (when
   * another policy covers anonymous traffic). @default 'share'
   */
  readonly whenMissing?: 'share' | 'skip';
  /** Rate limits, all checked atomically with every other matching policy's. */
  readonly limits?: readonly LimitConfig[];
  /** Requests in flight at once per key; a lease expires after `ttl` if never released. */
  readonly concurrency?: { readonly max: number; readonly ttl?: Duration };
  /** Units each request costs. @default 1 */
  readonly cost?: number;
  /** @default 'enforce' */
  readonly mode?: PolicyMode;
  /** The mode per environment, overriding `mode`: `{ production: 'shadow' }`. */
  readonly modes?: Readonly<Record<string, PolicyMode>>;
}

/**
 * A whole configuration.
 *
 * @example
 * ```ts
 * const config: PoliciesConfig = { environment: 'production', policies: [policy] };
 * ```
 */
export interface PoliciesConfig {
  /** Selects each policy's `modes` entry. */
  readonly environment?: string;
  readonly policies: readonly PolicyConfig[];
}

/**
 * A validated policy, ready to decide with.
 *
 * @example
 * ```ts
 * const [first] = parsePolicies(config).policies;
 * first.limits.map((limit) => limit.id); // ['policy:process:1/300000ms-burst-1']
 * ```
 */
export interface Policy {
  readonly name: string;
  /** Upper-case methods, or every method. */
  readonly methods: ReadonlySet<string> | undefined;
  readonly paths: readonly PathPattern[] | undefined;
  /** Paths the policy never applies to. */
  readonly except: readonly PathPattern[] | undefined;
  readonly classes: ReadonlySet<RequestClass> | undefined;
  readonly key: readonly KeyPart[];
  readonly scope: 'shared' | 'endpoint';
  readonly whenMissing: 'share' | 'skip';
  /** Limits namespaced `policy:<name>:<limit name>`. */
  readonly limits: readonly Limit[];
  readonly concurrency: { readonly max: number; readonly ttlMs: number } | undefined;
  readonly cost: number;
  /** The mode in force for the configuration's environment. */
  readonly mode: PolicyMode;
}

/**
 * Validated policies.
 *
 * @example
 * ```ts
 * const { environment, policies } = parsePolicies(config);
 * ```
 */
export interface PolicySet {
  readonly environment: string | undefined;
  readonly policies: readonly Policy[];
}
