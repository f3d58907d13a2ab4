import type { TemplateContext } from './rejection.js';

/** The problem types of draft-ietf-httpapi-ratelimit-headers-10 (§5.1, §5.2) live in IANA's registry. */
const PROBLEM_TYPES = 'https://iana.org/assignments/http-problem-types#';

export const finite = (n: unknown): number | undefined =>
  typeof n === 'number' && Number.isFinite(n) ? n : undefined;
/** Whole seconds, at least 1, as `Retry-After` carries them; undefined when the wait is not finite. */
export function seconds(ms: unknown): number | undefined {
  const wait = finite(ms);
  return wait === undefined ? undefined : Math.min(Math.max(1, Math.ceil(wait / 1000)), 999_999_999_999_999);
}

/** The default body of a rejection: an RFC 9457 problem, typed as the rate limit headers draft says. */
export function problem(context: TemplateContext): Record<string, unknown> {
  const { cause, policies, concurrency, retryAfter } = context;
  const shed = cause === 'shed';
  return {
    // The problem types and titles of draft-ietf-httpapi-ratelimit-headers-10 §5.1 and §5.2.
    type: PROBLEM_TYPES + (shed ? 'temporary-reduced-capacity' : 'quota-exceeded'),
    title: shed
      ? 'Request cannot be satisfied due to temporary server capacity constraints'
      : 'Request cannot be satisfied as assigned quota has been exceeded',
    status: context.status,
    detail: detail(context),
    'violated-policies':
      policies.length === 0 && typeof concurrency?.policy === 'string'
        ? [concurrency.policy]
        : policies.map((p) => p.name),
    policies: policies.map((p) => ({
      name: p.name,
      limit: finite(p.limit),
      remaining: finite(p.remaining),
      retryAfter: seconds(p.retryAfterMs),
    })),
    concurrency: concurrency && {
      policy: typeof concurrency.policy === 'string' ? concurrency.policy : undefined,
      limit: finite(concurrency.limit),
      current: finite(concurrency.current),
    },
    retryAfter,
    nextValidRequestDate: context.nextValidRequestDate,
  };
}

function detail({ cause, policies, concurrency, retryAfter, retryAfterMs }: TemplateContext): string {
  const wait = retryAfter === undefined ? '' : `retry in ${retryAfter} second${retryAfter === 1 ? '' : 's'}`;
  if (cause === 'shed') return `The server is shedding load; ${wait || 'retry later'}.`;
  if (cause === 'concurrency') {
    const figures = concurrency ? ` (${concurrency.current} in flight, limit ${concurrency.limit})` : '';
    const name = typeof concurrency?.policy === 'string' ? ` for ${JSON.stringify(concurrency.policy)}` : '';
    return `Too many concurrent requests${name}${figures}; ${wait || 'retry when one completes'}.`;
  }
  const names = policies.map((p) => JSON.stringify(String(p.name))).join(', ');
  const what = policies.length === 0 ? 'Rate limit' : `Quota${policies.length > 1 ? 's' : ''} ${names}`;
  const never = retryAfterMs === Number.POSITIVE_INFINITY;
  return `${what} exceeded; ${wait || (never ? 'the request costs more than the quota can ever allow' : 'retry later')}.`;
}
