// The client part of `npm run bench`: a bulk job against a server with the Merchant API's limits, through
// sluice's client and the integrator-side tools it replaces. The server (bench/client-server.js, a child
// process, pinned to a core of its own when taskset is there) enforces the Merchant API preset per API user
// (token bucket 10 requests/s with bursts of 60, at most 5 requests in flight: 429 with Retry-After beyond
// the rate, 409 beyond the concurrency) on a clock `scale` times faster than real time, and every client
// waits on the same scaled time (a Retry-After of 1 s is 1000 / scale ms of real time). The job: `requests`
// items, item i being `POST /v1/rates` with body {"item":i} and `Idempotency-Key: item-i`, so that every
// client may retry any of them. For each configuration: completion time over the ideal (the limit's own
// minimum, (requests − burst) / (rate × scale) seconds of real time), the 429s and 409s the server sent,
// and the items lost (no 2xx when the job ended: given up or thrown). Every round runs every configuration
// once in a rotating order, each run against a fresh enforcer (a full bucket); medians of rounds.
import { fork, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Bottleneck from 'bottleneck';
import PQueue from 'p-queue';
import pRetry from 'p-retry';
import { createClient } from '../dist/client/index.js';
import { systemSleep } from '../dist/index.js';
import { merchantApi } from '../dist/presets/index.js';
import { pinning, running } from './pinning.js';
import { median } from './throughput.js';

/**
 * sluice's client told the Merchant API's limits: the preset's client options (token bucket 10/s burst 60,
 * 5 in flight, margin 98 % of the rate and 90 % of the burst, retries with 409 added).
 */
function sluiceKnownOptions(baseUrl, clock, sleep) {
  return { baseUrl, ...merchantApi.client, clock, sleep };
}

/** sluice's client told nothing: it learns the limits from the server's headers and its 429s and 409s. */
function sluiceAdaptiveOptions(baseUrl, clock, sleep) {
  return { baseUrl, classes: { api: { match: () => true, retryable: true } }, clock, sleep };
}

const SERVER = fileURLToPath(new URL('./client-server.js', import.meta.url));
/** The Merchant API's limits, as its documentation states them (the peers are configured from these). */
const RATE = 10;
const BURST = 60;
const CONCURRENCY = 5;
/** The peers' retry budget: 10 retries (Bottleneck, p-retry), 10 attempts (the plain loop). */
const RETRIES = 10;
/** The peers' backoff on a 409 or a network error: 100 ms doubling up to 3.2 s (of API time). */
const backoffMs = (retry, scale) => Math.min(100 * 2 ** retry, 3200) / scale;
const UPSTREAM_MS = 20; // the server's work per allowed request (bench/client-server.js)

/** The API's time for one run: its clock and sleep, `scale` times faster than real time. */
function scaledTime(scale) {
  const t0 = Date.now();
  return {
    clock: () => t0 + (Date.now() - t0) * scale,
    sleep: (ms, signal) => systemSleep(ms / scale, signal),
  };
}

/** Item i of the job. */
const PATH = '/v1/rates';
const initOf = (i) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': `item-${i}` },
  body: JSON.stringify({ item: i }),
});
const itemsOf = (requests) => Array.from({ length: requests }, (_, i) => i);

