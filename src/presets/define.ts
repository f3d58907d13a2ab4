import type { Preset } from './types.js';

/** Freezes a JSON-like value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/**
 * Declares a preset: returns it deeply frozen, so that no caller can change a preset others share (its
 * `config` can still be copied and extended: `{ policies: [...preset.config.policies, mine] }`).
 *
 * @example
 * ```ts
 * export const salesData = definePreset({ name: 'sales-data', description: '…', source: '…', config, headers: {}, rejection: {}, routes: [] });
 * Object.isFrozen(salesData.config.policies[0]); // true
 * ```
 */
export function definePreset(preset: Preset): Preset {
  return deepFreeze(preset);
}
