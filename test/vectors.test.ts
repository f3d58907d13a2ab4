import { describe, expect, it } from 'vitest';
import { type LimitState, step } from '../src/index.js';
import { expand, limitOf, loadVectors, pick } from './contract/vectors.js';

describe('test vectors: the pure algorithms', () => {
  const vectors = loadVectors();

  it('finds the vectors', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(5);
  });

  for (const vector of vectors) {
    it(`${vector.file}: ${vector.description}`, () => {
      const limit = limitOf(vector);
      let state: LimitState | undefined;
      for (const [i, arrival] of expand(vector).entries()) {
        const result = step(state as never, arrival.nowMs, limit, arrival.cost);
        expect(pick(result.decision, arrival.expect), `arrival ${i}`).toEqual(arrival.expect);
        state = result.state;
      }
    });
  }
});
