import { fail } from '../internal/describe.js';
import { appPlatform } from './app-platform.js';
import { marketplace } from './marketplace.js';
import { merchantApi } from './merchant-api.js';
import { platformApi } from './platform-api.js';
import { salesData } from './sales-data.js';
import type { Preset, PresetName } from './types.js';

export { appPlatform } from './app-platform.js';
export { definePreset } from './define.js';
export { marketplace } from './marketplace.js';
export { merchantApi } from './merchant-api.js';
export { type PresetEnforcerOptions, presetOptions } from './options.js';
export { platformApi } from './platform-api.js';
export { salesData } from './sales-data.js';
export type { Preset, PresetClient, PresetKeys, PresetName, PresetRoute } from './types.js';

/**
 * Every built-in preset by name (a frozen record of frozen presets).
 *
 * @example
 * ```ts
 * const { config, headers, rejection } = presets['platform-api'];
 * ```
 */
export const presets: Readonly<Record<PresetName, Preset>> = Object.freeze({
  marketplace,
  'app-platform': appPlatform,
  'platform-api': platformApi,
  'merchant-api': merchantApi,
  'sales-data': salesData,
});

/**
 * The names of the built-in presets, in a stable order.
 *
 * @example
 * ```ts
 * presetNames; // ['marketplace', 'app-platform', 'platform-api', 'merchant-api', 'sales-data']
 * ```
 */
export const presetNames: readonly PresetName[] = Object.freeze(Object.keys(presets) as PresetName[]);

/**
 * The preset of a name, e.g. from a configuration file or a command-line flag. Throws a `ConfigError`
 * (path `preset`) naming the unknown preset and listing the valid ones.
 *
 * @example
 * ```ts
 * const enforcer = createEnforcer(presetOptions(presetOf(process.env.SLUICE_PRESET ?? 'sales-data')));
 * presetOf('stripe');
 * // ConfigError: Expected `preset` to be one of "marketplace", "app-platform", …, got `"stripe"` (string)
 * ```
 */
export function presetOf(name: string): Preset {
  if (typeof name === 'string' && Object.hasOwn(presets, name)) return presets[name as PresetName];
  return fail('preset', `one of ${presetNames.map((n) => JSON.stringify(n)).join(', ')}`, name);
}
