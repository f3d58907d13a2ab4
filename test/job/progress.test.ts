import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { monitoringReport } from '../../src/client/client-report.js';
import { createManualClock } from '../../src/core/clock.js';
import { type JobOptions, type JobProgress, progressBar, progressLine, runJob } from '../../src/job/index.js';
import { fitBar } from '../../src/job/progress.js';
import { captureOutput } from './upstream.js';

/** A job over `n` items, each taking `stepMs` on a manual clock. */
function timedJob(
  n: number,
  stepMs: number,
  isTTY: boolean,
  extra: { total?: number; fail?: string; columns?: number; onProgress?: (s: JobProgress) => void } = {},
) {
  const clock = createManualClock(1_000_000);
  const output = captureOutput(isTTY, extra.columns);
  const client = { stats: () => ({ query: { throttles: 2, retries: 1 } }) };
  const items = Array.from({ length: n }, (_, i) => `i${i}`);
  return {
    output,
    run: () =>
      runJob({
        name: 'orders',
        items: extra.total === undefined ? items : new Set(items).values(),
        ...(extra.total !== undefined && { total: extra.total }),
        id: (x) => x,
        process: async (x) => {
          clock.advance(stepMs);
          if (x === extra.fail) throw Object.assign(new Error('rejected'), { permanent: true });
        },
        concurrency: 1,
        checkpoint: false,
        output,
        clock: clock.now,
        client,
        ...(extra.onProgress !== undefined && { onProgress: extra.onProgress }),
      }),
  };
}

