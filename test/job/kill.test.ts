import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseCheckpoint } from '../../src/job/index.js';
import { spawnCli, waitFor, writeJobModule } from './child.js';
import { itemIds, startUpstream, type Upstream } from './upstream.js';

let dir: string;
let upstream: Upstream;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-job-kill-'));
  upstream = await startUpstream({ delayMs: 15 });
});
afterEach(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (file: string) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];

it('a job SIGKILLed mid-run and restarted: every item processed exactly once at the server, none confirmed twice', async () => {
  const count = 200;
  const module = writeJobModule(dir, count);
  const args = [module, '--checkpoint', join(dir, 'checkpoint.json'), '--lock', join(dir, 'job.lock')];
  const env = { UPSTREAM: upstream.url };

  const first = spawnCli(args, env);
  await waitFor(() => upstream.processed.size >= 40);
  first.child.kill('SIGKILL');
  const killed = await first.exited;
  expect(killed.signal).toBe('SIGKILL');
  const confirmedBefore = lines(join(dir, 'confirmed.log'));
  expect(confirmedBefore.length).toBeGreaterThan(0);
  expect(confirmedBefore.length).toBeLessThan(count);
  // The lock of the killed run is still there: the restart takes it over (its pid is gone).
  expect(existsSync(join(dir, 'job.lock'))).toBe(true);
  const callsBefore = lines(join(dir, 'calls.log')).length;

  const second = spawnCli(args, env);
  const done = await second.exited;
  expect(done.output).toContain('kill-test completed');
  expect(done.code).toBe(0);

  const ids = itemIds(count);
  const confirmed = lines(join(dir, 'confirmed.log'));
  const callsAfter = lines(join(dir, 'calls.log')).slice(callsBefore);
  // Nothing confirmed twice: no id logged twice, and the checkpoint's total of confirmed items is exact.
  expect(new Set(confirmed).size).toBe(confirmed.length);
  // Nothing lost: every item is confirmed. `onConfirm` runs after the checkpoint write, so an id whose write
  // finished just before the SIGKILL may be missing from the log: it must then be one the first run
  // processed and the restart skipped.
  const missing = ids.filter((id) => !confirmed.includes(id));
  expect(missing.length).toBeLessThanOrEqual(4);
  for (const id of missing) expect(callsAfter.includes(id), id).toBe(false);
  // Confirmed work is not redone: the restart called process only for items not confirmed before the kill.
  expect(callsAfter.filter((id) => confirmedBefore.includes(id))).toEqual([]);
  // Exactly once at the server: distinct idempotency keys == items, each item's work done once.
  expect(upstream.processed.size).toBe(count);
  for (const id of ids) expect(upstream.work.get(id), id).toBe(1);
  const duplicates = [...upstream.hits.values()].reduce((sum, n) => sum + n - 1, 0);
  console.info(
    `kill test: ${confirmedBefore.length} confirmed before SIGKILL; ${duplicates} raw duplicate hit(s) ` +
      '(in flight at the kill, deduped by Idempotency-Key)',
  );
  expect(duplicates).toBeLessThanOrEqual(4);
  const saved = parseCheckpoint(readFileSync(join(dir, 'checkpoint.json'), 'utf8'), 'checkpoint');
  expect(saved).toMatchObject({ state: 'completed', counts: { processed: count } });
  expect(existsSync(join(dir, 'job.lock'))).toBe(false);
}, 60_000);
