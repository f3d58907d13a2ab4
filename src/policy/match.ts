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
  return QUERY_METHODS.has(method) || QUERY_METHODS.has(method.toUpperCase()) ? 'query' : 'command';
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
  /** The names of its `:param` segments. */
  readonly params: readonly string[];
  /**
   * Matches a request target, normalised by {@link segmentsOf} (literals in any case). Resolves the captured
   * parameters (percent-decoded) and the endpoint: the pattern with wildcards filled in by the request's
   * own segments (in lower case), so `/items/:id` is one endpoint for every id while `/**` is one endpoint
   * per path.
   */
  match(path: string): { params: Record<string, string>; endpoint: string } | undefined;
  /** {@link PathPattern.match} on segments already normalised by {@link segmentsOf}. */
  matchSegments(
    segments: readonly string[],
  ): { params: Record<string, string>; endpoint: string } | undefined;
}

/**
 * The segments of a request target, normalised the way frameworks route it, so that no spelling of a path
 * escapes its limit: an absolute-form target (`http://host/path`) is reduced to its path, the query and
 * fragment are dropped, empty segments (`//`, a trailing `/`) are ignored, each segment is percent-decoded
 * (`%70rocess` is `process`), and dot segments are resolved (`/a/../b` is `/b`).
 */
export function segmentsOf(target: string): string[] {
  if (NORMAL.test(target)) return target.slice(1).split('/');
  let path = target;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(path);
  if (scheme !== null) path = path.slice(scheme[0].length);
  const end = path.search(/[?#]/);
  const bare = end === -1 ? path : path.slice(0, end);
  const segments: string[] = [];
  for (const segment of bare.split('/')) {
    if (segment.length === 0) continue;
    const decoded = decode(segment);
    // Dot segments are resolved as servers resolve them (RFC 3986 §5.2.4), escaped ones included, so that
    // `/a/../b` is limited as `/b`.
    if (decoded === '.') continue;
    if (decoded === '..') segments.pop();
    else segments.push(decoded);
  }
  return segments;
}

/**
 * A target already in normal form (the usual case): lower-case, unescaped, no empty or dot segment, no
 * query.
 */
const NORMAL = /^(?:\/(?!\.\.?(?:\/|$))[a-z0-9._~!$&'()*+,;=:@-]+)+$/;

/**
 * The normalised path of a request target, in lower case: `/` and its decoded segments.
 *
 * @example
 * ```ts
 * normalisedPath('http://host//Items/%31?x=1'); // '/items/1'
 * ```
 */
export const normalisedPath = (target: string): string =>
  NORMAL.test(target) ? target : `/${segmentsOf(target).join('/')}`.toLowerCase();

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
  // Literals match in any case (Express routes case-insensitively by default): a limit must not be escaped
  // by writing `/Items` for `/items`.
  const rest = parts.at(-1) === '**';
  for (const [i, part] of parts.entries()) if (!part.startsWith(':')) parts[i] = part.toLowerCase();
  const fixed = rest ? parts.slice(0, -1) : parts;
  return {
    source,
    params: [...names],
    match(requestPath) {
      return this.matchSegments(segmentsOf(requestPath));
    },
    matchSegments(segments) {
      if (rest ? segments.length < fixed.length : segments.length !== fixed.length) return undefined;
      // No prototype: a parameter may be called `__proto__`.
      const params: Record<string, string> = Object.create(null);
      const endpoint: string[] = [];
      for (const [i, part] of fixed.entries()) {
        const segment = segments[i]!;
        if (part.startsWith(':')) {
          params[part.slice(1)] = segment;
          endpoint.push(part);
        } else if (part === '*') {
          endpoint.push(segment.toLowerCase());
        } else if (part === segment.toLowerCase()) {
          endpoint.push(part);
        } else {
          return undefined;
        }
      }
      if (rest) for (const segment of segments.slice(fixed.length)) endpoint.push(segment.toLowerCase());
      return { params, endpoint: `/${endpoint.join('/')}` };
    },
  };
}
