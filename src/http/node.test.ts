import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { parsePolicies } from '../policy/config.js';
import { createEnforcer } from '../policy/enforce.js';
import { sluiceNode } from './node.js';

describe('the node:http adapter', () => {
  it('counts a request once when the limiter runs on it twice, and warns once with a code', async () => {
    const clock = createManualClock(1_700_000_040_000);
    const enforcer = createEnforcer({
      policies: parsePolicies({
        policies: [{ name: 'p', limits: [{ type: 'fixedWindow', limit: 3, window: '1m' }] }],
      }),
      clock: clock.now,
    });
    const guard = sluiceNode(enforcer);
    const server = createServer(async (req, res) => {
      const first = await guard(req, res); // app-wide …
      const second = await guard(req, res); // … and again on the route: a mistake sluice forgives
      res.end(String(second?.applied[0]?.decisions[0]?.remaining ?? first?.allowed));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const warnings: { code?: string }[] = [];
    const onWarning = (warning: { code?: string }) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      expect(await (await fetch(url)).text()).toBe('2');
      expect(await (await fetch(url)).text()).toBe('1');
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.code === 'SLUICE_COUNTED_TWICE')).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
      server.close();
    }
  });
});
