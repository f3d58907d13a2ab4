export * from './core/index.js';
export {
  type ConsumeOptions,
  createLimiter,
  type Limiter,
  type LimiterOptions,
  type SyncLimiter,
} from './limiter.js';
export * from './store/memory/index.js';
export {
  createResilientStore,
  type FailureMode,
  type ResilientStore,
  type ResilientStoreOptions,
  type ResilientStoreStats,
} from './store/resilient.js';
export type { AcquireResult, Check, Lease, Store } from './store/types.js';
