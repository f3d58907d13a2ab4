export { type KeysCommandOptions, runKeysCommand } from './cli.js';
export { defaultLimitMessage, KeyLimitError } from './errors.js';
export type { KeysFile } from './file-format.js';
export type { KeyRegistryOptions } from './options.js';
export { merchantApiKeys } from './preset.js';
export { createKeyRegistry } from './registry.js';
export type { KeyHashAlgorithm } from './secret.js';
export type { CreatedKey, CreateKeyInput, KeyIdentity, KeyInfo, KeyRegistry } from './types.js';
