import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type JobOptions, parseCheckpoint, runJob } from '../../src/job/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-job-cursor-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stored = (file: string) => parseCheckpoint(readFileSync(file, 'utf8'), file);

describe('runJob: duplicates across a resume (ordered)', () => {
  it('an id met below the saved position is not processed again further on, as in an uninterrupted run', async () => {
    const file = join(dir, 'dup.json');
    const calls: string[] = [];
    const stop = new AbortController();
    const base: JobOptions<string> = {
      name: 'dup',
      items: ['a', 'b', 'c', 'a'],
      id: (x) => x,
      concurrency: 1,
      output: false,
      checkpoint: { file },
      lock: false,
      process: async (x) => {
        calls.push(x);
      },
    };
    await runJob({
      ...base,
      signal: stop.signal,
      process: async (x) => {
        calls.push(x);
        if (calls.length === 2) stop.abort();
      },
    });
    expect((await runJob(base)).state).toBe('completed');
    expect(calls).toEqual(['a', 'b', 'c']);
  });
});

describe('runJob: cursor', () => {
  const numbers = (extra: Partial<JobOptions<number>>): JobOptions<number> => ({
    name: 'sync',
    ...(extra.source === undefined && { items: [1, 2, 3] }),
    id: String,
    process: async () => {},
    checkpoint: { file: join(dir, 'sync.json') },
    output: false,
    ...extra,
  });

  it('mergeCursor keeps the furthest cursor when items finish out of order; by default the last call wins', async () => {
    // With concurrency 3, item 3 finishes first and item 1 last.
    const process: JobOptions<number>['process'] = async (n, { setCursor }) => {
      await sleep((4 - n) * 30);
      setCursor(n);
    };
    expect((await runJob(numbers({ concurrency: 3, process }))).cursor).toBe(1);
    const max = (previous: unknown, next: unknown) =>
      previous === undefined || (next as number) > (previous as number) ? next : previous;
    const summary = await runJob(numbers({ concurrency: 3, process, mergeCursor: max }));
    expect(summary.cursor).toBe(3);
    expect(stored(join(dir, 'sync.json')).cursor).toBe(3);
  });

  it('the pending cursor is kept in the running checkpoint and carried on by the resumed run', async () => {
    const file = join(dir, 'sync.json');
    const stop = new AbortController();
    const asked: unknown[] = [];
    const source: JobOptions<number>['source'] = ({ cursor }) => {
      asked.push(cursor);
      return [1, 2, 3];
    };
    await runJob(
      numbers({
        source,
        concurrency: 1,
        signal: stop.signal,
        process: async (n, { setCursor }) => {
          setCursor(n);
          if (n === 2) stop.abort();
        },
      }),
    );
    expect(stored(file)).toMatchObject({ state: 'running', pendingCursor: 2 });
    expect(stored(file).cursor).toBeUndefined();
    // Item 3 sets no cursor: the one set before the interruption is stored when the pass completes.
    const summary = await runJob(numbers({ source, concurrency: 1 }));
    expect(summary).toMatchObject({ state: 'completed', processed: 1, cursor: 2 });
    expect(asked).toEqual([undefined, undefined]); // not the pending one: the pass was not complete
    expect(stored(file)).toMatchObject({ state: 'completed', cursor: 2 });
    expect(stored(file).pendingCursor).toBeUndefined();
  });

  it('onDone runs after the completed write: not at all when that write fails (lock lost)', async () => {
    const file = join(dir, 'sync.json');
    const other = { pid: 1, host: 'h', startedAtMs: 0, expiresAtMs: Date.now() + 60_000, token: 'other' };
    let hooked = false;
    const summary = await runJob(
      numbers({
        concurrency: 1,
        batchSize: 3,
        // The last batch is confirmed; then another run takes the lock over before the completed write.
        onConfirm: () => writeFileSync(`${file}.lock`, JSON.stringify(other)),
        onDone: () => {
          hooked = true;
          return 'hook';
        },
      }),
    );
    expect(summary.state).toBe('failed');
    expect(summary.error?.message).toMatch(/^Lost the job lock/);
    expect(hooked).toBe(false);
    expect(stored(file).state).toBe('running');
  });

  it('a cursor returned by onDone is written after the completed checkpoint', async () => {
    const file = join(dir, 'sync.json');
    const seen: unknown[] = [];
    const summary = await runJob(
      numbers({
        process: async (n, { setCursor }) => setCursor(n),
        concurrency: 1,
        onDone: (s) => {
          seen.push(stored(file).state, s.cursor);
          return 'hook';
        },
      }),
    );
    expect(seen).toEqual(['completed', 3]);
    expect(summary.cursor).toBe('hook');
    expect(stored(file).cursor).toBe('hook');
  });
});
