// npm run bench: throughput side by side (median of rounds), then heap bytes per idle key, with sluice's
// ratio to each peer and to the hand-written floor; then the same against a private redis-server
// (bench/redis.js). Options: --rounds N (default 7), --ops N (default 2_000_000), --skip-heap;
// --only redis (the Redis part alone), --skip-redis (also the HTTP part's Redis rows), --redis-rounds N
// (default 11), --redis-ops N (default 10_000 per cell and round at 64 in flight, a quarter at 1 in
// flight); then requests per second through Express and Fastify with and without a limiter (bench/http.js):
// --only http (the HTTP part alone; `--only redis,http` runs both), --skip-http, --http-rounds N (default
// 3), --http-duration S (default 2 seconds per cell and round), --http-warmup S (default 0.5),
// --http-connections N (default 10), --http-profile DIR (CPU profiles of the limited servers, to DIR); then
// the gateway against the upstream and nginx (bench/gateway.js): --only gateway, --skip-gateway,
// --gateway-rounds N (default 5), --gateway-duration S (default 2), --gateway-connections N (default 32);
// then a 1,000-request bulk job through sluice's client and its peers against a time-scaled Merchant API
// (bench/client.js): --only client, --skip-client, --client-rounds N (default 3), --client-requests N
// (default 1000), --client-scale K (default 10: the API's time runs K times faster than real time); then
// four worker processes sharing one Sales-data API key (50 per 10 s) through sluice's shared Redis budget,
// per-process budgets and Bottleneck's Redis clustering, utilisation and 429s (bench/shared.js):
// --only shared, --skip-shared, --shared-rounds N (default 3), --shared-scale K (default 10).
// Timing figures are for comparison within one run, never absolute claims.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runClientBench } from './client.js';
import { runGatewayBench } from './gateway.js';
import { runHttpBench } from './http.js';
import { IMPLEMENTATIONS } from './peers.js';
import { runRedisBench } from './redis.js';
import { runSharedBench } from './shared.js';
import { median, runThroughput, SCENARIOS } from './throughput.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const text = (name) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
};
const rounds = option('rounds', 7);
// --only a,b: implementations whose name contains a or b (sluice and the floor are always kept), in both
// parts; `redis` among them runs the Redis part alone. --scenario text: memory scenarios whose name
// contains text. For quick comparisons while developing.
const onlyWords = text('only')?.split(',');
const redisNamed = onlyWords?.includes('redis') ?? false;
const httpNamed = onlyWords?.includes('http') ?? false;
const gatewayNamed = onlyWords?.includes('gateway') ?? false;
const clientNamed = onlyWords?.includes('client') ?? false;
const sharedNamed = onlyWords?.includes('shared') ?? false;
// Naming a part runs the named parts alone.
const partsNamed = redisNamed || httpNamed || gatewayNamed || clientNamed || sharedNamed;
const PARTS = ['redis', 'http', 'gateway', 'client', 'shared'];
const only = onlyWords?.filter((o) => !PARTS.includes(o));
const peerFilter = only === undefined || only.length === 0 ? undefined : only;
const implementations = IMPLEMENTATIONS.filter(
  (i) => peerFilter === undefined || i.role !== 'peer' || peerFilter.some((o) => i.name.includes(o)),
);
const scenarios = SCENARIOS.filter(
  (s) => text('scenario') === undefined || s.name.includes(text('scenario')),
);
const ops = option('ops', 2_000_000);
const log = (line = '') => console.log(line);
const fmt = (opsPerSec) => `${(opsPerSec / 1e6).toFixed(2)}M/s`;
const pad = (text, width) => String(text).padEnd(width);

if (!partsNamed) await runMemoryBench();
if (!args.includes('--skip-redis') && (!partsNamed || redisNamed)) {
  if (!partsNamed) log();
  await runRedisBench({
    rounds: option('redis-rounds', 11),
    ops: option('redis-ops', 10_000),
    log,
    only: peerFilter,
  });
}
if (!args.includes('--skip-http') && (!partsNamed || httpNamed)) {
  if (!partsNamed || redisNamed) log();
  const profileDir = text('http-profile');
  await runHttpBench({
    rounds: option('http-rounds', 3),
    duration: option('http-duration', 2),
    warmup: option('http-warmup', 0.5),
    connections: option('http-connections', 10),
    skipRedis: args.includes('--skip-redis'),
    profile: profileDir === undefined ? undefined : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    log,
  });
}

