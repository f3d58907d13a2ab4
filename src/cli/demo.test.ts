import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { runDemo } from './demo.js';
import { main } from './main.js';

describe('demo', () => {
  it('admits the burst, then the refill, until the window is spent, and says why it denies', async () => {
    const clock = createManualClock(1_700_000_000_000);
    const lines: string[] = [];
    const sleep = async (ms: number) => clock.advance(ms);
    const admitted = await runDemo({ print: (l) => lines.push(l), clock: clock.now, sleep });
    // Burst of 5, then one every 200 ms until the 12-per-10 s window is spent.
    expect(admitted).toBe(12);
    expect(lines.filter((l) => l.includes('allowed'))).toHaveLength(12);
    expect(lines.some((l) => l.includes('denied   by 5/1s, retry in 100 ms'))).toBe(true);
    expect(lines.some((l) => /denied {3}by 12\/10s-fixed, retry in \d+ ms/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('Admitted 12 of 30 in 2.9 s.');
  });

  it('the command line refuses unknown commands and bad flags', async () => {
    const out: string[] = [];
    expect(await main(['nope'], (l) => out.push(l))).toBe(2);
    expect(out[0]).toContain('Unknown command `nope`');
    expect(await main(['demo', '--requests', 'x'], (l) => out.push(l))).toBe(2);
    expect(out.at(-1)).toBe('Expected `--requests` to be an integer ≥ 1, got `x`');
    expect(await main(['--version'], (l) => out.push(l))).toBe(0);
    expect(out.at(-1)).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
