/**
 * A queue ordered by priority (higher first), first in first out within a priority. Insertion is a binary
 * search, so a burst of equal-priority tasks costs O(log n) comparisons each.
 *
 * @example
 * ```ts
 * const queue = createPriorityQueue<string>();
 * queue.push('low', 0);
 * queue.push('high', 5);
 * queue.peek(); // "high"
 * ```
 */
export interface PriorityQueue<T> {
  /** Number of items held. */
  readonly size: number;
  /** Adds an item behind every item of the same or higher priority. */
  push(item: T, priority: number): void;
  /** The first item, without removing it. */
  peek(): T | undefined;
  /** Removes and returns the first item. */
  shift(): T | undefined;
  /** Removes an item wherever it is; returns whether it was held. */
  remove(item: T): boolean;
}

/**
 * Creates an empty {@link PriorityQueue}.
 *
 * @example
 * ```ts
 * const queue = createPriorityQueue<number>();
 * queue.push(1, 0);
 * queue.push(2, 0);
 * queue.shift(); // 1
 * ```
 */
export function createPriorityQueue<T>(): PriorityQueue<T> {
  const items: T[] = [];
  const priorities: number[] = [];
  return {
    get size() {
      return items.length;
    },
    push(item, priority) {
      // First index whose priority is lower than `priority`: the item goes there, behind its equals.
      let lo = 0;
      let hi = items.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (priorities[mid]! >= priority) lo = mid + 1;
        else hi = mid;
      }
      items.splice(lo, 0, item);
      priorities.splice(lo, 0, priority);
    },
    peek: () => items[0],
    shift() {
      priorities.shift();
      return items.shift();
    },
    remove(item) {
      const at = items.indexOf(item);
      if (at < 0) return false;
      items.splice(at, 1);
      priorities.splice(at, 1);
      return true;
    },
  };
}
