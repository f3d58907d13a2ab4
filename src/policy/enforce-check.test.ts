import { describe, expect, it } from 'vitest';
import { request, setup, T0 } from '../../test/support/enforce.js';
import { createManualClock } from '../core/clock.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import { parsePolicies } from './config.js';
import { createEnforcer } from './enforce.js';

describe('the enforcer', () => {
  describe('check: synchronous on the memory store', () => {
    const config = {
      policies: [
        { name: 'ip', key: 'ip', limits: [{ type: 'fixedWindow', limit: 2, window: '1m' }] },
        {
          name: 'watch',
          key: 'ip',
          mode: 'shadow',
          limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }],
        },
      ],
    };

    it('answers without a promise on a memory store, with the verdicts decide gives', async () => {
      const sync = setup(config).enforcer;
      const viaDecide = setup(config).enforcer;
      for (let i = 0; i < 4; i++) {
        const verdict = sync.check(request());
        expect(verdict).not.toBeInstanceOf(Promise);
        const expected = await viaDecide.decide(request());
        const { allowed, headers, rejection } = verdict as Awaited<typeof expected>;
        expect({ allowed, headers, rejection }).toEqual({
          allowed: expected.allowed,
          headers: expected.headers,
          rejection: expected.rejection,
        });
        expect((verdict as typeof expected).applied).toEqual(expected.applied);
      }
    });

    it('answers with a promise on any other store, including a memory store wrapped by the application', async () => {
      const clock = createManualClock(T0);
      const inner = createMemoryStore({ clock: clock.now });
      const seen: number[] = [];
      // A wrapper that replaces consume must see every call: its copy of the sync twins is never used.
      const wrapped = {
        ...inner,
        consume: (checks: Parameters<typeof inner.consume>[0], nowMs?: number) => {
          seen.push(checks.length);
          return inner.consume(checks, nowMs);
        },
      };
      const enforcer = createEnforcer({ policies: parsePolicies(config), store: wrapped, clock: clock.now });
      const verdict = enforcer.check(request());
      expect(verdict).toBeInstanceOf(Promise);
      expect((await verdict).allowed).toBe(true);
      expect(seen).toEqual([1, 1]); // the enforced and the shadow consume both went through the wrapper
    });

    it('a request no policy matches gets the unlimited verdict: no fields, nothing to release', async () => {
      const { enforcer, store } = setup({
        policies: [
          {
            name: 'posts',
            match: { methods: ['POST'] },
            key: 'ip',
            limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }],
          },
        ],
      });
      const verdict = enforcer.check(request());
      expect(verdict).toMatchObject({ allowed: true, headers: [], holdsLeases: false });
      expect((verdict as Awaited<ReturnType<typeof enforcer.decide>>).applied).toEqual([]);
      expect(store.stats().keys).toBe(0);
    });
  });
});
