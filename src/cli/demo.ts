import { type Clock, type Sleep, systemClock, systemSleep } from '../core/clock.js';
import { fixedWindow, tokenBucket } from '../core/limits.js';
import { createLimiter } from '../limiter.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Requests to send. @default 30 */
  requests?: number;
  /** Pause between requests in ms. @default 100 */
  intervalMs?: number;
  /** Where lines go. @default console.log */
  print?: (line: string) => void;
  clock?: Clock;
  sleep?: Sleep;
}

/**
 * A short, honest demo of the core on a real clock: one key, a token bucket (5/s, burst 5) and a fixed
 * window (12 per 10 s) checked atomically, one request every 100 ms; prints every decision.
 *
 * @returns how many requests were admitted
 * @example
 * ```ts
 * await runDemo({ requests: 10 });
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const {
    requests = 30,
    intervalMs = 100,
    print = console.log,
    clock = systemClock,
    sleep = systemSleep,
  } = options;
  const limits = [tokenBucket({ rate: 5, per: '1s', burst: 5 }), fixedWindow({ limit: 12, window: '10s' })];
  const limiter = createLimiter({ limits, clock });
  print(`sluice demo: one key, limits ${limits.map((l) => l.name).join(' and ')} checked atomically,`);
  print(`one request every ${intervalMs} ms on the real clock.`);
  print('');
  const start = clock();
  let admitted = 0;
  for (let i = 0; i < requests; i++) {
    const outcome = limiter.consumeSync('demo-user');
    const at = `+${String(clock() - start).padStart(5)} ms`;
    if (outcome.allowed) {
      admitted++;
      print(`${at}  allowed  remaining ${outcome.remaining}`);
    } else {
      const by = outcome.decisions.flatMap((d, j) => (d.allowed ? [] : [limits[j]!.name])).join(', ');
      print(`${at}  denied   by ${by}, retry in ${outcome.retryAfterMs} ms (nothing consumed)`);
    }
    if (i < requests - 1) await sleep(intervalMs);
  }
  print('');
  print(`Admitted ${admitted} of ${requests} in ${((clock() - start) / 1000).toFixed(1)} s.`);
  return admitted;
}
