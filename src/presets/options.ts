import type { ClientIpOptions } from '../http/client-ip.js';
import type { HeaderOptions } from '../http/headers.js';
import type { RejectionOptions } from '../http/rejection.js';
import { parsePolicies } from '../policy/config.js';
import type { PolicySet } from '../policy/types.js';
import type { Preset } from './types.js';

/**
 * The parts of `createEnforcer`'s options a preset supplies.
 *
 * @example
 * ```ts
 * const options: PresetEnforcerOptions = presetOptions(presetOf('merchant-api'));
 * ```
 */
export interface PresetEnforcerOptions {
  readonly policies: PolicySet;
  readonly headers: HeaderOptions;
  readonly rejection: RejectionOptions;
  readonly clientIp?: ClientIpOptions;
}

/**
 * A preset's policies, validated for an environment (by default the preset's `defaultEnvironment`), with
 * its header, rejection and client address options: spread them into `createEnforcer` and add the store,
 * the clock and anything the deployment knows better (trusted proxies, a key secret).
 *
 * @example
 * ```ts
 * const enforcer = createEnforcer({ ...presetOptions(presetOf('marketplace'), { environment: 'production' }), store });
 * ```
 */
export function presetOptions(preset: Preset, options: { environment?: string } = {}): PresetEnforcerOptions {
  const environment = options.environment ?? preset.defaultEnvironment;
  const policies = parsePolicies(preset.config, environment);
  const { headers, rejection, clientIp } = preset;
  return clientIp === undefined
    ? { policies, headers, rejection }
    : { policies, headers, rejection, clientIp };
}
