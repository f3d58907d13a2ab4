import type { ClientOptions } from '../client/client-options.js';
import type { ClientIpOptions } from '../http/client-ip.js';
import type { HeaderOptions } from '../http/headers.js';
import type { RejectionOptions } from '../http/rejection.js';
import type { PoliciesConfig } from '../policy/types.js';

/**
 * The name of a built-in preset: one reference API whose published rate-limit document it reproduces.
 *
 * @example
 * ```ts
 * const name: PresetName = 'merchant-api';
 * ```
 */
export type PresetName = 'marketplace' | 'app-platform' | 'platform-api' | 'merchant-api' | 'sales-data';

/**
 * An example request of a preset's API, for a fake upstream, a demo or a test to send.
 *
 * @example
 * ```ts
 * const route: PresetRoute = { method: 'POST', path: '/v1/communicate/email', policies: ['communicate'] };
 * ```
 */
export interface PresetRoute {
  /** An HTTP method, upper case. */
  readonly method: string;
  /** A concrete request target (not a pattern), e.g. `/v1/data-sources/42/data`. */
  readonly path: string;
  /** The names of the preset's policies that apply to this request (none: the request is not limited). */
  readonly policies: readonly string[];
}

/**
 * Rules a reference API documents about its API keys, given as data (sluice does not enforce them: an
 * application creating keys reads them).
 *
 * @example
 * ```ts
 * if (activeKeys >= keys.maxActivePerAccount) throw new HttpError(400, keys.limitMessage);
 * ```
 */
export interface PresetKeys {
  /** Most API keys (API users) active at once per account. */
  readonly maxActivePerAccount: number;
  /** The error message shown when creating one more, verbatim from the document. */
  readonly limitMessage: string;
}

/**
 * A reference API as data: its policies in the configuration format of `parsePolicies`, and the header and
 * rejection options that reproduce its responses. Every preset is deeply frozen.
 *
 * @example
 * ```ts
 * const { config, headers, rejection } = presetOf('sales-data');
 * const enforcer = createEnforcer({ policies: parsePolicies(config), headers, rejection });
 * ```
 */
export interface Preset {
  readonly name: PresetName;
  /** One sentence: what the API limits and how. */
  readonly description: string;
  /** The document it reproduces (a seed of /work/shared/seeds and the public page it comes from). */
  readonly source: string;
  /**
   * The policies, as `parsePolicies` accepts them (no `environment`: pass one to `parsePolicies`, or use
   * `defaultEnvironment`). Plain JSON values, so they can be written into a YAML or JSON configuration.
   */
  readonly config: PoliciesConfig;
  /** The response header fields the document names. */
  readonly headers: HeaderOptions;
  /** Statuses and bodies of rejections, as the document shows them. */
  readonly rejection: RejectionOptions;
  /** Client address options, for presets keyed by `ip` whose document says how clients are seen. */
  readonly clientIp?: ClientIpOptions;
  /** The document's rules about API keys, when it has some. */
  readonly keys?: PresetKeys;
  /** The environment whose `modes` apply when none is given (presets whose modes vary by environment). */
  readonly defaultEnvironment?: string;
  /** Example requests, one or more per policy, and unlimited ones where the API has them. */
  readonly routes: readonly PresetRoute[];
  /**
   * The integrator's side: `createClient` options (request classes with the documented limits and
   * concurrency, the margin, the retry rules) for a client of this API. Spread them into `createClient`.
   */
  readonly client?: PresetClient;
}

/**
 * The `createClient` options of a preset: request classes with the API's documented limits and concurrency,
 * the safety margin and the retry rules.
 *
 * @example
 * ```ts
 * const client = createClient({ baseUrl: 'https://api.example.com/', ...presets['merchant-api'].client });
 * ```
 */
export type PresetClient = Readonly<Pick<ClientOptions, 'classes' | 'margin' | 'retry'>>;
