export {
  type KeyPart,
  type LimitConfig,
  loadPolicies,
  type PoliciesConfig,
  type Policy,
  type PolicyConfig,
  type PolicyMode,
  type PolicySet,
  parsePolicies,
} from './config.js';
export {
  type AppliedPolicy,
  createEnforcer,
  type Enforcer,
  type EnforcerOptions,
  type RequestInfo,
  type Verdict,
} from './enforce.js';
export { classOf, compilePath, type PathPattern, type RequestClass } from './match.js';
