// The server of the client benchmark (bench/client.js), in a child process of its own so that it never
// shares an event loop with the clients under test:
//   node bench/client-server.js <scale>
// It enforces the Merchant API preset (per API user: token bucket 10 requests/s with bursts of 60, at most 5
// in flight, 429 with Retry-After and 409 beyond) on a clock that runs `scale` times faster than real time,
// for one API user (`bench`). An allowed request waits 20 ms of real time (simulated upstream work, so that
// concurrency matters) and gets 200 {"ok":true}. It listens on 127.0.0.1, sends `{ port }` to the parent
// over IPC, and answers two IPC messages: `reset` (a fresh enforcer, so a full bucket and no request in
// flight, and zeroed counters; answered `{ reset: true }`) and `stats` (the counters of the run since the
// last reset: 2xx, 429, 409, other statuses and the distinct Idempotency-Keys answered 2xx). It exits when
// the parent goes away.
import { createServer } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { sluiceNode } from '../dist/http/node.js';
import { createEnforcer } from '../dist/policy/index.js';
import { merchantApi, presetOptions } from '../dist/presets/index.js';

const scale = Number(process.argv[2]);
if (!(scale > 0)) throw new Error(`Usage: node bench/client-server.js <scale> (a number > 0), got ${scale}`);
const UPSTREAM_MS = 20;

/** The enforcer's clock: real time since t0, `scale` times faster. */
const t0 = Date.now();
const clock = () => t0 + (Date.now() - t0) * scale;

let guard;
let counts;
function reset() {
  guard = sluiceNode(createEnforcer({ ...presetOptions(merchantApi), clock }), {
    identify: () => ({ user: 'bench' }),
  });
  counts = { ok: 0, tooMany: 0, conflict: 0, other: 0, keys: new Set() };
}
reset();

/** Counts a response by status once it has been sent. */
function count(req, res) {
  res.once('finish', () => {
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      counts.ok++;
      const key = req.headers['idempotency-key'];
      if (key !== undefined) counts.keys.add(key);
    } else if (status === 429) counts.tooMany++;
    else if (status === 409) counts.conflict++;
    else counts.other++;
  });
}

const server = createServer(async (req, res) => {
  count(req, res);
  // The body is read in full (a real API would parse it) before the decision.
  for await (const _ of req);
  const verdict = await guard(req, res);
  if (verdict === undefined) return; // 429 or 409: already answered, headers included
  await delay(UPSTREAM_MS);
  res.setHeader('content-type', 'application/json');
  res.end('{"ok":true}');
});

process.on('message', (message) => {
  if (message === 'reset') {
    reset();
    process.send({ reset: true });
  } else if (message === 'stats') {
    const { keys, ...rest } = counts;
    process.send({ stats: { ...rest, distinctKeys: keys.size } });
  }
});
process.on('disconnect', () => process.exit(0));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
