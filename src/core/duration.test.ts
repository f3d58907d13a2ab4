import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parsePositiveDuration } from './duration.js';
import { ConfigError } from './errors.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    ['1m30s', 90_000],
    [' 2 s ', 2000],
    ['0s', 0],
    [1234, 1234],
    [0.5, 0.5],
  ])('parses %j as %d ms', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([
    ['ten'],
    ['10'],
    ['10 seconds'],
    ['-5s'],
    [''],
    ['s'],
    [-1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [null],
    [{}],
  ])('refuses %j with a message naming the path and the value', (input) => {
    const error = catchError(() => parseDuration(input, 'policies[2].limits[0].window'));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(
      /^Expected `policies\[2\]\.limits\[0\]\.window` to be a duration like "250ms"/,
    );
    expect((error as ConfigError).path).toBe('policies[2].limits[0].window');
  });

  it('names the received value and its type', () => {
    expect(() => parseDuration('ten', 'window')).toThrow(/got `"ten"` \(string\)$/);
  });

  it('refuses zero where a positive duration is needed', () => {
    expect(() => parsePositiveDuration('0s', 'per')).toThrow(/Expected `per` to be a positive duration/);
    expect(parsePositiveDuration('5m', 'per')).toBe(300_000);
  });

  it('round-trips formatDuration for any whole number of milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}
