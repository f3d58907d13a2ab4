import { ConfigError } from '../core/errors.js';

/** Renders a received value for an error message: `` `0` (number) ``, `` `"ten"` (string) ``. */
export function describe(value: unknown): string {
  if (value === null) return '`null`';
  if (value === undefined) return '`undefined`';
  const type = Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  try {
    shown = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  if (typeof value === 'number') shown = String(value);
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  return `\`${shown}\` (${type})`;
}

/** Throws a {@link ConfigError} of the house form: ``Expected `path` to be WHAT, got `value` (type)``. */
export function fail(path: string, expected: string, received: unknown): never {
  throw new ConfigError(path, `Expected \`${path}\` to be ${expected}, got ${describe(received)}`);
}

/** A finite number greater than zero. */
export function positiveNumber(path: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(path, 'a positive number', value);
  }
  return value;
}

/** A finite number ≥ 0 (a duration in ms that may be zero). */
export function nonNegativeMs(path: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    fail(path, 'a finite number of ms ≥ 0', value);
  return value;
}

/** An integer ≥ `min`. */
export function integerAtLeast(path: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(path, `an integer ≥ ${min}`, value);
  }
  return value;
}

/** A finite number ≥ 0: the cost of a request. */
export function cost(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0) || value === Number.POSITIVE_INFINITY) {
    fail('cost', 'a finite number ≥ 0', value);
  }
  return value;
}

/** A time in ms given to a store call: a finite number (a NaN would poison state for good). */
export function nowMs(value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail('nowMs', 'a finite number of ms', value);
  return value;
}

/** A key: any string. A missing key (`undefined` from an absent header) must not become a shared budget. */
export function key(value: unknown): string {
  if (typeof value !== 'string') fail('key', 'a string', value);
  return value;
}

/** A non-empty string. */
export function nonEmptyString(path: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) fail(path, 'a non-empty string', value);
  return value;
}

/** An options object; anything else (including arrays and null) is refused. */
export function optionsObject(path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(path, 'an options object', value);
  return value as Record<string, unknown>;
}

/** Refuses option names a factory does not know, so a typo (`brust`) is not silently ignored. */
export function knownKeys(where: string, options: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new ConfigError(
        key,
        `Unknown option \`${key}\` in ${where}; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`,
      );
    }
  }
}
