export {
  type FixedWindowState,
  fixedWindowStep,
  type Kernel,
  kernelOf,
  type LimitState,
  type SlidingWindowState,
  type StateOf,
  type Step,
  slidingWindowStep,
  step,
  type TokenBucketState,
  tokenBucketStep,
} from './algorithms/index.js';
export {
  type Clock,
  createManualClock,
  type ManualClock,
  type Sleep,
  systemClock,
  systemSleep,
} from './clock.js';
export {
  combine,
  createDecisionBuffer,
  type Decision,
  type DecisionBuffer,
  type DegradedReason,
  decision,
  type Outcome,
} from './decision.js';
export { type Duration, formatDuration, parseDuration, parsePositiveDuration } from './duration.js';
export { ConfigError, RateLimitedError, SluiceError, StoreError } from './errors.js';
export {
  capacityOf,
  type FixedWindowLimit,
  fixedWindow,
  type Limit,
  type SlidingWindowLimit,
  slidingWindow,
  type TokenBucketLimit,
  type TokenBucketOptions,
  tokenBucket,
  type WindowOptions,
  withId,
} from './limits.js';
