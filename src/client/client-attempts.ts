import { RateLimitedError } from '../core/errors.js';
import { exponentialDelayMs } from './backoff.js';
import type { ClassRuntime } from './client-class.js';
import type { Emit } from './client-events.js';
import type { ResolvedClientOptions } from './client-options.js';
import { discard, jsonBodyOf, SendFailure } from './client-request.js';
import { parseRetryAfter, readHints, type ServerHints } from './hints.js';
import { type RetryDecision, shouldRetry } from './retry-policy.js';
import type { RetryBudget } from './retry-policy-budget.js';
import { QueueFullError, QueueTimeoutError } from './scheduler-errors.js';

const THROTTLES = new Set([409, 429]);

/** What the attempts of one request share with the client. */
export interface AttemptContext {
  readonly options: ResolvedClientOptions;
  readonly emit: Emit;
  readonly listening: (event: 'queued' | 'started') => boolean;
  readonly budget: RetryBudget | undefined;
}

/** One request as the attempt loop sees it. */
export interface AttemptRequest {
  readonly request: Request;
  readonly runtime: ClassRuntime;
  readonly endpoint: string;
  readonly priority: number;
  /** Attempts sent so far (for the `done` event). */
  sent: number;
}

/**
 * The server's wait for a response, by status: a 429 or 409 honours every form (`Retry-After`,
 * `X-Ratelimit-Retry-After`, `nextValidRequestDate`); a 503 only `Retry-After` (RFC 9110); any other status
 * none (some APIs send `X-Ratelimit-Retry-After` on every response: it is a window's reset, not a wait for
 * a 500), so a 5xx backs off exponentially.
 */
function serverWaitMs(response: Response, hints: ServerHints, nowMs: number): number | undefined {
  if (THROTTLES.has(response.status)) return hints.retryAfterMs;
  if (response.status !== 503) return undefined;
  const value = response.headers.get('retry-after');
  return value === null ? undefined : parseRetryAfter(value, nowMs);
}

/** A response kept while its retry waits: the body read into memory, so that its connection is free. */
async function keep(response: Response): Promise<Response | undefined> {
  try {
    const body = await response.arrayBuffer();
    const { status, statusText, headers } = response;
    return new Response(body.byteLength === 0 ? null : body, { status, statusText, headers });
  } catch {
    await discard(response);
    return undefined;
  }
}

/** Why the scheduler turned an attempt away, for the `shed` event (`undefined`: not shed, e.g. a bug). */
function shedReason(
  error: unknown,
  signal: AbortSignal,
): 'full' | 'timeout' | 'aborted' | 'oversized' | 'rate-limited' | undefined {
  if (error instanceof QueueFullError) return 'full';
  if (error instanceof QueueTimeoutError) return 'timeout';
  if (error instanceof RateLimitedError)
    return error.retryAfterMs === Number.POSITIVE_INFINITY ? 'oversized' : 'rate-limited';
  return signal.aborted ? 'aborted' : undefined;
}

/**
 * Sends a request through its class until it succeeds, fails for good, or its retries run out (see
 * `createClient` for the rules). Resolves with the final response.
 */
