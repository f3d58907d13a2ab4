import type { AcquireResult, Lease } from '../types.js';

/**
 * Concurrency leases of every key: key → (lease id → expiry). Expired leases are dropped lazily when their
 * key is next touched, and by the store's sweep; no timer per lease.
 */
export interface Leases {
  readonly byKey: Map<string, Map<string, number>>;
  sequence: number;
}

export function createLeases(): Leases {
  return { byKey: new Map(), sequence: 0 };
}

/** Drops the expired leases of one key; returns how many remain. */
export function purge(leases: Leases, key: string, held: Map<string, number>, nowMs: number): number {
  for (const [id, expiry] of held) if (expiry <= nowMs) held.delete(id);
  if (held.size === 0) leases.byKey.delete(key);
  return held.size;
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
  if (held === undefined || current === 0) {
    held = new Map();
    leases.byKey.set(key, held);
  }
  const lease: Lease = { key, id: (++leases.sequence).toString(36), expiresAtMs: nowMs + ttlMs };
  held.set(lease.id, lease.expiresAtMs);
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
