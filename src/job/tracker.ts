import { StoreError } from '../core/errors.js';
import type { CheckpointData } from './checkpoint.js';

/**
 * Which items are done, in the form the checkpoint stores (see {@link CheckpointData}): with an ordered
 * source, a position below which every item is done plus the ids done past it; otherwise every id. Items
 * finish out of order (concurrency > 1): the position moves up as the gaps before it close.
 *
 * `resumeFrom` is the checkpoint of an interrupted run: its items are skipped, and its ids past the position
 * stay in every checkpoint written until they are met again (so a second interruption loses none of them).
 *
 * @example
 * ```ts
 * const tracker = createTracker(undefined, true);
 * tracker.finish(1, 'b'); // position 0, done ['b']
 * tracker.finish(0, 'a'); // position 2, done []
 * ```
 */
export function createTracker(resumeFrom: CheckpointData | undefined, ordered: boolean) {
  const savedPosition = ordered ? (resumeFrom?.position ?? 0) : 0;
  /** Ids done by the interrupted run past its position, not met yet in this one. */
  const earlier = new Set(resumeFrom?.done ?? []);
  /** Ordered: index → id of items done past `position`. Unordered: every id done, under index -1. */
  const finished = new Map<number, string>();
  const all = new Set<string>();
  /** Ids handed out or skipped in this run: a source that yields an id twice gets it processed once. */
  const seen = new Set<string>();
  let position = savedPosition;
  let lastId = resumeFrom?.lastId;

  return {
    /**
     * Whether the item at `index` is done already (by an earlier run, or earlier in this run); such an item
     * counts as finished at once. Throws when an ordered source changed below the saved position.
     */
    skip(index: number, id: string): boolean {
      if (index === savedPosition - 1 && resumeFrom?.lastId !== undefined && id !== resumeFrom.lastId) {
        throw new StoreError(
          'ERR_SLUICE_JOB_ORDER',
          `The source changed since the checkpoint: item ${savedPosition - 1} is ${id}, it was ` +
            `${resumeFrom.lastId}; an unordered source needs \`ordered: false\``,
        );
      }
      if (index < savedPosition) {
        seen.add(id); // a duplicate of it past the position is done too, as in an uninterrupted run
        return true;
      }
      const done = earlier.delete(id) || seen.has(id);
      seen.add(id);
      if (done) this.finish(index, id);
      return done;
    },
    /** Records an item done (processed or dead-lettered). */
    finish(index: number, id: string): void {
      if (!ordered) {
        all.add(id);
        return;
      }
      finished.set(index, id);
      while (finished.has(position)) {
        lastId = finished.get(position);
        finished.delete(position);
        position++;
      }
    },
    /** The checkpoint fields. */
    snapshot(): Pick<CheckpointData, 'position' | 'done' | 'lastId'> {
      const done = ordered ? [...finished.values(), ...earlier] : [...all, ...earlier];
      return { position, done, ...(lastId !== undefined && { lastId }) };
    },
  };
}
