import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Decision, fixedWindow, type Limit, slidingWindow, tokenBucket } from '../../src/index.js';

/** Decision fields as written in a vector (`"Infinity"` stands for `Infinity`, which JSON lacks). */
export type ExpectedDecision = Partial<Record<keyof Decision, boolean | number | 'Infinity'>>;

export interface Vector {
  file: string;
  description: string;
  limit: { kind: Limit['kind'] } & Record<string, unknown>;
  startMs: number;
  arrivals: { atMs: number; cost: number; repeat?: number; expect: ExpectedDecision }[];
}

const DIR = fileURLToPath(new URL('../vectors/', import.meta.url));

/** Every vector in `test/vectors/`. */
export function loadVectors(): Vector[] {
  return readdirSync(DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .flatMap((file) => {
      const content = JSON.parse(readFileSync(DIR + file, 'utf8')) as
        | Omit<Vector, 'file'>
        | Omit<Vector, 'file'>[];
      return (Array.isArray(content) ? content : [content]).map((v) => ({ ...v, file }));
    });
}

type LimitSpec = { kind: Limit['kind'] } & Record<string, unknown>;

/** A request checked against several limits at once, in `test/vectors/batches/`. */
export interface BatchVector {
  file: string;
  description: string;
  limits: LimitSpec[];
  startMs: number;
  requests: {
    atMs: number;
    checks: { limit: number; key: string; cost: number }[];
    expect: ExpectedDecision;
    decisions?: ExpectedDecision[];
  }[];
}

/** Builds a limit from its vector spec with the public factories. */
export function buildLimit({ kind, ...options }: LimitSpec): Limit {
  if (kind === 'tokenBucket') return tokenBucket(options as never);
  if (kind === 'fixedWindow') return fixedWindow(options as never);
  return slidingWindow(options as never);
}

/** Builds the vector's limit. */
export function limitOf(vector: Vector): Limit {
  return buildLimit(vector.limit);
}

/** Every batch vector in `test/vectors/batches/`. */
export function loadBatchVectors(): BatchVector[] {
  const dir = `${DIR}batches/`;
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((file) => ({
      ...(JSON.parse(readFileSync(dir + file, 'utf8')) as Omit<BatchVector, 'file'>),
      file,
    }));
}

/** The arrivals with `repeat` expanded, as absolute times. */
export function expand(vector: Vector): { nowMs: number; cost: number; expect: ExpectedDecision }[] {
  return vector.arrivals.flatMap((a) =>
    Array.from({ length: a.repeat ?? 1 }, () => ({
      nowMs: vector.startMs + a.atMs,
      cost: a.cost,
      expect: a.expect,
    })),
  );
}

/** The decision's fields that the vector names, with `Infinity` spelled as in JSON. */
export function pick(decision: Decision, expected: ExpectedDecision): ExpectedDecision {
  const out: ExpectedDecision = {};
  for (const field of Object.keys(expected) as (keyof Decision)[]) {
    const value = decision[field];
    out[field] = value === Number.POSITIVE_INFINITY ? 'Infinity' : value;
  }
  return out;
}
