import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with `text` atomically (the job checkpoint and lock; the key registry writes the same way,
 * with its own error messages): a temporary file in the
 * same directory (created with `O_EXCL`, mode 0600), fsynced, renamed over `path`, then the directory
 * fsynced. A reader (or a process started after a crash, even SIGKILL mid-write) sees the old file or the
 * new one, never a mix. `beforeRename` runs just before the rename (a fencing check: if it throws, `path`
 * is left as it was).
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  beforeRename?: () => Promise<void>,
): Promise<void> {
  const directory = dirname(path);
  await mkdir(directory, { recursive: true });
  const temporary = temporaryOf(path);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await beforeRename?.();
    await rename(temporary, path);
    await syncDirectory(directory);
  } finally {
    // Gone after a successful rename; otherwise it must not be left behind.
    await unlink(temporary).catch(() => {});
  }
}

/**
 * Removes the temporary files of `path` (`<path>.<12 hex>.tmp`) that a process killed between writing and
 * renaming left behind. Call it only while holding the job lock, so that no other writer of `path` runs.
 */
export async function removeStaleTemporaries(path: string): Promise<void> {
  const directory = dirname(path);
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return;
  }
  const stale = names.filter(
    (name) => name.startsWith(prefix) && /^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length)),
  );
  await Promise.all(stale.map((name) => unlink(join(directory, name)).catch(() => {})));
}

/** A fresh temporary file name beside `path`: `<path>.<12 hex>.tmp`. */
export function temporaryOf(path: string): string {
  return `${path}.${randomBytes(6).toString('hex')}.tmp`;
}

/** fsync of the directory, so the rename itself survives a power cut (best effort: not every OS allows it). */
export async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {}
}
