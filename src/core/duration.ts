import { fail } from '../internal/describe.js';

/**
 * A duration: milliseconds as a number, or a string of one or more `<number><unit>` parts
 * (`"250ms"`, `"10s"`, `"5m"`, `"1h"`, `"1d"`, `"1m30s"`, `"1.5s"`).
 *
 * @example
 * ```ts
 * const window: Duration = '10s'; // same as 10_000
 * ```
 */
export type Duration = number | string;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)/y;
const EXPECTED = 'a duration like "250ms", "10s", "5m", "1h", "1d" or a number of milliseconds';

/**
 * Parses a {@link Duration} into milliseconds. Numbers are taken as milliseconds; strings are one or more
 * `<number><unit>` parts with units `ms`, `s`, `m`, `h`, `d`. Negative, non-finite and unit-less strings
 * are refused with a {@link ConfigError} that names `path`.
 *
 * @param value - the duration to parse
 * @param path - the option or config path, used in the error message
 * @returns the duration in milliseconds (≥ 0)
 *
 * @example
 * ```ts
 * parseDuration('10s'); // 10000
 * parseDuration('1m30s'); // 90000
 * parseDuration(250); // 250
 * parseDuration('ten', 'window'); // throws: Expected `window` to be a duration like "250ms", ... got `"ten"` (string)
 * ```
 */
export function parseDuration(value: unknown, path = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) fail(path, EXPECTED, value);
    return value;
  }
  if (typeof value !== 'string') fail(path, EXPECTED, value);
  const text = value.trim();
  let total = 0;
  let index = 0;
  PART.lastIndex = 0;
  while (index < text.length) {
    PART.lastIndex = index;
    const match = PART.exec(text);
    if (match === null) fail(path, EXPECTED, value);
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    index = PART.lastIndex;
    while (text[index] === ' ') index++;
  }
  if (index === 0 || !Number.isFinite(total)) fail(path, EXPECTED, value);
  return total;
}

/**
 * Parses a duration that must be strictly positive (a window, a period).
 *
 * @example
 * ```ts
 * parsePositiveDuration('5m', 'per'); // 300000
 * parsePositiveDuration('0s', 'per'); // throws ConfigError
 * ```
 */
export function parsePositiveDuration(value: unknown, path = 'duration'): number {
  const ms = parseDuration(value, path);
  if (ms <= 0) fail(path, `a positive ${EXPECTED.slice(2)}`, value);
  return ms;
}

/**
 * Formats milliseconds as the shortest exact duration string: `1000` → `"1s"`, `300000` → `"5m"`,
 * `1500` → `"1500ms"`.
 *
 * @example
 * ```ts
 * formatDuration(60_000); // "1m"
 * ```
 */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
