import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpStatusError } from '../../src/client/client-errors.js';
import { createClient } from '../../src/client/index.js';
import { ConfigError } from '../../src/core/errors.js';
import { type JobOptions, parseCheckpoint, runJob } from '../../src/job/index.js';
import { itemIds, startUpstream, type Upstream } from './upstream.js';

let dir: string;
let upstream: Upstream | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-job-'));
});
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A job posting each id to the upstream with an Idempotency-Key; 4xx/5xx throw HttpStatusError. */
function postJob(
  up: Upstream,
  ids: readonly string[],
  extra: Partial<JobOptions<string>> = {},
): JobOptions<string> {
  // The job retries (not the client), so that the job's retry policy is what is tested.
  const client = createClient({ baseUrl: `${up.url}/`, retry: { maxAttempts: 1 } });
  return {
    name: 'post-items',
    items: ids,
    id: (id) => id,
    process: async (id, { signal }) => {
      const response = await client.fetch(`items/${id}`, {
        method: 'POST',
        headers: { 'idempotency-key': `post-items-${id}` },
        signal,
      });
      if (!response.ok) throw new HttpStatusError(response);
    },
    checkpoint: { file: join(dir, 'checkpoint.json') },
    output: false,
    retry: { attempts: 3, backoff: { base: '5ms', cap: '20ms' } },
    client,
    ...extra,
  };
}

describe('runJob: checkpoint and resume', () => {
  it('aborted mid-run then restarted: every item done once at the server, confirmed once, none lost', async () => {
    upstream = await startUpstream({ delayMs: 10 });
    const up = upstream;
    const ids = itemIds(40);
    const confirmed: string[] = [];
    const stop = new AbortController();
    const timer = setInterval(() => {
      if (up.processed.size >= 12) stop.abort(new Error('test stop'));
    }, 2);
    const first = await runJob(
      postJob(up, ids, { signal: stop.signal, onConfirm: (c) => confirmed.push(...c) }),
    );
    clearInterval(timer);
    expect(first.state).toBe('aborted');
    expect(first.processed).toBeGreaterThan(0);
    expect(first.processed).toBeLessThan(40);
    const saved = parseCheckpoint(readFileSync(join(dir, 'checkpoint.json'), 'utf8'), 'checkpoint');
    expect(saved.state).toBe('running');

    const called: string[] = [];
    const options = postJob(up, ids, { onConfirm: (c) => confirmed.push(...c) });
    const second = await runJob({
      ...options,
      process: (id, context) => {
        called.push(id);
        return options.process(id, context);
      },
    });
    expect(second.state).toBe('completed');
    expect(second.skipped).toBe(first.processed);
    expect(first.processed + second.processed).toBe(40);
    // Confirmed work is not redone: process was not called for any item confirmed by the first run.
    expect(called.filter((id) => confirmed.slice(0, first.processed).includes(id))).toEqual([]);
    expect([...confirmed].sort()).toEqual([...ids].sort());
    expect(new Set(confirmed).size).toBe(confirmed.length);
    for (const id of ids) expect(up.work.get(id), id).toBe(1);
    expect(up.processed.size).toBe(40);
  });

  it('an unordered source resumes by id; a completed checkpoint starts a new pass', async () => {
    upstream = await startUpstream();
    const ids = itemIds(10);
    const stop = new AbortController();
    let n = 0;
    const base = postJob(upstream, ids, { ordered: false, concurrency: 1, signal: stop.signal });
    const first = await runJob({
      ...base,
      process: async (id, context) => {
        if (++n === 4) stop.abort(new Error('stop'));
        await base.process(id, context);
      },
    });
    expect(first.state).toBe('aborted');
    const second = await runJob(postJob(upstream, [...ids].reverse(), { ordered: false }));
    expect(second).toMatchObject({ state: 'completed', skipped: first.processed });
    expect(first.processed + second.processed).toBe(10);
    const third = await runJob(postJob(upstream, ids, { ordered: false }));
    expect(third).toMatchObject({ state: 'completed', skipped: 0, processed: 10 });
  });

  it('batchSize: one checkpoint write per batch, resumed at batch boundaries', async () => {
    upstream = await startUpstream();
    const writes: string[][] = [];
    const summary = await runJob(
      postJob(upstream, itemIds(12), { batchSize: 4, concurrency: 2, onConfirm: (c) => writes.push([...c]) }),
    );
    expect(summary).toMatchObject({ state: 'completed', processed: 12 });
    expect(writes.map((w) => w.length)).toEqual([4, 4, 4]);
  });

  it('an ordered source that changed below the saved position fails with a clear error', async () => {
    upstream = await startUpstream();
    const stop = new AbortController();
    const base = postJob(upstream, itemIds(6), { concurrency: 1, signal: stop.signal });
    await runJob({
      ...base,
      process: async (id, c) => {
        await base.process(id, c);
        if (id === 'item-2') stop.abort();
      },
    });
    const summary = await runJob(postJob(upstream, ['x', 'y', 'z', 'w']));
    expect(summary.state).toBe('failed');
    expect(summary.error?.message).toMatch(/source changed since the checkpoint.*`ordered: false`/);
  });
});

