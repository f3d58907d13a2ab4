/**
 * Counters of a client class beyond its scheduler's: responses by status, retries and throttles, per endpoint
 * and per time window.
 */

/**
 * Counters of one endpoint, or of one time window.
 *
 * @example
 * ```ts
 * const counts: TrafficCounts = { requests: 10, responses: { 200: 9, 429: 1 }, retries: 1, throttles: 1 };
 * ```
 */
export interface TrafficCounts {
  /** Attempts sent (retries included). */
  readonly requests: number;
  /** Responses by status. */
  readonly responses: Readonly<Record<number, number>>;
  /** Attempts retried. */
  readonly retries: number;
  /** 429 and 409 responses. */
  readonly throttles: number;
  /** Attempts that got no response (network errors). */
  readonly errors: number;
}

/**
 * The counters of one time window of `ClientOptions.statsWindow`.
 *
 * @example
 * ```ts
 * const [current] = client.stats().query!.windows.slice(-1);
 * console.log(`${current.requests} requests since ${new Date(current.startMs).toISOString()}`);
 * ```
 */
export interface WindowCounts extends TrafficCounts {
  /** The window's start on the client's clock (a multiple of the window's length). */
  readonly startMs: number;
}

interface MutableCounts {
  requests: number;
  responses: Record<number, number>;
  retries: number;
  throttles: number;
  errors: number;
}

/**
 * How many windows `stats()` keeps (the current one and those before it).
 *
 * @example
 * ```ts
 * client.stats().query!.windows.length <= STATS_WINDOWS; // true
 * ```
 */
export const STATS_WINDOWS = 10;

const empty = (): MutableCounts => ({ requests: 0, responses: {}, retries: 0, throttles: 0, errors: 0 });
const copy = (c: MutableCounts): TrafficCounts => ({ ...c, responses: { ...c.responses } });

/** The traffic counters of a class: in all, per endpoint, and in the last {@link STATS_WINDOWS} windows. */
export function createTrafficCounters(clock: () => number, windowMs: number) {
  const total = empty();
  const endpoints = new Map<string, MutableCounts>();
  const windows: Array<MutableCounts & { startMs: number }> = [];

  const each = (endpoint: string, update: (c: MutableCounts) => void) => {
    update(total);
    let e = endpoints.get(endpoint);
    if (e === undefined) {
      e = empty();
      endpoints.set(endpoint, e);
    }
    update(e);
    const startMs = Math.floor(clock() / windowMs) * windowMs;
    let w = windows[windows.length - 1];
    if (w === undefined || w.startMs !== startMs) {
      w = { ...empty(), startMs };
      windows.push(w);
      if (windows.length > STATS_WINDOWS) windows.shift();
    }
    update(w);
  };

  return {
    sent: (endpoint: string) => each(endpoint, (c) => void c.requests++),
    response: (endpoint: string, status: number) =>
      each(endpoint, (c) => {
        c.responses[status] = (c.responses[status] ?? 0) + 1;
        if (status === 429 || status === 409) c.throttles++;
      }),
    error: (endpoint: string) => each(endpoint, (c) => void c.errors++),
    retried: (endpoint: string) => each(endpoint, (c) => void c.retries++),
    total: () => copy(total),
    endpoints: () => Object.fromEntries([...endpoints].map(([name, c]) => [name, copy(c)])),
    windows: (): WindowCounts[] => windows.map((w) => ({ ...copy(w), startMs: w.startMs })),
  };
}

const ID_SEGMENT =
  /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|(?=.*\d)[\w-]{20,})$/i;

/**
 * The default endpoint label of a request: its method and path, with segments that look like identifiers
 * (numbers, UUIDs, long hex strings, long tokens with digits) folded to `:id`, and no query.
 *
 * @example
 * ```ts
 * endpointOf('GET', new URL('https://api.example.com/v1/orders/8812/lines?page=2')); // 'GET /v1/orders/:id/lines'
 * ```
 */
export function endpointOf(method: string, url: URL): string {
  const path = url.pathname
    .split('/')
    .map((segment) => (ID_SEGMENT.test(segment) ? ':id' : segment))
    .join('/');
  return `${method} ${path}`;
}
