import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type DemoUpstream, startDemoUpstream } from '../../src/gateway/demo-upstream.js';
import { createGatewayLogger } from '../../src/gateway/log.js';
import { runGateway } from '../../src/gateway/run.js';
import { createKeyRegistry } from '../../src/keys/registry.js';
import { freePort, type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Starts `sluice gateway` in a process of its own; resolves once it listens. */
async function gatewayProcess(config: string, redisPort: number, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      CLI,
      'gateway',
      '--config',
      config,
      '--redis',
      `redis://127.0.0.1:${redisPort}`,
      '--port',
      String(port),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('sluice gateway on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code}): ${out}`)));
  });
  return child;
}

const stopped = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

describe.runIf(redisAvailable())('two gateway processes sharing Redis', () => {
  let redis: RedisServer;
  let upstream: DemoUpstream;
  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await startDemoUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
    await redis?.stop();
  });

  it('enforce one limit between them, and stop gracefully on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-gw-redis-'));
    const config = join(dir, 'sluice.yaml');
    writeFileSync(
      config,
      `upstream: { url: "${upstream.url}" }\npolicies:\n  - name: shared\n    key: ip\n    limits: [{ type: fixedWindow, limit: 10, window: 1h }]\n`,
    );
    const ports = [await freePort(), await freePort()];
    const gateways = await Promise.all(ports.map((port) => gatewayProcess(config, redis.port, port)));
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) {
        const res = await fetch(`http://127.0.0.1:${ports[i % 2]}/items`);
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(10);
      expect(statuses.slice(10)).toEqual([429, 429, 429, 429, 429, 429]);
    } finally {
      expect(await Promise.all(gateways.map(stopped))).toEqual([0, 0]);
    }
  }, 60_000);

  it('authenticate callers against API keys kept in Redis', async () => {
    const { Redis } = await import('ioredis');
    const client = new Redis({ port: redis.port, host: '127.0.0.1' });
    try {
      const registry = createKeyRegistry({ redis: client, maxActivePerAccount: 6 });
      const { key } = await registry.create({ account: 'acme' });
      const running = await runGateway({
        config: parseGatewayConfig({
          preset: 'merchant-api',
          listen: { port: 0 },
          upstream: { url: upstream.url },
          keys: { redis: `redis://127.0.0.1:${redis.port}` },
        }),
        logger: createGatewayLogger({ enabled: false }),
      });
      try {
        expect(
          (await fetch(`${running.gateway.url}/v1/orders`, { headers: { 'x-api-key': 'sk_nope' } })).status,
        ).toBe(401);
        const ok = await fetch(`${running.gateway.url}/v1/orders`, { headers: { 'x-api-key': key } });
        expect(ok.status).toBe(200);
        expect(ok.headers.get('ratelimit-remaining')).toBe('59');
      } finally {
        await running.close();
      }
    } finally {
      client.disconnect();
    }
  });
});
