import { readFile } from 'node:fs/promises';
import { StoreError } from '../core/errors.js';
import { removeStaleTemporaries, writeFileAtomic } from '../internal/atomic-file.js';
import { type RedisSend, runScript } from '../store/redis/client.js';
import { scriptOf } from '../store/redis/scripts.js';
import type { RedisLink } from './redis.js';
import type { DeadLetter } from './types.js';

/**
 * What a checkpoint holds (JSON, format version 1).
 *
 * Confirmed items are `position` (with an ordered source: every item before that index is done) plus `done`,
 * the ids done past it (with concurrency > 1 items finish out of order; the position moves up as the gaps
 * close). With an unordered source the position stays 0 and `done` holds every id. Dead-lettered items count
 * as done. `cursor` is the one stored by the last completed run.
 *
 * @example
 * ```ts
 * const saved: CheckpointData = parseCheckpoint(readFileSync('sync.checkpoint.json', 'utf8'), 'sync.checkpoint.json');
 * console.log(saved.state, saved.counts.processed, saved.deadLetters.length);
 * ```
 */
export interface CheckpointData {
  readonly version: 1;
  readonly name: string;
  /** `running`: a run is under way or was interrupted (the next one resumes); `completed`: it finished. */
  readonly state: 'running' | 'completed';
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
  readonly position: number;
  /** The id of the item at `position − 1`, to check that an ordered source did not change. */
  readonly lastId?: string;
  readonly done: readonly string[];
  readonly deadLetters: readonly DeadLetter[];
  readonly cursor?: unknown;
  /**
   * `running` only: the cursor set so far in this pass (see `JobOptions.mergeCursor`), kept so that a crash
   * does not lose it. It becomes `cursor` when the pass completes, never earlier: items before it may not be
   * done yet (concurrency, or an interruption), and the source is still asked from `cursor` so they are met.
   */
  readonly pendingCursor?: unknown;
  /** Totals over the run, interrupted attempts included. */
  readonly counts: { readonly processed: number; readonly failed: number; readonly retries: number };
}

/**
 * Fencing of checkpoint writes: a run that lost the job lock must not write the checkpoint any more.
 *
 * @example
 * ```ts
 * await store.save(data, { check: async () => { if (!(await lock.owns())) throw lost(); }, lost });
 * ```
 */
export interface CheckpointFence {
  /** Rejects (with the `lost` error) when this run does not hold the job lock any more. */
  check(): Promise<void>;
  /** The error of a write refused because the lock is lost. */
  lost(): Error;
  /** A Redis lock: when it is on the checkpoint's Redis, the check and the `SET` are one script. */
  readonly redis?: { readonly send: RedisSend; readonly key: string; readonly value: string };
}

/** Where a checkpoint is read from and written to. */
export interface CheckpointStore {
  /** For messages: the file path or the Redis key. */
  readonly where: string;
  load(): Promise<CheckpointData | undefined>;
  /** Writes `data`, unless `fence` says the lock is lost (then rejects, the stored checkpoint unchanged). */
  save(data: CheckpointData, fence?: CheckpointFence): Promise<void>;
  /** Clears what a killed writer left (temporary files); called once the lock is held. */
  prepare(): Promise<void>;
  close(): void;
}

/** A fenced save: `SET` the checkpoint only if the lock key holds our value. KEYS: checkpoint, lock. ARGV: data, value. */
export const FENCED_SET_SOURCE = `if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0`;

/** The scripts of the Redis checkpoint, with their SHA1 for EVALSHA. */
export const CHECKPOINT_SCRIPTS = { fencedSet: scriptOf(FENCED_SET_SOURCE) } as const;

const LOCK_LOST = 'ERR_SLUICE_JOB_LOCK_LOST';

const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Parses a checkpoint; a malformed one is a `StoreError` naming where it is and what is wrong.
 *
 * @example
 * ```ts
 * const { deadLetters } = parseCheckpoint(await readFile(path, 'utf8'), path);
 * ```
 */