/** A response outside 2xx, as the peers' retry logic sees it: the status and the server's wait, if any. */
class StatusError extends Error {
  constructor(status, retryAfterMs) {
    super(`HTTP ${status}`);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** One attempt at item i with plain fetch: resolves on 2xx, throws a StatusError otherwise. */
async function post(baseUrl, i) {
  const response = await fetch(new URL(PATH, baseUrl), initOf(i));
  await response.arrayBuffer();
  if (response.ok) return;
  const seconds = Number(response.headers.get('retry-after') ?? Number.NaN);
  throw new StatusError(response.status, Number.isFinite(seconds) ? seconds * 1000 : undefined);
}

/** Items lost: an outcome that is a rejection or `false`. */
const lostOf = (outcomes) => outcomes.filter((o) => o.status === 'rejected' || o.value === false).length;

/** sluice's client: every item submitted at once, the client queues and paces them. */
async function viaSluice(optionsOf, { baseUrl, scale, requests }) {
  const { clock, sleep } = scaledTime(scale);
  const client = createClient(optionsOf(baseUrl, clock, sleep));
  const send = async (i) => {
    const response = await client.fetch(PATH, initOf(i));
    await response.arrayBuffer();
    return response.ok;
  };
  return lostOf(await Promise.allSettled(itemsOf(requests).map(send)));
}

/**
 * Bottleneck as its README configures a token bucket (reservoir intervals) and retries (`failed`). The
 * README asks for a `reservoirIncreaseInterval` that is a multiple of 250 ms: Bottleneck adds to the
 * reservoir on a 250 ms heartbeat, so "1 every 100 ms" would give 4/s, not 10/s. Hence 5 every 500 ms (of
 * API time). The heartbeat (`heartbeatInterval`, a local-store option the README does not list) is scaled
 * like every other wait, so that the scaled run behaves as Bottleneck does in real time.
 */
async function viaBottleneck({ baseUrl, scale, requests }) {
  const limiter = new Bottleneck({
    maxConcurrent: CONCURRENCY,
    reservoir: BURST,
    reservoirIncreaseAmount: RATE / 2,
    reservoirIncreaseInterval: 500 / scale,
    reservoirIncreaseMaximum: BURST,
    heartbeatInterval: 250 / scale,
  });
  // A number returned from `failed` retries the job after that many ms; undefined gives up.
  limiter.on('failed', (error, jobInfo) => {
    if (jobInfo.retryCount >= RETRIES) return undefined;
    return error.retryAfterMs === undefined
      ? backoffMs(jobInfo.retryCount, scale)
      : error.retryAfterMs / scale;
  });
  try {
    const jobs = itemsOf(requests).map((i) => limiter.schedule({ id: `item-${i}` }, () => post(baseUrl, i)));
    return lostOf(await Promise.allSettled(jobs));
  } finally {
    await limiter.disconnect();
  }
}

/**
 * p-queue paces at the rate (a fixed window of 10 per second, 5 at a time) and p-retry retries each task:
 * its own backoff (the default 1 s doubling, scaled) plus the server's Retry-After, awaited in
 * `onFailedAttempt` as its README shows for a delay.
 */
async function viaPQueue({ baseUrl, scale, requests }) {
  const queue = new PQueue({ concurrency: CONCURRENCY, intervalCap: RATE, interval: 1000 / scale });
  const task = (i) =>
    pRetry(() => post(baseUrl, i), {
      retries: RETRIES,
      minTimeout: 1000 / scale,
      onFailedAttempt: async ({ error }) => {
        if (error.retryAfterMs !== undefined) await delay(error.retryAfterMs / scale);
      },
    });
  return lostOf(await Promise.allSettled(itemsOf(requests).map((i) => queue.add(() => task(i)))));
}

/** Plain fetch: 5 workers take items from a shared index and retry each up to 10 attempts. */
async function viaPlainFetch({ baseUrl, scale, requests }) {
  let next = 0;
  let lost = 0;
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          await post(baseUrl, i);
          break;
        } catch (error) {
          if (attempt >= RETRIES) {
            lost++;
            break;
          }
          const wait = error instanceof StatusError ? error.retryAfterMs : undefined;
          await delay(wait === undefined ? backoffMs(attempt - 1, scale) : wait / scale);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return lost;
}

const CONFIGURATIONS = [
  { name: 'sluice client, limits known', run: (o) => viaSluice(sluiceKnownOptions, o) },
  { name: 'sluice client, adaptive', run: (o) => viaSluice(sluiceAdaptiveOptions, o) },
  { name: 'Bottleneck (reservoir + failed)', run: viaBottleneck },
  { name: 'p-queue + p-retry', run: viaPQueue },
  { name: 'plain fetch + retry loop', run: viaPlainFetch },
];

/** Sends `message` (unless undefined) and resolves the `field` of the server's next message that has it. */
function ask(child, message, field) {
  return new Promise((resolve, reject) => {
    const onMessage = (reply) => {
      if (reply?.[field] === undefined) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(reply[field]);
    };
    const onExit = (code) => reject(new Error(`the client benchmark's server exited (${code})`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message !== undefined) child.send(message);
  });
}

/** Starts the server child; resolves `{ baseUrl, reset(), stats(), stop() }`. */
async function startServer(scale, core) {
  const options = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] };
  // Pinned: `taskset` execs node in place, which inherits the IPC channel like a fork.
  const child =
    core === undefined
      ? fork(SERVER, [String(scale)], options)
      : spawn('taskset', ['-c', String(core), process.execPath, SERVER, String(scale)], options);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  running.add(child);
  exited.then(() => running.delete(child));
  const port = await ask(child, undefined, 'port');
  return {
    baseUrl: `http://127.0.0.1:${port}/`,
    reset: () => ask(child, 'reset', 'reset'),
    stats: () => ask(child, 'stats', 'stats'),
    stop: async () => {
      if (child.connected) child.disconnect();
      await exited;
    },
  };
}

/** Rejects when `promise` takes longer than `ms`, so that a client that stalls fails the run instead. */
async function within(promise, ms, name) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: the job took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the client benchmark: `rounds` rounds of every configuration, `requests` items per job, the API's
 * time `scale` times faster than real time.
 */
export async function runClientBench({ rounds, requests, scale, log }) {
  const core = pinning();
  const idealMs = ((requests - BURST) / (RATE * scale)) * 1000;
  log(
    `Client benchmark: a bulk job of ${requests.toLocaleString('en')} × POST /v1/rates (each with an ` +
      'Idempotency-Key, so every client may retry it) against a sluice server with the Merchant API preset',
  );
  log(
    `  per API user: token bucket ${RATE}/s, burst ${BURST}, at most ${CONCURRENCY} in flight (429 with ` +
      `Retry-After beyond the rate, 409 beyond the concurrency); ${UPSTREAM_MS} ms of upstream work per allowed request.`,
  );
  log(
    `  API time runs ${scale} × faster than real time, on the server and in every client (Retry-After 1 s = ` +
      `${1000 / scale} ms). Ideal: (${requests} − ${BURST}) / (${RATE}/s × ${scale}) = ${(idealMs / 1000).toFixed(2)} s ` +
      'of real time, the bucket’s own minimum.',
  );
  if (RATE * scale > (CONCURRENCY * 1000) / UPSTREAM_MS) {
    log(
      `  *** At this scale the concurrency (${CONCURRENCY} × ${UPSTREAM_MS} ms) binds before the rate. ***`,
    );
  }
  log(
    `  ${rounds} rounds, every configuration once per round in a rotating order, each run from a full bucket; ` +
      'medians of rounds. Ratios to the ideal only: compare within this run.',
  );
  log(
    core === undefined
      ? '  Unpinned (no taskset or a single core): the scheduler places the server and the clients.'
      : `  Pinned with taskset: the server on core ${core}, the clients (this process) on the others.`,
  );
  const server = await startServer(scale, core);
  const results = new Map(CONFIGURATIONS.map((c) => [c, []]));
  try {
    for (let r = 0; r < rounds; r++) {
      const offset = r % CONFIGURATIONS.length;
      for (const config of [...CONFIGURATIONS.slice(offset), ...CONFIGURATIONS.slice(0, offset)]) {
        await server.reset();
        const start = performance.now();
        const job = config.run({ baseUrl: server.baseUrl, scale, requests });
        const lost = await within(job, Math.max(60_000, idealMs * 20), config.name);
        const ms = performance.now() - start;
        const stats = await server.stats();
        results.get(config).push({ ratio: ms / idealMs, lost, ...stats });
      }
    }
  } finally {
    await server.stop();
  }
  report(results, { requests, log });
}

const pad = (text, width) => String(text).padEnd(width);

function report(results, { requests, log }) {
  log();
  log(
    `  ${pad('configuration', 34)}${pad('× ideal', 9)}${pad('429s', 7)}${pad('409s', 7)}${pad('lost', 6)}` +
      'per round: × ideal 429s/409s/lost',
  );
  const summaries = [];
  for (const [config, runs] of results) {
    const summary = {
      config,
      ratio: median(runs.map((r) => r.ratio)),
      tooMany: median(runs.map((r) => r.tooMany)),
      conflict: median(runs.map((r) => r.conflict)),
      lost: Math.max(...runs.map((r) => r.lost)),
    };
    summaries.push(summary);
    const perRound = runs
      .map((r) => `${r.ratio.toFixed(3)}${r.lost > 0 ? '†' : ''} ${r.tooMany}/${r.conflict}/${r.lost}`)
      .join('  ');
    // A run that lost items did not complete the job: its time is flagged.
    const flag = runs.some((r) => r.lost > 0) ? '†' : '';
    log(
      `  ${pad(config.name, 34)}${pad(summary.ratio.toFixed(3) + flag, 9)}${pad(summary.tooMany, 7)}` +
        `${pad(summary.conflict, 7)}${pad(summary.lost, 6)}${perRound}`,
    );
    // The server's view must agree with the client's: one distinct key answered 2xx per item not lost.
    for (const [r, run] of runs.entries()) {
      if (run.distinctKeys !== requests - run.lost || run.other > 0) {
        log(
          `    ! round ${r + 1}: the server answered 2xx for ${run.distinctKeys} distinct items (the client ` +
            `counts ${requests - run.lost}) and ${run.other} responses other than 2xx, 429 and 409`,
        );
      }
    }
  }
  if (summaries.some((s) => s.lost > 0)) {
    log('  † items were lost: the time is when the job gave up, not a completion of it.');
  }
  log();
  log(
    'Targets for sluice: limits known, ≤ 1.05 × ideal and no 429 or 409; adaptive, ≤ 1.10 × ideal and 429s ' +
      '≤ 1 % of the requests; nothing lost.',
  );
  const [known, adaptive] = summaries;
  const knownMet = known.ratio <= 1.05 && known.tooMany === 0 && known.conflict === 0 && known.lost === 0;
  const adaptiveMet = adaptive.ratio <= 1.1 && adaptive.tooMany <= requests / 100 && adaptive.lost === 0;
  for (const [s, met] of [
    [known, knownMet],
    [adaptive, adaptiveMet],
  ]) {
    log(
      `  ${pad(`${s.config.name}:`, 36)}${s.ratio.toFixed(3)} × ideal, ${s.tooMany} 429s, ${s.conflict} ` +
        `409s, ${s.lost} lost → ${met ? 'met' : 'NOT met'}`,
    );
  }
}