describe('progress output', () => {
  it('on a TTY: a bar redrawn in place with done/total, rate, ETA, throttles, retries and dead letters', async () => {
    const { output, run } = timedJob(20, 50, true, { fail: 'i3', columns: 120 });
    const summary = await run();
    const text = output.text();
    const frames = text
      .split('\r\x1b[2K')
      .slice(1)
      .map((f) => f.split('\n')[0]);
    // 20 items × 50 ms = 1 s: redrawn every 100 ms at most, plus the final frame.
    expect(frames.length).toBeGreaterThanOrEqual(5);
    expect(frames.length).toBeLessThanOrEqual(12);
    expect(frames[0]).toMatch(
      /^orders \[█+░+\] \d+\/20 \d+% 20\.0\/s ETA \d+s {2}throttles 2 {2}retries 1 {2}dead [01]$/,
    );
    expect(frames.at(-1)).toMatch(/dead 1$/);
    expect(frames.at(-1)).toContain('orders [████████████████████] 20/20 100% 20.0/s ETA 0s');
    expect(text).not.toMatch(/\n.*\r/); // one line, redrawn
    expect(text.trimEnd().split('\n').at(-2)).toMatch(
      /^orders completed: 19 processed, 0 skipped \(done before\), 1 dead-lettered, 0 retries in 1\.0s \(19\.0 items\/s\)$/,
    );
    expect(text).toContain('  dead letter i3 after 1 attempt(s): rejected\n');
    expect(summary).toMatchObject({ durationMs: 1000, itemsPerSecond: 19 });
  });

  it.each([
    [40, 39, /^orders \d.*…$/],
    [undefined, 79, /^orders \[█*░*\] .* {2}dead \d+$/],
  ])(
    'on a TTY %s columns wide: every frame fits in %i characters (the bar shrinks or goes before the counts are cut)',
    async (columns, max, first) => {
      const { output, run } = timedJob(20, 50, true, { total: 100_000, ...(columns && { columns }) });
      await run();
      const frames = output
        .text()
        .split('\r\x1b[2K')
        .slice(1)
        .map((f) => f.split('\n')[0]!);
      expect(frames.length).toBeGreaterThan(1);
      for (const frame of frames) expect([...frame].length).toBeLessThanOrEqual(max);
      expect(frames[0]).toMatch(first);
      expect([...frames[0]!].length).toBeGreaterThan(max - 5); // the bar took the room left
    },
  );

  it('onProgress: the status at the start, at each tick and at the end; monitoringReport flags it long-running', async () => {
    const statuses: JobProgress[] = [];
    const { run } = timedJob(25, 1000, false, { total: 25, onProgress: (s) => statuses.push(s) });
    await run();
    expect(statuses.map((s) => [s.state, s.processed, s.durationMs])).toEqual([
      ['running', 0, 0],
      ['running', 10, 10_000],
      ['running', 20, 20_000],
      ['completed', 25, 25_000],
    ]);
    expect(statuses[1]).toEqual({
      name: 'orders',
      state: 'running',
      processed: 10,
      skipped: 0,
      failed: 0,
      retries: 0,
      durationMs: 10_000,
      total: 25,
      itemsPerSecond: 1,
    });
    const report = monitoringReport({ integration: 'erp', jobs: [statuses[2]!], longRunningMs: 15_000 });
    expect(report.jobs[0]).toMatchObject({ name: 'orders', state: 'running', longRunning: true });
  });

  it('not a TTY: a plain line every progressInterval (10 s) and a summary', async () => {
    const { output, run } = timedJob(25, 1000, false, { total: 25 });
    await run();
    const lines = output.text().trimEnd().split('\n');
    expect(lines).toEqual([
      'orders: started',
      'orders: 10/25 done (40%), 1.0 items/s, ETA 15s, 2 throttles, 1 retries, 0 dead-lettered',
      'orders: 20/25 done (80%), 1.0 items/s, ETA 5s, 2 throttles, 1 retries, 0 dead-lettered',
      'orders: 25/25 done (100%), 1.0 items/s, ETA 0s, 2 throttles, 1 retries, 0 dead-lettered',
      'orders completed: 25 processed, 0 skipped (done before), 0 dead-lettered, 0 retries in 25.0s (1.0 items/s)',
    ]);
  });

  it('not a TTY, resuming: the start line says from how many confirmed items and dead letters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-job-progress-'));
    try {
      const output = captureOutput(false);
      const stop = new AbortController();
      const job = (extra: Partial<JobOptions<string>>): JobOptions<string> => ({
        name: 'orders',
        items: ['a', 'b', 'c', 'd'],
        id: (x) => x,
        concurrency: 1,
        checkpoint: { file: join(dir, 'cp.json') },
        retry: { attempts: 1 },
        output,
        process: async (x) => {
          if (x === 'b') stop.abort();
          if (x === 'a') throw Object.assign(new Error('no'), { permanent: true });
        },
        ...extra,
      });
      await runJob(job({ signal: stop.signal }));
      expect(output.text().split('\n')[0]).toBe('orders: started');
      const resumed = captureOutput(false);
      await runJob(job({ output: resumed }));
      expect(resumed.text().split('\n')[0]).toBe('orders: resuming from 2 confirmed, 1 dead letters');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fitBar: a short name keeps the whole line, the bar narrowed; too narrow, the bar goes', () => {
    const counts = { done: 40, total: 100, skipped: 0, failed: 3, retries: 2, throttles: 1, elapsedMs: 4000 };
    const full = progressBar('job', counts);
    const narrower = fitBar('job', counts, [...full].length - 10);
    expect(narrower).toBe(progressBar('job', counts, 10));
    expect(narrower).toMatch(/ {2}dead 3$/);
    expect(fitBar('job', counts, [...full].length - 18)).toBe(progressBar('job', counts, 0));
    expect(progressBar('job', counts, 0)).toMatch(/^job 40\/100 40% /);
  });

  it('without a known total: count and rate, no bar, ETA unknown', () => {
    const counts = {
      done: 5,
      total: undefined,
      skipped: 0,
      failed: 0,
      retries: 0,
      throttles: 0,
      elapsedMs: 2000,
    };
    expect(progressBar('x', counts)).toBe('x 5 2.5/s ETA ?  throttles 0  retries 0  dead 0');
    expect(progressLine('x', counts)).toBe(
      'x: 5, 2.5 items/s, ETA ?, 0 throttles, 0 retries, 0 dead-lettered',
    );
  });
});

describe('progress rate', () => {
  it('uses the recent rate for the rate and ETA when known (a first burst does not make the ETA optimistic)', () => {
    const counts = { done: 60, total: 120, skipped: 0, failed: 0, retries: 0, throttles: 0, elapsedMs: 2000 };
    expect(progressLine('j', counts)).toContain('30.0 items/s, ETA 2s');
    const line = progressLine('j', { ...counts, recentRate: 5 });
    expect(line).toContain('5.0 items/s, ETA 12s');
  });
});
