import { ConfigError } from '../core/errors.js';
import { fail } from '../internal/describe.js';

/**
 * A request class: `query` (GET, HEAD, OPTIONS: reads) or `command` (every other method: writes).
 *
 * @example
 * ```ts
 * const reads: RequestClass = classOf('GET'); // 'query'
 * ```
 */
export type RequestClass = 'query' | 'command';

const QUERY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The class of a request method.
 *
 * @example
 * ```ts
 * classOf('POST'); // 'command'
 * ```
 */
export function classOf(method: string): RequestClass {
  return QUERY_METHODS.has(method.toUpperCase()) ? 'query' : 'command';
}

/**
 * A compiled path pattern. Segments are literals, `:name` (one segment, captured as a parameter), `*`
 * (any one segment) or a final `**` (any rest, including nothing).
 *
 * @example
 * ```ts
 * const route = compilePath('/platform/v2/process/:siteIdentifier');
 * route.match('/platform/v2/process/site-9'); // { params: { siteIdentifier: 'site-9' }, endpoint: '/platform/v2/process/:siteIdentifier' }
 * ```
 */
export interface PathPattern {
  readonly source: string;
  /**
   * Matches a request path (query string ignored, trailing slash ignored). Resolves the captured
   * parameters (percent-decoded) and the endpoint: the pattern with wildcards filled in by the request's
   * own segments, so `/items/:id` is one endpoint for every id while `/**` is one endpoint per path.
   */
  match(path: string): { params: Record<string, string>; endpoint: string } | undefined;
}

const segmentsOf = (path: string): string[] => {
  const end = path.search(/[?#]/);
  const bare = end === -1 ? path : path.slice(0, end);
  return bare.split('/').filter((segment) => segment.length > 0);
};

const decode = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // a malformed escape is kept as sent, never a crash
  }
};

/**
 * Compiles a path pattern; `path` names the option in errors.
 *
 * @example
 * ```ts
 * compilePath('/v1/reports/**').match('/v1/reports/2024/06')?.endpoint; // '/v1/reports/2024/06'
 * ```
 */
export function compilePath(source: string, path = 'path'): PathPattern {
  if (typeof source !== 'string' || !source.startsWith('/'))
    fail(path, 'a path pattern starting with "/"', source);
  const parts = segmentsOf(source);
  const names = new Set<string>();
  for (const [i, part] of parts.entries()) {
    if (part === '**' && i !== parts.length - 1) {
      throw new ConfigError(
        path,
        `\`**\` may only end a path pattern, in ${JSON.stringify(source)} (\`${path}\`)`,
      );
    }
    if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || names.has(name)) {
        throw new ConfigError(
          path,
          `Expected \`${path}\` to name each parameter once with letters, digits or _, got ${JSON.stringify(part)}`,
        );
      }
      names.add(name);
    }
  }
  const rest = parts.at(-1) === '**';
  const fixed = rest ? parts.slice(0, -1) : parts;
  return {
    source,
    match(requestPath) {
      const segments = segmentsOf(requestPath);
      if (rest ? segments.length < fixed.length : segments.length !== fixed.length) return undefined;
      // No prototype: a parameter may be called `__proto__`.
      const params: Record<string, string> = Object.create(null);
      const endpoint: string[] = [];
      for (const [i, part] of fixed.entries()) {
        const segment = segments[i]!;
        if (part.startsWith(':')) {
          params[part.slice(1)] = decode(segment);
          endpoint.push(part);
        } else if (part === '*') {
          endpoint.push(segment);
        } else if (part === segment) {
          endpoint.push(part);
        } else {
          return undefined;
        }
      }
      if (rest) endpoint.push(...segments.slice(fixed.length));
      return { params, endpoint: `/${endpoint.join('/')}` };
    },
  };
}