if (!args.includes('--skip-gateway') && (!partsNamed || gatewayNamed)) {
  log();
  await runGatewayBench({
    rounds: option('gateway-rounds', 5),
    duration: option('gateway-duration', 2),
    connections: option('gateway-connections', 32),
    skipRedis: args.includes('--skip-redis'),
    log,
  });
}
if (!args.includes('--skip-client') && (!partsNamed || clientNamed)) {
  // A blank line after any part that ran before (here, every one but the client part alone).
  if (!partsNamed || redisNamed || httpNamed || gatewayNamed) log();
  await runClientBench({
    rounds: option('client-rounds', 3),
    requests: option('client-requests', 1000),
    scale: option('client-scale', 10),
    log,
  });
}
if (!args.includes('--skip-shared') && (!partsNamed || sharedNamed)) {
  // A blank line after any part that ran before.
  if (!partsNamed || redisNamed || httpNamed || gatewayNamed || clientNamed) log();
  await runSharedBench({
    rounds: option('shared-rounds', 3),
    scale: option('shared-scale', 10),
    log,
  });
}

async function runMemoryBench() {
  if (!implementations.some((i) => i.role === 'peer')) {
    log(`No in-memory peer matches --only ${text('only')}: the memory benchmark is skipped.`);
    return;
  }
  log(
    `sluice benchmark: node ${process.version}, ${rounds} rounds of ${ops.toLocaleString('en')} decisions, medians`,
  );
  // Every implementation reads the clock once per decision: say what that alone costs here.
  const clockNs = median(
    Array.from({ length: 5 }, () => {
      let sum = 0;
      const start = process.hrtime.bigint();
      for (let i = 0; i < 1_000_000; i++) sum += Date.now();
      if (sum === 0) log('(impossible)');
      return Number(process.hrtime.bigint() - start) / 1_000_000;
    }),
  );
  log(`Date.now() alone: ${clockNs.toFixed(1)} ns per call on this machine.`);
  const results = await runThroughput({ rounds, ops, log, implementations, scenarios });

  const summary = [];
  for (const scenario of scenarios) {
    const perImpl = results.get(scenario.name);
    const med = new Map([...perImpl].map(([name, values]) => [name, median(values)]));
    const sluice = med.get('sluice (consumeInto)');
    const sluiceSync = med.get('sluice (consumeSync)');
    log();
    log(`${scenario.name}`);
    log(`  ${pad('implementation', 34)}${pad('median', 12)}${pad('min–max', 22)}sluice ×`);
    for (const impl of implementations) {
      const values = perImpl.get(impl.name);
      const range = `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
      log(
        `  ${pad(impl.name, 34)}${pad(fmt(med.get(impl.name)), 12)}${pad(range, 22)}${(sluice / med.get(impl.name)).toFixed(2)}`,
      );
    }
    const peers = implementations.filter((i) => i.role === 'peer');
    const fastest = peers.reduce((a, b) => (med.get(a.name) >= med.get(b.name) ? a : b));
    const vsPeer = sluice / med.get(fastest.name);
    const vsFloor = sluice / med.get('hand-written Map floor');
    summary.push({
      scenario: scenario.name,
      fastestPeer: fastest.name,
      vsPeer,
      vsFloor,
      syncVsPeer: sluiceSync / med.get(fastest.name),
      syncVsFloor: sluiceSync / med.get('hand-written Map floor'),
    });
  }

  log();
  log('Targets: ≥ 1.00 × the fastest peer on the allowed paths; ≥ 0.70 × the floor on every path.');
  log('sluice (consumeInto), the zero-allocation path; in brackets, consumeSync (one object per decision).');
  for (const s of summary) {
    const peerOk = !s.scenario.includes('allowed') || s.vsPeer >= 1;
    log(
      `  ${pad(s.scenario, 20)} vs fastest peer (${s.fastestPeer}): ${s.vsPeer.toFixed(2)}${peerOk ? '' : ' BELOW'}` +
        ` [${s.syncVsPeer.toFixed(2)}]   vs floor: ${s.vsFloor.toFixed(2)}${s.vsFloor >= 0.7 ? '' : ' BELOW'}` +
        ` [${s.syncVsFloor.toFixed(2)}]`,
    );
  }

  if (!args.includes('--skip-heap')) {
    log();
    log('Heap bytes per idle key after 1M keys (JS heap + ArrayBuffers, one process per implementation)');
    const heapScript = fileURLToPath(new URL('./heap.js', import.meta.url));
    const bytes = new Map();
    for (const impl of implementations) {
      const out = execFileSync(process.execPath, ['--expose-gc', heapScript, impl.name], {
        encoding: 'utf8',
      });
      bytes.set(impl.name, JSON.parse(out).bytesPerKey);
    }
    const sluiceBytes = bytes.get('sluice (consumeInto)');
    for (const impl of implementations) {
      const b = bytes.get(impl.name);
      log(
        `  ${pad(impl.name, 34)}${pad(`${b.toFixed(0)} B`, 10)}sluice uses ${(sluiceBytes / b).toFixed(2)} ×`,
      );
    }
    log(
      `  Target: ≤ 150 B per idle key for sluice: ${sluiceBytes <= 150 ? 'met' : 'NOT met'} (${sluiceBytes.toFixed(0)} B)`,
    );
  }
}
