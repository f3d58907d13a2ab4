import { blank, type Decision } from '../decision.js';
import type { FixedWindowLimit, Limit, SlidingWindowLimit, TokenBucketLimit } from '../limits.js';
import { type FixedWindowState, fixedWindowKernel } from './fixed-window.js';
import type { Kernel } from './kernel.js';
import { type SlidingWindowState, slidingWindowKernel } from './sliding-window.js';
import { type TokenBucketState, tokenBucketKernel } from './token-bucket.js';

export type { FixedWindowState } from './fixed-window.js';
export type { Kernel } from './kernel.js';
export type { SlidingWindowState } from './sliding-window.js';
export type { TokenBucketState } from './token-bucket.js';

/**
 * The state type of each limit kind.
 *
 * @example
 * ```ts
 * const state: StateOf['fixedWindow'] = { window: 170_000_000, count: 12 };
 * ```
 */
export interface StateOf {
  tokenBucket: TokenBucketState;
  fixedWindow: FixedWindowState;
  slidingWindow: SlidingWindowState;
}

/**
 * Any algorithm state.
 *
 * @example
 * ```ts
 * const states = new Map<string, LimitState>();
 * ```
 */
export type LimitState = TokenBucketState | FixedWindowState | SlidingWindowState;

/**
 * The result of a pure algorithm step: the new state (the same object when nothing changed) and the decision.
 *
 * @example
 * ```ts
 * const { state, decision }: Step<TokenBucketState> = tokenBucketStep(undefined, now, limit, 1);
 * ```
 */
export interface Step<S> {
  readonly state: S | undefined;
  readonly decision: Decision;
}

const KERNELS: { readonly [K in Limit['kind']]: Kernel<Extract<Limit, { kind: K }>> } = {
  tokenBucket: tokenBucketKernel,
  fixedWindow: fixedWindowKernel,
  slidingWindow: slidingWindowKernel,
};

/**
 * The kernel (the in-place form of the algorithm, as stores run it) of a limit.
 *
 * @example
 * ```ts
 * kernelOf(tokenBucket({ rate: 10 })).width; // 1
 * ```
 */
export function kernelOf<L extends Limit>(limit: L): Kernel<L> {
  return KERNELS[limit.kind] as unknown as Kernel<L>;
}

const toCells = (state: LimitState | undefined): Float64Array => {
  if (state === undefined) return new Float64Array(3);
  if ('tat' in state) return Float64Array.of(state.tat, 0, 0);
  return Float64Array.of(state.window, state.count, 'previous' in state ? state.previous : 0);
};

const fromCells = (kind: Limit['kind'], cells: Float64Array): LimitState => {
  if (kind === 'tokenBucket') return { tat: cells[0]! };
  if (kind === 'fixedWindow') return { window: cells[0]!, count: cells[1]! };
  return { window: cells[0]!, count: cells[1]!, previous: cells[2]! };
};

/**
 * The pure form of every algorithm: `(state | undefined, nowMs, limit, cost) → { state, decision }`.
 * No clock, no I/O; a denied request or a zero-cost peek returns the very same `state` it was given.
 *
 * @param state - the key's state, or `undefined` for a key never seen
 * @param nowMs - the current time in ms (Unix epoch)
 * @param limit - the limit definition
 * @param cost - the request's cost, a finite number ≥ 0 (0 = peek)
 *
 * @example
 * ```ts
 * const limit = tokenBucket({ rate: 1, per: '1s', burst: 2 });
 * let { state, decision } = step(undefined, 0, limit, 1); // allowed, remaining 1
 * ({ state, decision } = step(state, 0, limit, 1)); // allowed, remaining 0
 * ({ state, decision } = step(state, 0, limit, 1)); // denied, retryAfterMs 1000
 * ```
 */
export function step<L extends Limit>(
  state: StateOf[L['kind']] | undefined,
  nowMs: number,
  limit: L,
  cost: number,
): Step<StateOf[L['kind']]> {
  const cells = toCells(state);
  const decision = kernelOf(limit).step(limit, cells, 0, nowMs, cost, blank());
  if (!decision.allowed || cost === 0) return { state, decision };
  return { state: fromCells(limit.kind, cells) as StateOf[L['kind']], decision };
}

/**
 * GCRA token bucket step. See {@link step}.
 *
 * @example
 * ```ts
 * tokenBucketStep(undefined, Date.now(), tokenBucket({ rate: 10, burst: 60 }), 1).decision.remaining; // 59
 * ```
 */
export const tokenBucketStep = (
  state: TokenBucketState | undefined,
  nowMs: number,
  limit: TokenBucketLimit,
  cost: number,
): Step<TokenBucketState> => step(state, nowMs, limit, cost);

/**
 * Fixed window step. See {@link step}.
 *
 * @example
 * ```ts
 * fixedWindowStep(undefined, 0, fixedWindow({ limit: 50, window: '10s' }), 1).decision.remaining; // 49
 * ```
 */
export const fixedWindowStep = (
  state: FixedWindowState | undefined,
  nowMs: number,
  limit: FixedWindowLimit,
  cost: number,
): Step<FixedWindowState> => step(state, nowMs, limit, cost);

/**
 * Sliding window counter step. See {@link step}.
 *
 * @example
 * ```ts
 * slidingWindowStep(undefined, 0, slidingWindow({ limit: 200, window: '10s' }), 1).decision.remaining; // 199
 * ```
 */
export const slidingWindowStep = (
  state: SlidingWindowState | undefined,
  nowMs: number,
  limit: SlidingWindowLimit,
  cost: number,
): Step<SlidingWindowState> => step(state, nowMs, limit, cost);
