import type { ClientIp, ClientIpRequest } from '../http/client-ip.js';
import { keyedHash } from '../internal/hash.js';
import type { KeyPart, Policy } from './config.js';

/**
 * The framework-neutral description of a request that adapters build.
 *
 * @example
 * ```ts
 * const request: RequestInfo = { method: req.method, path: req.url, headers: req.headers, remoteAddress: req.socket.remoteAddress };
 * ```
 */
export interface RequestInfo {
  readonly method: string;
  /** The request target: path and query string. */
  readonly path: string;
  /** Header names in lower case, as node:http gives them. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly remoteAddress: string | undefined;
  /** The authenticated user, from the application's own authentication (key part `user`). */
  readonly user?: string | undefined;
  /** The authenticated account (key part `account`). */
  readonly account?: string | undefined;
}

/** Credentials are hashed before use: never stored, keyed or logged raw; with a secret, an HMAC. */
const hasherOf = (secret: string | undefined) => {
  const hash = keyedHash(secret);
  return (value: string): string => hash(value).slice(0, 32);
};

const headerValue = (request: RequestInfo, name: string): string | undefined => {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value.join(', ') : (value as string | undefined);
  return text === undefined || text === '' ? undefined : text;
};

/** The bearer token of `Authorization: Bearer …`. */
function bearerOf(request: RequestInfo): string | undefined {
  return headerValue(request, 'authorization')?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

const partName = (part: KeyPart): string =>
  typeof part === 'string' ? part : 'header' in part ? `header:${part.header}` : `param:${part.param}`;

/**
 * The key builder of an enforcer: a policy's key for a request, from its key parts (credentials hashed),
 * plus the method and route when the policy's scope is `endpoint`; undefined when a part is missing and
 * the policy skips such requests.
 */
export function createKeyOf(options: {
  readonly clientIp: (request: ClientIpRequest) => ClientIp;
  readonly keySecret: string | undefined;
}) {
  const { clientIp } = options;
  const hashSecret = hasherOf(options.keySecret);

  function partValue(
    part: KeyPart,
    request: RequestInfo,
    params: Record<string, string>,
  ): string | undefined {
    if (part === 'ip')
      return clientIp({ remoteAddress: request.remoteAddress, headers: request.headers }).key;
    if (part === 'apiKey' || part === 'bearer') {
      // Each part reads one source only: a client must not pick which credential keys its budget.
      const secret = part === 'apiKey' ? headerValue(request, 'x-api-key') : bearerOf(request);
      return secret === undefined ? undefined : hashSecret(secret);
    }
    if (part === 'user') return request.user === '' ? undefined : request.user;
    if (part === 'account') return request.account === '' ? undefined : request.account;
    if ('header' in part) return headerValue(request, part.header);
    return Object.hasOwn(params, part.param) ? params[part.param] : undefined;
  }

  return (
    policy: Policy,
    request: RequestInfo,
    params: Record<string, string>,
    method: string,
    endpoint: string,
  ): string | undefined => {
    const only = policy.key.length === 1 && policy.scope !== 'endpoint' ? policy.key[0]! : undefined;
    if (only !== undefined) {
      // One part, shared scope (the common case): the key without an array.
      const value = partValue(only, request, params);
      if (value !== undefined) return `${partName(only)}=${encodeURIComponent(value)}`;
      return policy.whenMissing === 'skip' ? undefined : `${partName(only)}~missing`;
    }
    const parts: string[] = [];
    for (const part of policy.key) {
      const value = partValue(part, request, params);
      if (value === undefined) {
        // Leaving a credential out must not escape the limit: such requests share one budget, unless
        // the policy says to skip them (another policy covers anonymous traffic).
        if (policy.whenMissing === 'skip') return undefined;
        parts.push(`${partName(part)}~missing`);
      } else {
        parts.push(`${partName(part)}=${encodeURIComponent(value)}`);
      }
    }
    if (policy.scope === 'endpoint') parts.push(`endpoint=${encodeURIComponent(`${method} ${endpoint}`)}`);
    return parts.join('&');
  };
}
