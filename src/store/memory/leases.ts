import type { AcquireResult, Lease } from '../types.js';

/**
 * Concurrency leases of every key: key → (lease id → expiry). Expired leases are dropped lazily when their
 * key is next touched, and by a sweep when the registry is full; no timer per lease.
 */
export interface Leases {
  readonly byKey: Map<string, Map<string, number>>;
  /** Most keys with leases held at once. */
  readonly maxKeys: number;
  sequence: number;
  /** No lease can expire before this time: a sweep earlier than that would free nothing. */
  nextSweepAtMs: number;
  /** Expired leases dropped by sweeps. */
  expired: number;
  /** Sweeps run. */
  sweeps: number;
}

export function createLeases(maxKeys: number): Leases {
  return { byKey: new Map(), maxKeys, sequence: 0, nextSweepAtMs: 0, expired: 0, sweeps: 0 };
}

/** Drops the expired leases of one key; returns how many remain. */
function purge(leases: Leases, key: string, held: Map<string, number>, nowMs: number): number {
  for (const [id, expiry] of held) if (expiry <= nowMs) held.delete(id);
  if (held.size === 0) leases.byKey.delete(key);
  return held.size;
}

/**
 * Drops every expired lease, and remembers the earliest remaining expiry so that a full registry under
 * attack is swept at most once per expiry, not once per request.
 */
function sweep(leases: Leases, nowMs: number): void {
  if (nowMs < leases.nextSweepAtMs) return;
  leases.sweeps++;
  let earliest = Number.POSITIVE_INFINITY;
  for (const [key, held] of leases.byKey) {
    const before = held.size;
    purge(leases, key, held, nowMs);
    leases.expired += before - held.size;
    for (const expiry of held.values()) if (expiry < earliest) earliest = expiry;
  }
  leases.nextSweepAtMs = earliest;
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
    if (leases.byKey.size >= leases.maxKeys) sweep(leases, nowMs);
    // Full of live leases: refuse rather than grow without bound or evict a lease (which would admit more
    // concurrent requests than allowed).
    if (leases.byKey.size >= leases.maxKeys) return { acquired: false, current: 0, max, storeFull: true };
    held = new Map();
    leases.byKey.set(key, held);
  }
  const lease: Lease = { key, id: (++leases.sequence).toString(36), expiresAtMs: nowMs + ttlMs };
  held!.set(lease.id, lease.expiresAtMs);
  if (lease.expiresAtMs < leases.nextSweepAtMs) leases.nextSweepAtMs = lease.expiresAtMs;
  return { acquired: true, lease, current: current + 1, max };
}

export function release(leases: Leases, lease: Lease, nowMs: number): boolean {
  const held = leases.byKey.get(lease.key);
  const expiry = held?.get(lease.id);
  if (held === undefined || expiry === undefined) return false;
  held.delete(lease.id);
  if (held.size === 0) leases.byKey.delete(lease.key);
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
  return renewed;
}
