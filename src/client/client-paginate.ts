import { fail, knownKeys, nonEmptyString, optionsObject } from '../internal/describe.js';
import { HttpStatusError } from './client-errors.js';

/**
 * One page as {@link PaginateOptions.next} sees it.
 *
 * @example
 * ```ts
 * const next = (page: PaginatePage<Order>) =>
 *   page.items.length < 100 ? undefined : `?offset=${Number(page.url.searchParams.get('offset')) + 100}`;
 * ```
 */
export interface PaginatePage<T> {
  /** The parsed JSON body. */
  body: unknown;
  /** The response, body already read. */
  response: Response;
  /** The page's URL (after redirects): relative next URLs are resolved against it. */
  url: URL;
  /** The items of the page. */
  items: readonly T[];
}

/**
 * Options of {@link paginate}.
 *
 * @example
 * ```ts
 * const options: PaginateOptions<Order> = {
 *   init: { headers: { authorization: `Bearer ${token}` } },
 *   items: (body) => (body as { orders: Order[] }).orders,
 *   maxPages: 50,
 * };
 * ```
 */
export interface PaginateOptions<T> {
  /**
   * Sent with every page request (headers, signal); `accept: application/json` is added when not set.
   * @example { headers: { authorization: 'Bearer abc' }, signal: AbortSignal.timeout(30_000) }
   */
  init?: RequestInit;
  /**
   * Selects the items of a page.
   * @default the body when it is an array, else the first array among `data`, `items`, `results`, `records`
   * @example (body) => (body as { orders: Order[] }).orders
   */
  items?: (body: unknown, response: Response) => readonly T[];
  /**
   * Where the next page is (resolved against the page's URL); `undefined` ends the iteration.
   * @default the stop rules (no items, `has_more: false`), then a `Link: <…>; rel="next"` header, then a
   *   cursor in the body (`next_cursor`, `nextCursor`, `cursor.next`, `meta.*`, `pagination.*`) set as the
   *   `cursorParam` query parameter, then a URL in `next`, `links.next` or `meta.next`
   * @example (page) => (page.body as { next_page_url?: string }).next_page_url
   */
  next?: (page: PaginatePage<T>) => string | URL | undefined;
  /**
   * The query parameter that carries a cursor found in the body.
   * @default 'cursor'
   * @example 'starting_after'
   */
  cursorParam?: string;
  /**
   * Most pages fetched: an integer ≥ 1, or `Infinity`.
   * @default Infinity
   * @example 10
   */
  maxPages?: number;
}

/**
 * One link of a `Link` header (RFC 8288).
 *
 * @example
 * ```ts
 * const link: LinkValue = { url: 'https://api.example.com/items?page=2', rel: ['next'], params: { rel: 'next' } };
 * ```
 */
export interface LinkValue {
  /** The target, resolved against the base when one was given. */
  url: string;
  /** The relation types, lower-cased (`rel="next last"` gives `['next', 'last']`). */
  rel: string[];
  /** The parameters by lower-cased name, unquoted; the first occurrence of a name wins. */
  params: Record<string, string>;
}

type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const OPTIONS = ['init', 'items', 'next', 'cursorParam', 'maxPages'] as const;
const ITEM_FIELDS = ['data', 'items', 'results', 'records'] as const;
const CURSOR_PATHS = [
  ['next_cursor'],
  ['nextCursor'],
  ['cursor', 'next'],
  ['meta', 'next_cursor'],
  ['meta', 'nextCursor'],
  ['pagination', 'next_cursor'],
  ['pagination', 'nextCursor'],
] as const;
const NEXT_URL_PATHS = [['next'], ['links', 'next'], ['meta', 'next']] as const;
const LOOKS_LIKE_URL = /^(?:[a-z][a-z\d+.-]*:\/\/|\/|\?|\.\.?\/)/i;

/**
 * Parses a `Link` header field (RFC 8288): several links per field (and fields joined by `, `), quoted or
 * bare parameter values, `rel` lists, names in any case. Malformed links are skipped.
 *
 * @example
 * ```ts
 * parseLinkHeader('</items?page=2>; rel="next", </items?page=9>; rel=last', new URL('https://api.example.com/'));
 * // [{ url: 'https://api.example.com/items?page=2', rel: ['next'], params: { rel: 'next' } }, …]
 * ```
 */
