import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { StoreError } from '../core/errors.js';

/**
 * How a writer waits for the lock file and when it treats one as abandoned.
 *
 * @example
 * ```ts
 * const lock: FileLockOptions = { timeoutMs: 5000, staleMs: 10_000 };
 * ```
 */
export interface FileLockOptions {
  /** How long to wait for the lock before failing with `ERR_SLUICE_KEYS_LOCK`. */
  readonly timeoutMs: number;
  /** A lock file older than this is taken to be left by a crashed writer, and removed. */
  readonly staleMs: number;
}

/** Thrown inside the critical section when the lock was taken from us; the section is run again. */
class LockLost extends Error {}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const codeOf = (error: unknown): unknown => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * Runs `section` holding the lock file `lockPath`, created with `O_CREAT | O_EXCL` (`wx`) so that one
 * writer at a time, across processes, holds it. The file holds the holder's pid and a random token.
 *
 * `section` gets `assertHeld`, to call just before it commits (renames its temporary file into place): if the
 * lock was broken as stale meanwhile, `assertHeld` throws, nothing is committed, and the section runs again
 * under a new lock. So a writer never commits without holding the lock, except in the instant between
 * `assertHeld` and its rename, and only if it held the lock longer than `staleMs` (sections take milliseconds).
 *
 * @example
 * ```ts
 * await withFileLock('keys.json.lock', { timeoutMs: 5000, staleMs: 10_000 }, async (assertHeld) => {
 *   await writeFile('keys.json.tmp', text);
 *   await assertHeld();
 *   await rename('keys.json.tmp', 'keys.json');
 * });
 * ```
 */
export async function withFileLock<T>(
  lockPath: string,
  options: FileLockOptions,
  section: (assertHeld: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const token = await acquire(lockPath, options, deadline);
    const assertHeld = async () => {
      if (!(await holds(lockPath, token))) throw new LockLost();
    };
    try {
      return await section(assertHeld);
    } catch (error) {
      if (!(error instanceof LockLost) || Date.now() > deadline) throw error;
    } finally {
      await release(lockPath, token);
    }
  }
}

async function acquire(lockPath: string, options: FileLockOptions, deadline: number): Promise<string> {
  const token = randomBytes(12).toString('hex');
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid} ${token}\n`);
      } finally {
        await handle.close();
      }
      return token;
    } catch (error) {
      if (codeOf(error) !== 'EEXIST') throw lockError(lockPath, error);
    }
    await breakIfStale(lockPath, options.staleMs);
    if (Date.now() > deadline) {
      throw new StoreError(
        'ERR_SLUICE_KEYS_LOCK',
        `Could not take the lock ${lockPath} within ${options.timeoutMs} ms (\`lockTimeoutMs\`): ` +
          'another process is writing the key registry; if none is, delete the lock file',
      );
    }
    // Jittered backoff, 1 ms up to about 40 ms, so contenders do not retry in lockstep.
    await sleep(Math.min(2 ** attempt, 32) * (0.5 + Math.random()));
  }
}

/** Whether the lock file still carries our token. */
async function holds(lockPath: string, token: string): Promise<boolean> {
  try {
    return (await readFile(lockPath, 'utf8')).includes(token);
  } catch {
    return false;
  }
}

async function release(lockPath: string, token: string): Promise<void> {
  if (await holds(lockPath, token)) await unlink(lockPath).catch(() => {});
}

/**
 * Removes a lock left by a crashed writer. The file is first renamed aside (only one breaker can win the
 * rename); if what was moved turns out to be fresh (taken between our stat and our rename), it is linked
 * back, which fails harmlessly if someone has taken the lock since: its holder's `assertHeld` then fails.
 */
async function breakIfStale(lockPath: string, staleMs: number): Promise<void> {
  const info = await stat(lockPath).catch(() => undefined);
  if (info === undefined || Date.now() - info.mtimeMs < staleMs) return;
  const aside = `${lockPath}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  const moved = await stat(aside).catch(() => undefined);
  if (moved !== undefined && Date.now() - moved.mtimeMs < staleMs)
    await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
}

function lockError(lockPath: string, error: unknown): StoreError {
  return new StoreError(
    'ERR_SLUICE_KEYS_FILE',
    `Key registry: cannot create the lock file ${lockPath}: ${(error as Error).message}`,
    { cause: error },
  );
}
