import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';
import { SluiceError, StoreError } from '../core/errors.js';
import { syncDirectory, temporaryOf } from '../internal/atomic-file.js';
import { type InsertResult, identityOf, type KeyBackend } from './backend.js';
import { emptyKeysFile, type KeysFile, parseKeysFile, serializeKeysFile } from './file-format.js';
import { type FileLockOptions, withFileLock } from './file-lock.js';
import type { KeyHashAlgorithm } from './secret.js';
import type { KeyIdentity } from './types.js';

/**
 * Options of {@link createFileBackend}, already checked by `createKeyRegistry`.
 *
 * @example
 * ```ts
 * const options: FileBackendOptions = {
 *   path: 'keys.json', algorithm: 'sha256', clock: Date.now, reloadIntervalMs: 1000,
 *   lock: { timeoutMs: 5000, staleMs: 10_000 },
 * };
 * ```
 */
export interface FileBackendOptions {
  readonly path: string;
  readonly algorithm: KeyHashAlgorithm;
  readonly clock: Clock;
  /** How often, at most, `lookup` checks whether the file changed. */
  readonly reloadIntervalMs: number;
  readonly lock: FileLockOptions;
}

/** A parsed file, its active keys by hash, and the identity of the version it was read from. */
interface Snapshot {
  readonly file: KeysFile;
  readonly byHash: ReadonlyMap<string, KeyIdentity>;
  /** Inode, size and mtime (ns): every write renames a new file into place, so any change shows here. */
  readonly version: string;
}

const versionOf = (info: BigIntStats): string => `${info.ino}:${info.size}:${info.mtimeNs}`;

/**
 * The key registry in one JSON file (format: {@link KeysFile}).
 *
 * Guarantee: every change (create, revoke) is a read-modify-write made under a lock file (`<file>.lock`,
 * created with `O_EXCL`), from a fresh read of the file, and committed by writing a temporary file in the same
 * directory, fsyncing it and renaming it over the file. So any number of registries, in any number of
 * processes on one host (or on a filesystem with atomic `O_EXCL` and `rename`), never lose a key and never
 * pass `maxActivePerAccount`, and readers only ever see a whole file, the old one or the new one.
 *
 * Reads: `list` reads the file when it changed; `lookup` (the gateway's hot path) answers from memory and
 * checks the file's inode, size and mtime at most every `reloadIntervalMs`, so a key made or revoked by
 * another process is seen within that time. Changes made through this registry are seen at once.
 *
 * @example
 * ```ts
 * const backend = createFileBackend(options);
 * await backend.insert(record, 6); // { ok: true }
 * ```
 */
