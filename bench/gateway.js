// The gateway part of `npm run bench` (`--only gateway`): requests per second through `sluice gateway` in
// front of a small upstream, against the upstream reached directly and against nginx with `limit_req`
// proxying the same upstream (when nginx is installed), in one run. Every process is a child of its own:
// the upstream, each gateway (memory store; Redis store when redis-server is installed), nginx. autocannon
// runs here. Rounds are interleaved and figures are medians; every response's status is checked (200 under
// the limit, 429 over it), so a run that measured anything else fails. Then the latency the gateway adds:
// p99 at half of its own maximum rate, against the upstream's p99 at that same rate.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { findRedisServer, startRedisServer } from './redis-server.js';
import { median } from './throughput.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const pad = (text, width) => String(text).padEnd(width);
const fmt = (rps) => `${(rps / 1e3).toFixed(1)}k/s`;

/** Resolves once something accepts connections on the loopback port (or rejects after 10 s). */
async function listening(port) {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a child process and resolves once `ready(output)` is true (`ready` undefined: at once). */
function child(command, args, ready) {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      out += chunk;
      if (ready === undefined || ready(out)) {
        proc.stdout.off('data', onData);
        proc.stdout.resume();
        // A child's own errors stay visible.
        proc.stderr.pipe(process.stderr);
        resolve({
          stop: async () => {
            proc.kill('SIGTERM');
            await exited;
          },
        });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    if (ready === undefined) onData('');
    proc.once('exit', (code) =>
      reject(new Error(`${command} exited (${code}) before it was ready:\n${out}`)),
    );
  });
}

const UPSTREAM = `
  const { createServer } = require('node:http');
  const body = JSON.stringify({ ok: true, items: [1, 2, 3] });
  createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  }).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'));`;

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function gatewayConfig(dir, name, limit) {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    `upstream: { url: "http://127.0.0.1:1" }\npolicies:\n  - name: per-ip\n    key: ip\n    limits: [{ type: fixedWindow, limit: ${limit}, window: 1h }]\n`,
  );
  return path;
}

function nginxConfig(dir, port, upstreamPort) {
  const path = join(dir, 'nginx.conf');
  writeFileSync(
    path,
    `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  limit_req_zone $binary_remote_addr zone=perip:10m rate=100000r/s;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      limit_req zone=perip burst=1000000 nodelay;
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
`,
  );
  return path;
}

const nginxBinary = () => {
  try {
    return (
      execFileSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' }).trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
};

async function measure(cell, { connections, duration, overallRate }) {
  const result = await autocannon({
    url: `http://127.0.0.1:${cell.port}/items`,
    connections,
    duration,
    ...(overallRate === undefined ? {} : { overallRate }),
  });
  const good = result.statusCodeStats[cell.status]?.count ?? 0;
  const tolerated = cell.status === 429 && !cell.warm ? (result.statusCodeStats[200]?.count ?? 0) : 0;
  if (result.errors > 0 || good === 0 || good + tolerated !== result.requests.total)
    throw new Error(
      `${cell.name}: expected every response to be ${cell.status}, got ${JSON.stringify(result.statusCodeStats)} of ${result.requests.total} requests, ${result.errors} errors (${result.timeouts} timeouts)`,
    );
  return { rps: result.requests.total / result.duration, p99: result.latency.p99 };
}

/** Runs the gateway benchmark; see the file's head comment. */
export async function runGatewayBench({ rounds, duration, connections, skipRedis, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-gw-'));
  const stops = [];
  try {
    const upstreamPort = await freePort();
    stops.push(
      (await child(process.execPath, ['-e', UPSTREAM, String(upstreamPort)], (o) => o.includes('listening')))
        .stop,
    );
    const cells = [{ name: 'upstream, direct', port: upstreamPort, status: 200 }];
    const gateway = async (name, store, limit, status) => {
      // Port 0: the gateway picks a free port and prints it, so no other process can take it in between.
      const args = [CLI, 'gateway', '--config', gatewayConfig(dir, name, limit), '--port', '0'];
      args.push('--upstream', `http://127.0.0.1:${upstreamPort}`);
      if (store !== undefined) args.push('--redis', `redis://127.0.0.1:${store}`);
      let port;
      const started = await child(process.execPath, args, (o) => {
        port = /sluice gateway on http:\/\/127\.0\.0\.1:(\d+)/.exec(o)?.[1];
        return port !== undefined;
      });
      stops.push(started.stop);
      cells.push({ name, port: Number(port), status, gateway: true });
    };
    await gateway('sluice gateway, memory, allowed', undefined, 1_000_000_000, 200);
    await gateway('sluice gateway, memory, over the limit', undefined, 1, 429);
    let redis;
    if (!skipRedis && findRedisServer() !== undefined) {
      redis = await startRedisServer(findRedisServer());
      stops.push(() => redis.stop());
      await gateway('sluice gateway, Redis, allowed', redis.port, 1_000_000_000, 200);
    } else log('*** NOTICE: no redis-server (or --skip-redis): the gateway benchmark has no Redis row. ***');
    const nginx = nginxBinary();
    if (nginx !== undefined) {
      const port = await freePort();
      stops.push((await child(nginx, ['-c', nginxConfig(dir, port, upstreamPort), '-e', 'stderr'])).stop);
      // nginx prints nothing when it starts well: ready once its port accepts connections.
      await listening(port);
      cells.push({ name: 'nginx limit_req, allowed', port, status: 200 });
    } else
      log(
        '*** NOTICE: nginx is not installed: the gateway benchmark has no nginx row (apt-get install nginx). ***',
      );

    log(
      `Gateway benchmark: GET /items through each proxy to one upstream; autocannon here, ${connections} connections, ${rounds} interleaved rounds of ${duration} s, medians.`,
    );
    for (const cell of cells) {
      cell.warm = false;
      await measure(cell, { connections, duration: 1 });
      cell.warm = true;
      cell.values = [];
    }
    for (let r = 0; r < rounds; r++) {
      const offset = r % cells.length;
      for (const cell of [...cells.slice(offset), ...cells.slice(0, offset)])
        cell.values.push((await measure(cell, { connections, duration })).rps);
    }
    const direct = cells[0];
    const nginxCell = cells.find((c) => c.name.startsWith('nginx'));
    const ratio = (a, b) => median(a.values.map((v, i) => v / b.values[i]));
    log();
    log(`  ${pad('', 42)}${pad('median', 11)}${pad('× direct', 10)}${nginxCell ? '× nginx' : ''}`);
    for (const cell of cells)
      log(
        `  ${pad(cell.name, 42)}${pad(fmt(median(cell.values)), 11)}${pad(ratio(cell, direct).toFixed(2), 10)}` +
          `${nginxCell ? ratio(cell, nginxCell).toFixed(2) : ''}`,
      );

    // Latency added at half the gateway's maximum: the same fixed rate through the gateway and direct.
    const allowed = cells.find((c) => c.name === 'sluice gateway, memory, allowed');
    const rate = Math.round(median(allowed.values) / 2);
    const p99 = async (cell) => {
      const values = [];
      for (let i = 0; i < 3; i++)
        values.push((await measure(cell, { connections, duration, overallRate: rate })).p99);
      return median(values);
    };
    const [through, plain] = [await p99(allowed), await p99(direct)];
    log();
    log(
      `  p99 latency at ${fmt(rate)} (half the gateway's maximum): through the gateway ${through} ms, direct ${plain} ms → added ${(through - plain).toFixed(2)} ms`,
    );
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}