describe('runJob: live sources and leftovers', () => {
  it('a `source` skips by id by default: an item inserted at the front between runs is processed, none fails', async () => {
    const file = join(dir, 'live.json');
    const stop = new AbortController();
    const done: string[] = [];
    const job = (list: string[], signal?: AbortSignal): JobOptions<string> => ({
      name: 'live',
      source: () => list,
      id: (x) => x,
      process: async (x) => {
        done.push(x);
        if (x === 'b') stop.abort();
      },
      checkpoint: { file },
      output: false,
      concurrency: 1,
      ...(signal && { signal }),
    });
    expect((await runJob(job(['a', 'b', 'c', 'd'], stop.signal))).state).toBe('aborted');
    const second = await runJob(job(['x', 'a', 'b', 'c', 'd']));
    expect(second).toMatchObject({ state: 'completed', skipped: 2, processed: 3 });
    expect(done).toEqual(['a', 'b', 'x', 'c', 'd']);
  });

  it('removes the temporary files a killed run left beside the checkpoint (and only those)', async () => {
    const file = join(dir, 'cp.json');
    const stale = `${file}.0123456789ab.tmp`;
    const unrelated = join(dir, 'other.json.0123456789ab.tmp');
    writeFileSync(stale, '{"half":');
    writeFileSync(unrelated, 'x');
    const summary = await runJob({
      name: 'tmp',
      items: ['a'],
      id: (x) => x,
      process: async () => {},
      checkpoint: { file },
      output: false,
    });
    expect(summary.state).toBe('completed');
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(unrelated)).toBe(true);
  });
});