export function parseLinkHeader(value: string, base?: URL): LinkValue[] {
  const links: LinkValue[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const skipToComma = () => {
    while (i < value.length && value[i] !== ',') i = value[i] === '"' ? endOfQuoted(value, i) : i + 1;
  };
  while (i < value.length) {
    skipSpace();
    if (value[i] === ',') {
      i++;
      continue;
    }
    const close = value.indexOf('>', i);
    if (value[i] !== '<' || close < 0) {
      skipToComma();
      continue;
    }
    const target = value.slice(i + 1, close).trim();
    i = close + 1;
    const params: Record<string, string> = {};
    for (skipSpace(); value[i] === ';'; skipSpace()) {
      i++;
      skipSpace();
      const name = /^[^\s=;,]*/.exec(value.slice(i))![0];
      i += name.length;
      skipSpace();
      let param = '';
      if (value[i] === '=') {
        i++;
        skipSpace();
        if (value[i] === '"') {
          const end = endOfQuoted(value, i);
          param = value.slice(i + 1, end - 1).replace(/\\(.)/g, '$1');
          i = end;
        } else {
          param = /^[^\s;,]*/.exec(value.slice(i))![0];
          i += param.length;
        }
      }
      const key = name.toLowerCase();
      if (key !== '' && key !== '__proto__' && !Object.hasOwn(params, key)) params[key] = param;
    }
    skipToComma();
    const url = resolve(target, base);
    if (url === undefined) continue;
    const rel = (params.rel ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    links.push({ url, rel, params });
  }
  return links;
}

/** The index just past the quoted string that opens at `start` (or the end of `value` if unterminated). */
function endOfQuoted(value: string, start: number): number {
  for (let i = start + 1; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === '"') return i + 1;
  }
  return value.length;
}

function resolve(target: string, base: URL | undefined): string | undefined {
  if (base === undefined) return target;
  try {
    return new URL(target, base).href;
  } catch {
    return undefined;
  }
}

/**
 * Iterates the items of a paginated JSON API, one page at a time and lazily: a page is fetched only when the
 * consumer asks for more items than the pages so far hold, and `break` stops fetching. The next page comes
 * from {@link PaginateOptions.next} (by default a `Link` header, a cursor or a next URL in the body); a URL
 * already fetched ends the iteration, so a server that links a page to itself cannot loop it forever.
 * A page outside 2xx rejects with `HttpStatusError`; a body that is not JSON rejects with an `Error`.
 * Options are checked at once: a bad one throws a `ConfigError` naming it.
 *
 * @example
 * ```ts
 * for await (const order of paginate<Order>(client.fetch, 'https://api.example.com/orders?limit=100')) {
 *   if (order.id === wanted) break; // no further page is fetched
 * }
 * ```
 */
export function paginate<T = unknown>(
  fetchFn: FetchFn,
  input: string | URL,
  options?: PaginateOptions<T>,
): AsyncIterableIterator<T> {
  if (typeof fetchFn !== 'function') fail('fetchFn', 'a fetch function', fetchFn);
  if (!(input instanceof URL) && (typeof input !== 'string' || !URL.canParse(input)))
    fail('input', 'an absolute URL (string or URL)', input);
  const raw = optionsObject('paginate options', options ?? {});
  knownKeys('paginate()', raw, OPTIONS);
  const o = raw as PaginateOptions<T>;
  const init = o.init === undefined ? {} : (optionsObject('init', o.init) as RequestInit);
  for (const key of ['items', 'next'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') fail(key, 'a function', o[key]);
  }
  const cursorParam = o.cursorParam === undefined ? 'cursor' : nonEmptyString('cursorParam', o.cursorParam);
  const maxPages = o.maxPages ?? Number.POSITIVE_INFINITY;
  if (maxPages !== Number.POSITIVE_INFINITY && !(Number.isInteger(maxPages) && maxPages >= 1))
    fail('maxPages', 'an integer ≥ 1 or `Infinity`', maxPages);
  const headers = new Headers(init.headers);
  if (!headers.has('accept')) headers.set('accept', 'application/json');
  const next = o.next ?? ((page: PaginatePage<T>) => defaultNext(page, cursorParam));
  return run(fetchFn, new URL(input), { ...init, headers }, o.items, next, maxPages);
}

async function* run<T>(
  fetchFn: FetchFn,
  first: URL,
  init: RequestInit,
  selectItems: ((body: unknown, response: Response) => readonly T[]) | undefined,
  next: (page: PaginatePage<T>) => string | URL | undefined,
  maxPages: number,
): AsyncGenerator<T, void, undefined> {
  const fetched = new Set<string>();
  let target: URL | undefined = first;
  while (target !== undefined && fetched.size < maxPages && !fetched.has(target.href)) {
    fetched.add(target.href);
    const response = await fetchFn(target.href, init);
    if (!response.ok) throw new HttpStatusError(response);
    const url: URL = new URL(response.url || target.href);
    const body = await readJson(response, url);
    const items = selectItems === undefined ? defaultItems<T>(body, url) : selectItems(body, response);
    if (!Array.isArray(items)) fail('items', 'a function returning an array', items);
    const link = next({ body, response, url, items });
    if (link !== undefined && typeof link !== 'string' && !(link instanceof URL))
      fail('next', 'a function returning a string, a URL or undefined', link);
    yield* items;
    target = link === undefined ? undefined : new URL(link, url);
  }
}

async function readJson(response: Response, url: URL): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`Invalid JSON in the page at ${url.href}: ${(error as Error).message}`, { cause: error });
  }
}

function at(body: unknown, path: readonly string[]): unknown {
  let value = body;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function defaultItems<T>(body: unknown, url: URL): readonly T[] {
  if (Array.isArray(body)) return body;
  for (const field of ITEM_FIELDS) {
    const value = at(body, [field]);
    if (Array.isArray(value)) return value;
  }
  throw new Error(
    `Cannot find the items of the page at ${url.href}: expected the body to be an array ` +
      `or to have an array at ${ITEM_FIELDS.map((f) => `\`${f}\``).join(', ')}; pass \`items\` to select them`,
  );
}

function defaultNext<T>(page: PaginatePage<T>, cursorParam: string): string | undefined {
  const { body, response, url, items } = page;
  if (items.length === 0 || at(body, ['has_more']) === false || at(body, ['hasMore']) === false) return;
  const link = parseLinkHeader(response.headers.get('link') ?? '', url).find((l) => l.rel.includes('next'));
  if (link !== undefined) return link.url;
  for (const path of CURSOR_PATHS) {
    const cursor = at(body, path);
    if (
      (typeof cursor === 'string' && cursor !== '') ||
      (typeof cursor === 'number' && Number.isFinite(cursor))
    ) {
      const target = new URL(url);
      target.searchParams.set(cursorParam, String(cursor));
      return target.href;
    }
  }
  for (const path of NEXT_URL_PATHS) {
    const value = at(body, path);
    if (typeof value === 'string' && LOOKS_LIKE_URL.test(value)) return new URL(value, url).href;
  }
  return undefined;
}
