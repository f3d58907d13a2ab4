import { open, stat, unlink } from 'node:fs/promises';
import { StoreError } from '../core/errors.js';

/** A breaker file older than this was left by a contender killed mid-takeover (a takeover takes milliseconds). */
export const BREAKER_STALE_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes `<lock>.break`, created with `O_CREAT | O_EXCL`: whoever holds it may replace or remove the lock file
 * `lock`, so takeovers (and releases) are serialised and never race each other. Resolves with the function
 * that gives it back, or `undefined` when it stayed busy for `waitMs`. A breaker older than
 * {@link BREAKER_STALE_MS} is removed (its owner died mid-takeover); giving one back removes it only if it
 * is still the same file (same inode), so a breaker that was declared stale and replaced is left alone.
 *
 * @example
 * ```ts
 * const giveBack = await takeBreaker('sync.lock', 0);
 * if (giveBack !== undefined) try { ... } finally { await giveBack(); }
 * ```
 */
export async function takeBreaker(lock: string, waitMs: number): Promise<(() => Promise<void>) | undefined> {
  const path = `${lock}.break`;
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      let ino: number;
      try {
        await handle.writeFile(JSON.stringify({ pid: process.pid, atMs: Date.now() }));
        ino = (await handle.stat()).ino;
      } finally {
        await handle.close();
      }
      return async () => {
        const now = await stat(path).catch(() => undefined);
        if (now?.ino === ino) await unlink(path).catch(() => {});
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreError('ERR_SLUICE_JOB_LOCK', `Cannot create the lock breaker ${path}`, {
          cause: error,
        });
      }
    }
    const held = await stat(path).catch(() => undefined);
    if (held === undefined) continue; // given back meanwhile
    if (Date.now() - held.mtimeMs > BREAKER_STALE_MS) {
      // Residual race, accepted: two contenders that both saw the same dead breaker may both unlink, the
      // second removing the first one's new breaker; it needs a takeover stalled for BREAKER_STALE_MS.
      await unlink(path).catch(() => {});
      continue;
    }
    if (Date.now() >= until) return undefined;
    await sleep(10);
  }
}