describe('runJob: failures', () => {
  it('dead letters are kept across passes until `clearDeadLetters`; an item that later succeeds leaves the list', async () => {
    const file = join(dir, 'dl.json');
    const bad = new Set(['b', 'c']);
    const job = (ids: string[], extra: Partial<JobOptions<string>> = {}): JobOptions<string> => ({
      name: 'dl',
      items: ids,
      id: (x) => x,
      process: async (x) => {
        if (bad.has(x)) throw Object.assign(new Error(`bad ${x}`), { permanent: true });
      },
      checkpoint: { file },
      output: false,
      concurrency: 1,
      ...extra,
    });
    const stored = () => parseCheckpoint(readFileSync(file, 'utf8'), file).deadLetters.map((d) => d.id);
    expect((await runJob(job(['a', 'b', 'c']))).deadLetters.map((d) => d.id)).toEqual(['b', 'c']);
    const next = await runJob(job(['d']));
    expect(next).toMatchObject({ state: 'completed', failed: 0 });
    expect(next.deadLetters.map((d) => d.id)).toEqual(['b', 'c']);
    expect(stored()).toEqual(['b', 'c']);
    bad.delete('b');
    const retried = await runJob(job(['b', 'c']));
    expect(retried).toMatchObject({ processed: 1, failed: 1 });
    expect(retried.deadLetters).toEqual([expect.objectContaining({ id: 'c', error: 'bad c' })]);
    expect(stored()).toEqual(['c']);
    const cleared = await runJob(job(['e'], { clearDeadLetters: true }));
    expect(cleared.deadLetters).toEqual([]);
    expect(stored()).toEqual([]);
  });

  it('dead-letters permanent 4xx items and completes; retries temporary ones', async () => {
    upstream = await startUpstream({
      status: (id, hit) =>
        id === 'item-3' || id === 'item-7' ? 422 : id === 'item-5' && hit === 1 ? 503 : 200,
    });
    const summary = await runJob(postJob(upstream, itemIds(10), { concurrency: 2 }));
    expect(summary).toMatchObject({ state: 'completed', processed: 8, failed: 2 });
    expect(summary.retries).toBeGreaterThanOrEqual(1);
    expect(summary.deadLetters.map((d) => d.id).sort()).toEqual(['item-3', 'item-7']);
    expect(summary.deadLetters[0]).toMatchObject({ attempts: 1, error: expect.stringContaining('422') });
    expect(upstream.hits.get('item-3')).toBe(1);
    const saved = parseCheckpoint(readFileSync(join(dir, 'checkpoint.json'), 'utf8'), 'c');
    expect(saved.deadLetters).toHaveLength(2);
  });

  it('an item that keeps failing temporarily is dead-lettered after `retry.attempts`', async () => {
    upstream = await startUpstream({ status: (id) => (id === 'item-1' ? 503 : 200) });
    const summary = await runJob(postJob(upstream, itemIds(3)));
    expect(summary.deadLetters).toEqual([
      expect.objectContaining({ id: 'item-1', attempts: 3, error: expect.stringContaining('503') }),
    ]);
    expect(summary).toMatchObject({ state: 'completed', processed: 2, failed: 1, retries: 2 });
  });

  it('stopOnError: stops at the first permanent failure, dead-lettered; a rerun skips it', async () => {
    upstream = await startUpstream({ status: (id) => (id === 'item-2' ? 404 : 200) });
    const summary = await runJob(postJob(upstream, itemIds(10), { stopOnError: true, concurrency: 1 }));
    expect(summary.state).toBe('failed');
    expect(summary.error?.message).toMatch(/item-2 failed \(stopOnError\)/);
    expect(summary).toMatchObject({ processed: 2, failed: 1 });
    expect(upstream.hits.has('item-3')).toBe(false);
    const rerun = await runJob(postJob(upstream, itemIds(10), { concurrency: 1 }));
    expect(rerun).toMatchObject({ state: 'completed', skipped: 3, processed: 7 });
    expect(upstream.hits.get('item-2')).toBe(1);
  });

  it('`permanent: true` errors are not retried', async () => {
    let calls = 0;
    const summary = await runJob({
      name: 'p',
      items: ['a'],
      id: (x) => x,
      process: async () => {
        calls++;
        throw Object.assign(new Error('bad record'), { permanent: true });
      },
      checkpoint: false,
      output: false,
    });
    expect(calls).toBe(1);
    expect(summary.deadLetters[0]).toMatchObject({ id: 'a', error: 'bad record', attempts: 1 });
  });
});