export function parseCheckpoint(text: string, where: string): CheckpointData {
  const bad = (what: string): never => {
    throw new StoreError('ERR_SLUICE_JOB_CHECKPOINT', `Checkpoint ${where} is not valid: ${what}`);
  };
  let data: Partial<CheckpointData>;
  try {
    data = JSON.parse(text) as Partial<CheckpointData>;
  } catch (error) {
    return bad(`not JSON (${(error as Error).message})`);
  }
  if (typeof data !== 'object' || data === null) return bad('not an object');
  if (data.version !== 1) bad(`expected \`version\` 1, got ${JSON.stringify(data.version)}`);
  if (data.state !== 'running' && data.state !== 'completed') bad('`state` is not "running" or "completed"');
  if (!isCount(data.position)) bad('`position` is not an integer ≥ 0');
  if (!Array.isArray(data.done) || !data.done.every((id) => typeof id === 'string'))
    bad('`done` is not a list of ids');
  if (!Array.isArray(data.deadLetters)) bad('`deadLetters` is not a list');
  const counts = data.counts;
  if (!counts || !isCount(counts.processed) || !isCount(counts.failed) || !isCount(counts.retries))
    bad('`counts` is not { processed, failed, retries }');
  return data as CheckpointData;
}

/**
 * A checkpoint in a JSON file, replaced atomically on every save (see `writeFileAtomic`).
 *
 * @example
 * ```ts
 * const store = createFileCheckpoint('sync-orders.checkpoint.json');
 * ```
 */
export function createFileCheckpoint(path: string): CheckpointStore {
  return {
    where: path,
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new StoreError('ERR_SLUICE_JOB_CHECKPOINT', `Cannot read the checkpoint ${path}`, {
          cause: error,
        });
      }
      return parseCheckpoint(text, path);
    },
    async save(data, fence) {
      try {
        await writeFileAtomic(path, JSON.stringify(data), fence?.check);
      } catch (error) {
        if ((error as { code?: unknown }).code === LOCK_LOST) throw error;
        throw new StoreError(
          'ERR_SLUICE_JOB_CHECKPOINT',
          `Cannot write the checkpoint ${path}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
    prepare: () => removeStaleTemporaries(path),
    close: () => {},
  };
}

/**
 * A checkpoint in a Redis string key (one `SET` per save: atomic).
 *
 * @example
 * ```ts
 * const store = createRedisCheckpoint(await openRedis('redis://127.0.0.1:6379', 'checkpoint.redis'), 'jobs:sync');
 * ```
 */
export function createRedisCheckpoint(link: RedisLink, key: string): CheckpointStore {
  const where = `Redis key ${key}`;
  const call = async (args: string[]) => {
    try {
      return await link.send(args);
    } catch (error) {
      throw new StoreError(
        'ERR_SLUICE_JOB_CHECKPOINT',
        `Checkpoint ${where}: ${args[0]} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  };
  return {
    where,
    async load() {
      const text = await call(['GET', key]);
      return text === null || text === undefined ? undefined : parseCheckpoint(String(text), where);
    },
    async save(data, fence) {
      const text = JSON.stringify(data);
      if (fence?.redis?.send === link.send) {
        const { fencedSet } = CHECKPOINT_SCRIPTS;
        const args = ['EVALSHA', fencedSet.sha, '2', key, fence.redis.key, text, fence.redis.value];
        let reply: unknown;
        try {
          reply = await runScript(link.send, fencedSet, args);
        } catch (error) {
          throw new StoreError(
            'ERR_SLUICE_JOB_CHECKPOINT',
            `Checkpoint ${where}: the fenced SET failed: ${(error as Error).message}`,
            { cause: error },
          );
        }
        if (Number(reply) !== 1) throw fence.lost();
        return;
      }
      await fence?.check();
      await call(['SET', key, text]);
    },
    prepare: async () => {},
    close: () => link.close(),
  };
}

/**
 * A checkpoint kept in memory only (`checkpoint: false`): nothing survives the process.
 *
 * @example
 * ```ts
 * const store = createMemoryCheckpoint();
 * ```
 */
export function createMemoryCheckpoint(): CheckpointStore {
  let saved: CheckpointData | undefined;
  return {
    where: 'memory',
    load: async () => saved,
    save: async (data, fence) => {
      await fence?.check();
      saved = data;
    },
    prepare: async () => {},
    close: () => {},
  };
}
