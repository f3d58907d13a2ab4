// One server of the HTTP benchmark (bench/http.js), in a child process of its own so that the server and
// the load generator never share an event loop:
//   node bench/http-server.js <framework> <variant> <scenario> <store>
// framework: express | fastify; variant: bare | sluice | peer (express-rate-limit, @fastify/rate-limit);
// scenario: allowed (a limit far above what a run can reach) | over (1 per hour: every request after the
// first is rejected); store: memory (each limiter's own default memory store) | redis (the port in
// SLUICE_BENCH_REDIS_PORT). Every limiter is keyed by client IP, one fixed window of an hour, with its
// defaults otherwise (header fields included). It serves GET /items → {"ok":true} on 127.0.0.1 and sends
// `{ port }` to the parent over IPC; it exits when the parent goes away.
import express from 'express';
import rateLimit from 'express-rate-limit';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { RedisStore } from 'rate-limit-redis';
import { sluiceExpress } from '../dist/http/express.js';
import { sluiceFastify } from '../dist/http/fastify.js';
import { createEnforcer, parsePolicies } from '../dist/policy/index.js';
import { createRedisStore } from '../dist/store/redis/index.js';

const [framework, variant, scenario, store] = process.argv.slice(2);
if (!['express', 'fastify'].includes(framework) || !['bare', 'sluice', 'peer'].includes(variant)) {
  throw new Error(
    `Usage: node bench/http-server.js express|fastify bare|sluice|peer allowed|over memory|redis`,
  );
}
const HOUR_MS = 3_600_000;
const limit = { allowed: 1_000_000_000, over: 1 }[scenario];
if (variant !== 'bare' && limit === undefined) throw new Error(`Unknown scenario ${scenario}`);
const redis =
  variant !== 'bare' && store === 'redis'
    ? new Redis({ port: Number(process.env.SLUICE_BENCH_REDIS_PORT), host: '127.0.0.1' })
    : undefined;
// A prefix per server: no two servers ever share a counter.
const prefix = `bench-http:${framework}:${variant}:${scenario}`;

function sluiceEnforcer() {
  const policies = parsePolicies({
    policies: [{ name: 'bench', key: 'ip', limits: [{ type: 'fixedWindow', limit, window: '1h' }] }],
  });
  const options =
    redis === undefined ? { policies } : { policies, store: createRedisStore({ client: redis, prefix }) };
  return createEnforcer(options);
}

async function expressApp() {
  const app = express();
  if (variant === 'sluice') app.use(sluiceExpress(sluiceEnforcer()));
  if (variant === 'peer') {
    const options = { windowMs: HOUR_MS, limit };
    if (redis !== undefined) {
      options.store = new RedisStore({ sendCommand: (...args) => redis.call(...args), prefix: `${prefix}:` });
    }
    app.use(rateLimit(options));
  }
  app.get('/items', (_req, res) => {
    res.json({ ok: true });
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (error) =>
      error ? reject(error) : resolve(server.address().port),
    );
  });
}

async function fastifyApp() {
  const app = Fastify();
  if (variant === 'sluice') await app.register(sluiceFastify, { enforcer: sluiceEnforcer() });
  if (variant === 'peer') {
    const { default: fastifyRateLimit } = await import('@fastify/rate-limit');
    const options = { max: limit, timeWindow: HOUR_MS };
    if (redis !== undefined) Object.assign(options, { redis, nameSpace: `${prefix}:` });
    await app.register(fastifyRateLimit, options);
  }
  app.get('/items', async () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server.address().port;
}

if (redis !== undefined) await redis.ping();
const port = framework === 'express' ? await expressApp() : await fastifyApp();
process.on('disconnect', () => process.exit(0));
process.send({ port });