describe('runJob: incremental cursor', () => {
  it('stores the cursor of a completed run and passes it to `source` next time', async () => {
    const file = join(dir, 'sync.json');
    const records = [
      { id: 'a', updatedAt: 1 },
      { id: 'b', updatedAt: 2 },
      { id: 'c', updatedAt: 3 },
    ];
    const seen: unknown[] = [];
    const options = (list: typeof records): JobOptions<(typeof records)[number]> => ({
      name: 'sync',
      source: ({ cursor }) => {
        seen.push(cursor);
        return list.filter((r) => r.updatedAt > ((cursor as number | undefined) ?? 0));
      },
      id: (r) => r.id,
      process: async (r, { setCursor }) => setCursor(r.updatedAt),
      checkpoint: { file },
      output: false,
      concurrency: 1,
    });
    expect(await runJob(options(records))).toMatchObject({ state: 'completed', processed: 3, cursor: 3 });
    const next = await runJob(options([...records, { id: 'd', updatedAt: 4 }]));
    expect(next).toMatchObject({ processed: 1, cursor: 4 });
    expect(seen).toEqual([undefined, 3]);
    const hooked = await runJob({ ...options(records), onDone: () => 'from-hook' });
    expect(hooked.cursor).toBe('from-hook');
    expect(parseCheckpoint(readFileSync(file, 'utf8'), file).cursor).toBe('from-hook');
  });

  it('an aborted run does not move the cursor', async () => {
    const file = join(dir, 'sync.json');
    const stop = new AbortController();
    const summary = await runJob({
      name: 'sync',
      source: () => [1, 2, 3],
      id: String,
      process: async (n, { setCursor }) => {
        setCursor(n);
        if (n === 2) stop.abort();
      },
      checkpoint: { file },
      output: false,
      concurrency: 1,
      signal: stop.signal,
    });
    expect(summary.state).toBe('aborted');
    expect(parseCheckpoint(readFileSync(file, 'utf8'), file).cursor).toBeUndefined();
  });
});

describe('runJob: configuration errors name the path', () => {
  const valid: JobOptions<string> = {
    name: 'j',
    items: ['a'],
    id: (x) => x,
    process: async () => {},
    checkpoint: false,
    output: false,
  };
  it.each([
    [{ concurrency: 0 }, 'concurrency', 'Expected `concurrency` to be an integer ≥ 1, got `0` (number)'],
    [{ batchSize: 1.5 }, 'batchSize', 'Expected `batchSize` to be an integer ≥ 1, got `1.5` (number)'],
    [{ name: 'a b' }, 'name', 'Expected `name` to be a name of letters'],
    [
      { checkpoint: { redis: 'redis://x' } },
      'checkpoint.key',
      'Expected `checkpoint.key` to be a non-empty string',
    ],
    [{ checkpoint: { file: '' } }, 'checkpoint.file', 'Expected `checkpoint.file` to be a non-empty string'],
    [
      { checkpoint: { redis: 'localhost', key: 'k' } },
      'checkpoint.redis',
      'Expected `checkpoint.redis` to be a URL',
    ],
    [{ lock: { file: 'l', ttl: 'soon' } }, 'lock.ttl', 'Expected `lock.ttl` to be a duration'],
    [{ lock: { file: 'l', tll: '1s' } }, 'tll', 'Unknown option `tll` in `lock`'],
    [{ retry: { attempts: 0 } }, 'retry.attempts', 'Expected `retry.attempts` to be an integer ≥ 1'],
    [{ retry: { backoff: { base: '-1s' } } }, 'retry.backoff.base', 'Expected `retry.backoff.base` to be'],
    [{ progressInterval: 0 }, 'progressInterval', 'Expected `progressInterval` to be a positive'],
    [{ id: undefined }, 'id', 'Expected `id` to be a function (item) => string'],
    [{ source: () => [] }, 'items', 'Give exactly one of `items` and `source`'],
    [{ concurency: 2 }, 'concurency', 'Unknown option `concurency` in runJob() options'],
  ])('%j → %s', async (patch, path, message) => {
    const error = await runJob({ ...valid, ...patch } as JobOptions<string>).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe(path);
    expect((error as ConfigError).message).toContain(message);
  });

  it('an id that is not a string fails the job naming `id(item)`', async () => {
    const summary = await runJob({ ...valid, id: () => 42 as unknown as string });
    expect(summary.state).toBe('failed');
    expect(summary.error).toBeInstanceOf(ConfigError);
    expect(summary.error?.message).toBe(
      'Expected `id(item)` to return a non-empty string, got `42` (number)',
    );
  });
});
