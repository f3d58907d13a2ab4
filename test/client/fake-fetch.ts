import type { ManualClock } from '../../src/core/clock.js';

/** Support of the client's tests: a scripted fetch and helpers to move a manual clock. Not a test file. */

/**
 * A fake fetch answering from `answer(callIndex, request)`; records each call with the clock's time.
 *
 * @example
 * ```ts
 * const { calls, fetch } = fakeFetch((i) => (i === 0 ? status(429) : new Response('ok')), clock.now);
 * ```
 */
export function fakeFetch(
  answer: (index: number, request: Request) => Response | Promise<Response>,
  now: () => number = Date.now,
) {
  const calls: { atMs: number; request: Request }[] = [];
  const fetch = async (input: Parameters<typeof globalThis.fetch>[0], init?: RequestInit) => {
    const request = new Request(input, init);
    calls.push({ atMs: now(), request });
    return answer(calls.length - 1, request);
  };
  const paths = () => calls.map((c) => new URL(c.request.url).pathname);
  return { calls, paths, fetch: fetch as typeof globalThis.fetch };
}

/** A response of `code`, with headers and a body. */
export const status = (code: number, headers: Record<string, string> = {}, body = '') =>
  new Response(body, { status: code, headers });

/** Lets pending promise callbacks run (`rounds` macrotask turns). */
export const flush = async (rounds = 10) => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Moves the clock, then lets what it woke run. */
export const advance = async (clock: ManualClock, ms: number) => {
  clock.advance(ms);
  await flush();
};

/** A promise that the test resolves by hand. */
export function latch() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}
