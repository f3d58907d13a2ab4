import { ConfigError } from '../core/errors.js';
import { describe } from '../internal/describe.js';
import type { StoredKey } from './backend.js';
import type { KeyHashAlgorithm } from './secret.js';

/**
 * The content of a key registry file (version 1). Written by the registry, pretty-printed, mode 0600:
 *
 * ```json
 * {
 *   "format": "sluice-keys",
 *   "version": 1,
 *   "hash": "sha256",
 *   "keys": [
 *     { "id": "key_3Jb9xQ0aZk2m", "account": "acme", "user": "key_3Jb9xQ0aZk2m", "label": "ci",
 *       "hash": "<43 base64url characters>", "createdAt": 1700000000000, "revokedAt": 1700000500000 }
 *   ]
 * }
 * ```
 *
 * `hash` says how every key's `hash` was made (`sha256`, or `hmac-sha256` with the registry's `secret`).
 * Raw keys are never written. Revoked keys stay, with `revokedAt`, so `list` can show them.
 *
 * @example
 * ```ts
 * const empty: KeysFile = { format: 'sluice-keys', version: 1, hash: 'sha256', keys: [] };
 * ```
 */
export interface KeysFile {
  readonly format: 'sluice-keys';
  readonly version: 1;
  readonly hash: KeyHashAlgorithm;
  readonly keys: readonly StoredKey[];
}

/**
 * An empty registry whose hashes are made with `algorithm`.
 *
 * @example
 * ```ts
 * emptyKeysFile('sha256'); // { format: 'sluice-keys', version: 1, hash: 'sha256', keys: [] }
 * ```
 */
export const emptyKeysFile = (algorithm: KeyHashAlgorithm): KeysFile => ({
  format: 'sluice-keys',
  version: 1,
  hash: algorithm,
  keys: [],
});

/**
 * The file's text: pretty JSON and a final newline.
 *
 * @example
 * ```ts
 * await writeFile(temporary, serializeKeysFile(file));
 * ```
 */
export const serializeKeysFile = (file: KeysFile): string => `${JSON.stringify(file, null, 2)}\n`;

/**
 * Reads a registry file's text, checking every field; errors name the file and the field
 * (``Expected `keys[2].createdAt` in /etc/sluice/keys.json to be a number, got `"x"` (string)``). A file
 * written with another hash setting is refused unless it holds no key.
 *
 * @example
 * ```ts
 * const file = parseKeysFile(await readFile('keys.json', 'utf8'), 'keys.json', 'sha256');
 * ```
 */
export function parseKeysFile(text: string, path: string, algorithm: KeyHashAlgorithm): KeysFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(path, `Expected ${path} to hold JSON, got: ${(error as Error).message}`);
  }
  const bad = (field: string, expected: string, value: unknown): never => {
    throw new ConfigError(
      field,
      `Expected \`${field}\` in ${path} to be ${expected}, got ${describe(value)}`,
    );
  };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) bad('(root)', 'an object', data);
  const root = data as Record<string, unknown>;
  if (root.format !== 'sluice-keys') bad('format', '"sluice-keys"', root.format);
  if (root.version !== 1) bad('version', '1', root.version);
  if (root.hash !== 'sha256' && root.hash !== 'hmac-sha256')
    bad('hash', '"sha256" or "hmac-sha256"', root.hash);
  if (!Array.isArray(root.keys)) bad('keys', 'an array', root.keys);
  const keys = (root.keys as unknown[]).map((entry, i) => parseRecord(entry, `keys[${i}]`, bad));
  if (root.hash !== algorithm && keys.length > 0) {
    const given = algorithm === 'sha256' ? 'no `secret`' : 'a `secret`';
    throw new ConfigError(
      'secret',
      `${path} holds ${root.hash} hashes but the registry was given ${given}: ` +
        `open it with ${root.hash === 'sha256' ? 'no secret' : 'the HMAC secret it was written with'}`,
    );
  }
  const ids = new Set<string>();
  const hashes = new Set<string>();
  keys.forEach((key, i) => {
    if (ids.has(key.id)) bad(`keys[${i}].id`, 'unique', key.id);
    if (hashes.has(key.hash)) bad(`keys[${i}].hash`, 'unique', key.hash);
    ids.add(key.id);
    hashes.add(key.hash);
  });
  return { format: 'sluice-keys', version: 1, hash: algorithm, keys };
}

function parseRecord(
  entry: unknown,
  at: string,
  bad: (field: string, expected: string, value: unknown) => never,
): StoredKey {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) bad(at, 'an object', entry);
  const r = entry as Record<string, unknown>;
  for (const field of ['id', 'account', 'user', 'hash'] as const) {
    if (typeof r[field] !== 'string' || r[field] === '')
      bad(`${at}.${field}`, 'a non-empty string', r[field]);
  }
  if (r.label !== undefined && typeof r.label !== 'string') bad(`${at}.label`, 'a string', r.label);
  if (typeof r.createdAt !== 'number' || !Number.isFinite(r.createdAt))
    bad(`${at}.createdAt`, 'a number (ms since the epoch)', r.createdAt);
  if (r.revokedAt !== undefined && (typeof r.revokedAt !== 'number' || !Number.isFinite(r.revokedAt)))
    bad(`${at}.revokedAt`, 'a number (ms since the epoch)', r.revokedAt);
  return Object.freeze({
    id: r.id as string,
    account: r.account as string,
    user: r.user as string,
    ...(r.label !== undefined && { label: r.label as string }),
    hash: r.hash as string,
    createdAt: r.createdAt as number,
    ...(r.revokedAt !== undefined && { revokedAt: r.revokedAt as number }),
  });
}
