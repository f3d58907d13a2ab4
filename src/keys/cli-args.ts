/**
 * A parsed `sluice keys` command line.
 *
 * @example
 * ```ts
 * const args: KeysArgs = { action: 'revoke', account: 'acme', id: 'key_3Jb9xQ0aZk2m', file: 'keys.json' };
 * ```
 */
export interface KeysArgs {
  readonly action: 'create' | 'list' | 'revoke';
  readonly account: string;
  readonly user?: string;
  readonly label?: string;
  readonly id?: string;
  readonly file?: string;
  readonly redis?: string;
  readonly prefix?: string;
  readonly max?: number;
}

const STORE_FLAGS = ['account', 'file', 'redis', 'prefix'] as const;

/** The flags each action takes. */
const FLAGS = {
  create: [...STORE_FLAGS, 'user', 'label', 'max'],
  list: [...STORE_FLAGS],
  revoke: [...STORE_FLAGS, 'id'],
} as const;

const isAction = (value: string | undefined): value is KeysArgs['action'] =>
  value === 'create' || value === 'list' || value === 'revoke';

const flagList = (names: readonly string[]) => names.map((name) => `--${name}`).join(', ');

/**
 * Parses `create|list|revoke --flag value …` (or `--flag=value`); a string is the one-line message of a
 * usage error, naming the flag, what was expected and what was given.
 *
 * @example
 * ```ts
 * parseKeysArgs(['list', '--account', 'acme', '--file', 'keys.json']);
 * // { action: 'list', account: 'acme', file: 'keys.json' }
 * parseKeysArgs(['create', '--account', 'acme', '--file', 'k.json', '--max', '0']);
 * // 'Expected `--max` to be an integer ≥ 1, got `0`'
 * ```
 */
export function parseKeysArgs(args: readonly string[]): KeysArgs | string {
  const [action, ...rest] = args;
  if (!isAction(action)) {
    return `Expected a command \`create\`, \`list\` or \`revoke\` after \`sluice keys\`, got ${
      action === undefined ? 'nothing' : `\`${action}\``
    }`;
  }
  const known: readonly string[] = FLAGS[action];
  const values: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    const match = /^--([a-z]+)(?:=(.*))?$/s.exec(word);
    if (match === null)
      return `Unexpected argument \`${word}\` to \`sluice keys ${action}\`; flags start with --`;
    const name = match[1]!;
    if (!known.includes(name)) {
      return `Unknown option \`--${name}\` for \`sluice keys ${action}\`; expected one of ${flagList(known)}`;
    }
    let value = match[2];
    if (value === undefined) {
      value = rest[i + 1];
      if (value === undefined || value.startsWith('--'))
        return `Expected a value after \`--${name}\`, got nothing`;
      i++;
    }
    if (value === '') return `Expected \`--${name}\` to be a non-empty value, got \`\``;
    if (name in values) return `\`--${name}\` is given twice; give it once`;
    values[name] = value;
  }
  if (values.account === undefined) return `Missing \`--account\`: \`sluice keys ${action}\` needs it`;
  if (action === 'revoke' && values.id === undefined)
    return 'Missing `--id`: `sluice keys revoke` needs the id of the key (see `sluice keys list`)';
  if ((values.file === undefined) === (values.redis === undefined))
    return 'Expected exactly one of `--file PATH` and `--redis redis://host:port`';
  if (values.redis !== undefined && !/^rediss?:\/\//.test(values.redis))
    return `Expected \`--redis\` to be a URL redis://host:port (or rediss://), got \`${values.redis}\``;
  if (values.prefix !== undefined && values.redis === undefined)
    return '`--prefix` applies to `--redis` only';
  if (values.prefix !== undefined && /[{}]/.test(values.prefix))
    return `Expected \`--prefix\` to be a name without \`{\` or \`}\`, got \`${values.prefix}\``;
  let max: number | undefined;
  if (values.max !== undefined) {
    max = Number(values.max);
    if (!/^\d+$/.test(values.max) || !Number.isSafeInteger(max) || max < 1)
      return `Expected \`--max\` to be an integer ≥ 1, got \`${values.max}\``;
  }
  return {
    action,
    account: values.account,
    ...(values.user !== undefined && { user: values.user }),
    ...(values.label !== undefined && { label: values.label }),
    ...(values.id !== undefined && { id: values.id }),
    ...(values.file !== undefined && { file: values.file }),
    ...(values.redis !== undefined && { redis: values.redis }),
    ...(values.prefix !== undefined && { prefix: values.prefix }),
    ...(max !== undefined && { max }),
  };
}