export async function runAttempts(ctx: AttemptContext, r: AttemptRequest): Promise<Response> {
  const { options: o, emit, budget } = ctx;
  const { clock, sleep, random } = o;
  const { request, runtime, endpoint } = r;
  const { method, signal } = request;
  const { policy, name } = runtime.config;
  const hasIdempotencyKey = request.headers.has('idempotency-key');
  const startMs = clock();
  let previousDelayMs: number | undefined;
  /** The last failed attempt: its response (kept) or its network error, returned if a retry cannot run. */
  let last: { response?: Response; failure?: unknown } | undefined;
  const giveUp = (instead: unknown): Response => {
    if (last?.response !== undefined) return last.response;
    throw last !== undefined && 'failure' in last ? last.failure : instead;
  };

  for (let attempt = 1; ; attempt++) {
    const elapsedMs = () => Math.max(0, clock() - startMs);
    const base = {
      method,
      attempt,
      hasIdempotencyKey,
      ...(previousDelayMs === undefined ? {} : { previousDelayMs }),
    };
    // A server wait longer than the policy accepts fails at once rather than waiting at the gate.
    const gateWaitMs = runtime.scheduler.gateUntilMs() - clock();
    if (policy.onLongRetryAfter === 'fail' && gateWaitMs > policy.maxRetryAfterMs) {
      const error = new RateLimitedError(gateWaitMs);
      emit('shed', { class: name, endpoint, reason: 'rate-limited' });
      if (attempt > 1) return giveUp(error);
      throw error;
    }
    // The response is read and judged while the attempt holds its slot, so that the learned limits, the
    // gate and the concurrency change before the next queued request may start.
    const judge = async (response: Response, sentAtMs: number) => {
      const { status } = response;
      const nowMs = clock();
      const body = THROTTLES.has(status) ? await jsonBodyOf(response) : undefined;
      const hints = readHints(response.headers, nowMs, body);
      runtime.observe(endpoint, status, hints, nowMs);
      const waitMs = serverWaitMs(response, hints, nowMs);
      const wait = waitMs === undefined ? {} : { retryAfterMs: waitMs };
      const decision = shouldRetry({ ...base, status, ...wait, elapsedMs: elapsedMs() }, policy, random);
      if (THROTTLES.has(status)) {
        // Without a server wait the gate closes for the un-jittered backoff: jitter spreads one request's
        // retry, not the class's pause.
        const gateMs = waitMs ?? exponentialDelayMs(attempt, policy.backoff);
        runtime.throttle(endpoint, status, gateMs, nowMs, sentAtMs);
        if (policy.onLongRetryAfter === 'fail' && gateMs > policy.maxRetryAfterMs)
          runtime.scheduler.clear(new RateLimitedError(gateMs));
      }
      return { response, decision };
    };
    const queuedAtMs = clock();
    if (ctx.listening('queued'))
      emit('queued', { class: name, endpoint, attempt, queued: runtime.scheduler.stats().queued + 1 });
    // A retry may wait in the queue only as long as the policy's deadline leaves; it goes ahead of new
    // requests of its priority.
    const leftMs = policy.deadlineMs - elapsedMs();
    const schedule = {
      signal,
      priority: attempt === 1 ? r.priority : r.priority + 0.5,
      ...(attempt > 1 && Number.isFinite(leftMs) ? { maxWait: Math.max(0, leftMs) } : {}),
    };
    let outcome: { response: Response | undefined; decision: RetryDecision; failure?: unknown };
    try {
      outcome = await runtime.scheduler.schedule(async (taskSignal) => {
        r.sent++;
        const sentAtMs = clock();
        if (r.sent === 1) budget?.recordRequest(sentAtMs);
        runtime.started(endpoint, sentAtMs);
        if (ctx.listening('started')) {
          const { running } = runtime.scheduler.stats();
          emit('started', { class: name, endpoint, attempt, queueWaitMs: sentAtMs - queuedAtMs, running });
        }
        let response: Response;
        try {
          response = await o.fetch(request.clone(), { signal: taskSignal });
        } catch (error) {
          runtime.failed(endpoint);
          throw new SendFailure(error);
        }
        return judge(response, sentAtMs);
      }, schedule);
    } catch (error) {
      if (!(error instanceof SendFailure)) {
        const reason = shedReason(error, signal);
        if (reason !== undefined) emit('shed', { class: name, endpoint, reason });
        // A retry shed by the deadline, or cleared by a long server wait: the last answer stands.
        if (attempt > 1 && (error instanceof QueueTimeoutError || error instanceof RateLimitedError))
          return giveUp(error);
        throw error;
      }
      if (signal.aborted) throw signal.reason;
      const decision = shouldRetry({ ...base, networkError: true, elapsedMs: elapsedMs() }, policy, random);
      if (!decision.retry) throw error.failure;
      outcome = { response: undefined, decision, failure: error.failure };
    }
    const { response, decision } = outcome;
    if (response !== undefined && !decision.retry) {
      if (decision.reason !== 'retry-after-too-long') return response;
      await discard(response);
      throw new RateLimitedError(decision.retryAfterMs ?? Number.POSITIVE_INFINITY);
    }
    if (!decision.retry) throw new Error('unreachable: a refused network retry has thrown');
    last = response === undefined ? { failure: outcome.failure } : { response };
    // A throttle waits at the gate for the server's time; other failures spend the retry budget.
    if (!(response !== undefined && THROTTLES.has(response.status)) && budget?.tryRetry(clock()) === false) {
      emit('shed', { class: name, endpoint, reason: 'retry-budget' });
      if (response !== undefined) return response;
      return giveUp(outcome.failure);
    }
    if (response !== undefined) {
      const kept = await keep(response);
      last = kept === undefined ? undefined : { response: kept };
    }
    runtime.retried(endpoint);
    emit('retry', {
      class: name,
      endpoint,
      attempt,
      reason: decision.reason,
      delayMs: decision.delayMs,
      ...(response === undefined ? {} : { status: response.status }),
    });
    previousDelayMs = decision.delayMs;
    try {
      await sleep(decision.delayMs, signal);
    } catch (error) {
      if (signal.aborted) emit('shed', { class: name, endpoint, reason: 'aborted' });
      throw error;
    }
  }
}