export function createFileBackend(options: FileBackendOptions): KeyBackend {
  const { path, algorithm, clock, reloadIntervalMs } = options;
  const lockPath = `${path}.lock`;
  let snapshot: Snapshot | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  let loading: Promise<Snapshot> | undefined;
  /** The error of the last check, when it failed. */
  let failure: unknown;
  /** This registry's writes, one after the other (other registries are kept out by the lock file). */
  let writes: Promise<unknown> = Promise.resolve();

  const adopt = (next: Snapshot): Snapshot => {
    snapshot = next;
    checkedAt = clock();
    return next;
  };

  /** Reads the file unless it is the version in memory; `force` always reads (used under the lock). */
  async function read(force: boolean): Promise<Snapshot> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return build(emptyKeysFile(algorithm), 'none');
      throw fileError(`cannot read ${path}`, error);
    }
    try {
      const version = versionOf(await handle.stat({ bigint: true }));
      if (!force && snapshot?.version === version) return snapshot;
      return build(parseKeysFile(await handle.readFile('utf8'), path, algorithm), version);
    } catch (error) {
      throw error instanceof SluiceError ? error : fileError(`cannot read ${path}`, error);
    } finally {
      await handle.close();
    }
  }

  /**
   * The snapshot in memory, checked against the file when older than `maxAgeMs`. A check that fails (the
   * file is unreadable or malformed) fails its caller; until the next check, lookups keep the last good
   * contents, or fail with the same error if there are none, without touching the disk again.
   */
  function current(maxAgeMs: number): Snapshot | Promise<Snapshot> {
    const now = clock();
    if (now >= checkedAt && now - checkedAt < maxAgeMs) {
      if (snapshot !== undefined) return snapshot;
      if (failure !== undefined) return Promise.reject(failure);
    }
    loading ??= read(false)
      .then(
        (next) => {
          failure = undefined;
          return adopt(next);
        },
        (error: unknown) => {
          failure = error;
          checkedAt = clock();
          throw error;
        },
      )
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  /** Runs `change` on a fresh read under the lock; a returned file is written, then the result returned. */
  function mutate<T>(
    change: (file: KeysFile) => { readonly next?: KeysFile; readonly result: T },
  ): Promise<T> {
    const run = async () => {
      await mkdir(dirname(path), { recursive: true }).catch(() => {});
      return withFileLock(lockPath, options.lock, async (assertHeld) => {
        const fresh = await read(true);
        const { next, result } = change(fresh.file);
        adopt(next === undefined ? fresh : build(next, await write(next, assertHeld)));
        return result;
      });
    };
    const done = writes.then(run, run);
    writes = done.catch(() => {});
    return done;
  }

  /** Writes `file` to a temporary file, fsyncs it and renames it over `path`; returns the new version. */
  async function write(file: KeysFile, assertHeld: () => Promise<void>): Promise<string> {
    const temporary = temporaryOf(path);
    try {
      const version = await fsStep(`cannot write ${temporary}`, () =>
        writeSynced(temporary, serializeKeysFile(file)),
      );
      await assertHeld();
      await fsStep(`cannot replace ${path}`, () => rename(temporary, path));
      await syncDirectory(dirname(path));
      return version;
    } finally {
      // Gone after a successful rename; otherwise it must not be left behind.
      await unlink(temporary).catch(() => {});
    }
  }

  return {
    insert: (record, max) =>
      mutate<InsertResult>((file) => {
        let active = 0;
        for (const key of file.keys) {
          if (key.id === record.id || key.hash === record.hash) {
            throw new StoreError('ERR_SLUICE_KEYS_FILE', `Key registry: id or hash of ${record.id} is taken`);
          }
          if (key.account === record.account && key.revokedAt === undefined) active++;
        }
        if (active >= max) return { result: { ok: false, active } };
        return { next: { ...file, keys: [...file.keys, record] }, result: { ok: true } };
      }),
    revoke: (account, id, atMs) =>
      mutate((file) => {
        const i = file.keys.findIndex(
          (k) => k.id === id && k.account === account && k.revokedAt === undefined,
        );
        if (i < 0) return { result: false };
        const keys = file.keys.slice();
        keys[i] = Object.freeze({ ...keys[i]!, revokedAt: atMs });
        return { next: { ...file, keys }, result: true };
      }),
    async list(account) {
      const { file } = await current(0);
      return file.keys.filter((key) => key.account === account);
    },
    async lookup(hash) {
      const found = current(reloadIntervalMs);
      return (found instanceof Promise ? await found : found).byHash.get(hash);
    },
  };
}

function build(file: KeysFile, version: string): Snapshot {
  const byHash = new Map<string, KeyIdentity>();
  for (const key of file.keys) {
    if (key.revokedAt === undefined) byHash.set(key.hash, identityOf(key));
  }
  return { file, byHash, version };
}

/** Creates `temporary` (mode 0600), writes `text`, fsyncs it; returns its version. */
async function writeSynced(temporary: string, text: string): Promise<string> {
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
    return versionOf(await handle.stat({ bigint: true }));
  } finally {
    await handle.close();
  }
}

/** Runs a filesystem step; its failure becomes a `StoreError` saying what could not be done. */
async function fsStep<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw fileError(what, error);
  }
}

function fileError(what: string, error: unknown): StoreError {
  return new StoreError('ERR_SLUICE_KEYS_FILE', `Key registry: ${what}: ${(error as Error).message}`, {
    cause: error,
  });
}
