import type { AcquireResult, Lease } from '../types.js';

/** One lease's expiry, in the expiry queue. Stale once its lease is released or renewed. */
interface Expiry {
  atMs: number;
  key: string;
  id: string;
}

/**
 * Concurrency leases of every key: key → (lease id → expiry), plus a min-heap of expiries so that a full
 * registry drops exactly the leases that have expired, in O(log n) each — no timer per lease, and no scan
 * of the whole registry per request however leases are rotated.
 */
export interface Leases {
  readonly byKey: Map<string, Map<string, number>>;
  /** Most keys with leases held at once. */
  readonly maxKeys: number;
  /** Min-heap of expiries by `atMs`; entries of released or renewed leases are skipped when popped. */
  readonly queue: Expiry[];
  /** Leases held (live or expired but not yet dropped). */
  count: number;
  sequence: number;
  /** Expired leases dropped because their holders never released them. */
  expired: number;
}

export function createLeases(maxKeys: number): Leases {
  return { byKey: new Map(), maxKeys, queue: [], count: 0, sequence: 0, expired: 0 };
}

function push(queue: Expiry[], entry: Expiry): void {
  let i = queue.push(entry) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (queue[parent]!.atMs <= entry.atMs) break;
    queue[i] = queue[parent]!;
    i = parent;
  }
  queue[i] = entry;
}

function pop(queue: Expiry[]): Expiry | undefined {
  const top = queue[0];
  const last = queue.pop();
  if (queue.length === 0 || last === undefined) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= queue.length) break;
    const child = left + 1 < queue.length && queue[left + 1]!.atMs < queue[left]!.atMs ? left + 1 : left;
    if (queue[child]!.atMs >= last.atMs) break;
    queue[i] = queue[child]!;
    i = child;
  }
  queue[i] = last;
  return top;
}

/** Records a lease's expiry; rebuilds the queue when stale entries outnumber live ones (amortised O(1)). */
function schedule(leases: Leases, entry: Expiry): void {
  push(leases.queue, entry);
  if (leases.queue.length <= 2 * leases.count + 64) return;
  leases.queue.length = 0;
  for (const [key, held] of leases.byKey)
    for (const [id, atMs] of held) push(leases.queue, { atMs, key, id });
}

/** Forgets one lease. */
function drop(leases: Leases, key: string, held: Map<string, number>, id: string): void {
  held.delete(id);
  leases.count--;
  if (held.size === 0) leases.byKey.delete(key);
}

/** Drops the expired leases of one key; returns how many remain. */
function purge(leases: Leases, key: string, held: Map<string, number>, nowMs: number): number {
  for (const [id, expiry] of held) {
    if (expiry <= nowMs) {
      drop(leases, key, held, id);
      leases.expired++;
    }
  }
  return held.size;
}

/** Drops every lease that has expired, oldest first, skipping queue entries that are stale. */
function dropExpired(leases: Leases, nowMs: number): void {
  while (leases.queue.length > 0 && leases.queue[0]!.atMs <= nowMs) {
    const { key, id, atMs } = pop(leases.queue)!;
    const held = leases.byKey.get(key);
    if (held?.get(id) !== atMs) continue;
    drop(leases, key, held, id);
    leases.expired++;
  }
}

export function acquire(
  leases: Leases,
  key: string,
  max: number,
  ttlMs: number,
  nowMs: number,
): AcquireResult {
  let held = leases.byKey.get(key);
  const current = held === undefined ? 0 : purge(leases, key, held, nowMs);
  if (current >= max) return { acquired: false, current, max };
  if (current === 0) {
    if (leases.byKey.size >= leases.maxKeys) dropExpired(leases, nowMs);
    // Full of live leases: refuse rather than grow without bound or evict a lease (which would admit more
    // concurrent requests than allowed).
    if (leases.byKey.size >= leases.maxKeys) return { acquired: false, current: 0, max, storeFull: true };
    held = new Map();
    leases.byKey.set(key, held);
  }
  const lease: Lease = { key, id: (++leases.sequence).toString(36), expiresAtMs: nowMs + ttlMs };
  held!.set(lease.id, lease.expiresAtMs);
  leases.count++;
  schedule(leases, { atMs: lease.expiresAtMs, key, id: lease.id });
  return { acquired: true, lease, current: current + 1, max };
}

export function release(leases: Leases, lease: Lease, nowMs: number): boolean {
  const held = leases.byKey.get(lease.key);
  const expiry = held?.get(lease.id);
  if (held === undefined || expiry === undefined) return false;
  drop(leases, lease.key, held, lease.id);
  return expiry > nowMs;
}

export function renew(leases: Leases, lease: Lease, ttlMs: number, nowMs: number): Lease | undefined {
  const held = leases.byKey.get(lease.key);
  const expiry = held?.get(lease.id);
  if (held === undefined || expiry === undefined) return undefined;
  if (expiry <= nowMs) {
    purge(leases, lease.key, held, nowMs);
    return undefined;
  }
  const renewed: Lease = { key: lease.key, id: lease.id, expiresAtMs: nowMs + ttlMs };
  held.set(lease.id, renewed.expiresAtMs);
  schedule(leases, { atMs: renewed.expiresAtMs, key: lease.key, id: lease.id });
  return renewed;
}

/** Forgets every lease of `key`. */
export function forget(leases: Leases, key: string): void {
  const held = leases.byKey.get(key);
  if (held === undefined) return;
  leases.count -= held.size;
  leases.byKey.delete(key);
}
