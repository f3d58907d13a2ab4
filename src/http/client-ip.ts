import { BlockList, isIP } from 'node:net';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';

/**
 * The forwarding header a trusted proxy chain is read from: `X-Forwarded-For` (comma-separated addresses)
 * or RFC 7239 `Forwarded` (`for=` parameters, e.g. `for="[2001:db8::1]:4711"`).
 *
 * @example
 * ```ts
 * const header: ForwardingHeader = 'forwarded';
 * ```
 */
export type ForwardingHeader = 'x-forwarded-for' | 'forwarded';

/**
 * Who sent a request, as far as the trusted proxies tell.
 *
 * @example
 * ```ts
 * const client: ClientIp = { ip: '2001:db8:1:2::7', key: '2001:db8:1:2::/64', via: 'x-forwarded-for' };
 * ```
 */
export interface ClientIp {
  /**
   * The client's address: IPv4 as is, IPv6 in canonical form (RFC 5952, zone dropped), an IPv4-mapped IPv6
   * address as its IPv4 address; {@link UNKNOWN_CLIENT_IP} when the socket address is unknown.
   */
  readonly ip: string;
  /**
   * What to key limits by: the IPv4 address, the IPv6 address's `ipv6Prefix` network
   * (`2001:db8:1:2::/64`), or {@link UNKNOWN_CLIENT_IP} (one shared key: unidentifiable requests share one
   * budget rather than escape limits).
   */
  readonly key: string;
  /** Where `ip` was read: the socket, or the forwarding header of a trusted proxy. */
  readonly via: 'socket' | ForwardingHeader;
}

/**
 * The parts of a request {@link createClientIp} reads. Header names are in lower case, as `node:http` gives
 * them (`IncomingMessage` fits: `{ remoteAddress: req.socket.remoteAddress, headers: req.headers }`).
 *
 * @example
 * ```ts
 * const request: ClientIpRequest = { remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': '203.0.113.7' } };
 * ```
 */
export interface ClientIpRequest {
  readonly remoteAddress: string | undefined;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/**
 * A detected misconfiguration, reported once per {@link createClientIp} instance and code:
 * - `SLUICE_PROXY_UNTRUSTED`: a request carries forwarding headers but no proxy is trusted;
 * - `SLUICE_PROXY_HEADER`: a trusted proxy sent the other forwarding header than the one configured.
 *
 * @example
 * ```ts
 * const onWarning = (warning: ClientIpWarning) => logger.warn({ code: warning.code }, warning.message);
 * ```
 */
export interface ClientIpWarning {
  readonly code: 'SLUICE_PROXY_UNTRUSTED' | 'SLUICE_PROXY_HEADER';
  readonly message: string;
}

/**
 * Options of {@link createClientIp}.
 *
 * @example
 * ```ts
 * const options: ClientIpOptions = { trustProxy: ['loopback', '10.0.0.0/8'], header: 'x-forwarded-for' };
 * ```
 */
export interface ClientIpOptions {
  /**
   * Which peers are proxies whose forwarding header is believed:
   * - `false`: none; forwarding headers are ignored and the socket address is the client;
   * - a hop count `n`: the `n` proxies nearest the server (the socket peer counts as the first);
   * - a list of addresses and CIDRs (IPv4 and IPv6), or the names `'loopback'`, `'private'` (RFC 1918 and
   *   `fc00::/7`), `'linklocal'`: the chain is walked from the socket leftwards, and the first untrusted
   *   address is the client. If the socket peer is not in the list, headers are ignored.
   * Prefer a list: with a hop count, a client that reaches the server past the proxies picks its own address.
   * @default false
   * @example ['loopback', '10.0.0.0/8', '2001:db8::/32']
   */
  readonly trustProxy?: false | number | readonly string[];
  /**
   * The forwarding header trusted proxies set; the other one is never read.
   * @default 'x-forwarded-for'
   */
  readonly header?: ForwardingHeader;
  /**
   * The IPv6 network size keys are grouped by, 1 to 128: one subscriber usually holds a whole /64 (or /56,
   * /48), so keying by /128 would let it rotate addresses past its limit.
   * @default 64
   */
  readonly ipv6Prefix?: number;
  /**
   * Whether to report detected misconfigurations (see {@link ClientIpWarning}).
   * @default true
   */
  readonly warnings?: boolean;
  /**
   * Where warnings go.
   * @default (w) => process.emitWarning(w.message, { code: w.code, type: 'SluiceWarning' })
   */
  readonly onWarning?: (warning: ClientIpWarning) => void;
}

/**
 * The `ip` and `key` of a request whose socket address is unknown (a closed socket, a Unix socket).
 *
 * @example
 * ```ts
 * if (clientIp(request).key === UNKNOWN_CLIENT_IP) log.warn('request without a peer address');
 * ```
 */
export const UNKNOWN_CLIENT_IP = 'unknown';

const UNKNOWN: ClientIp = Object.freeze({ ip: UNKNOWN_CLIENT_IP, key: UNKNOWN_CLIENT_IP, via: 'socket' });
const PRESETS = new Map([
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']],
  ['linklocal', ['169.254.0.0/16', 'fe80::/10']],
]);
const HEADER_NAMES = {
  'x-forwarded-for': 'X-Forwarded-For',
  forwarded: 'Forwarded',
  'x-real-ip': 'X-Real-IP',
};

/** An address of a chain: `ip` canonical, IPv4-mapped IPv6 turned into IPv4. */
interface Address {
  readonly ip: string;
  readonly family: 4 | 6;
}

/**
 * Makes a function that tells a request's client IP and the key to limit it by, believing forwarding headers
 * only as far as `trustProxy` says. It never throws on request input: a header that is not a chain of
 * addresses is read up to its last valid trusted hop, and an unknown socket address gives
 * {@link UNKNOWN_CLIENT_IP}. It throws a `ConfigError` naming the option on bad options.
 *
 * @example
 * ```ts
 * const clientIp = createClientIp({ trustProxy: ['loopback'] }); // behind a proxy on the same host
 * const { key } = clientIp({ remoteAddress: req.socket.remoteAddress, headers: req.headers });
 * const outcome = await limiter.consume(key);
 * ```
 */
export function createClientIp(options: ClientIpOptions = {}): (request: ClientIpRequest) => ClientIp {
  const o = optionsObject('createClientIp options', options);
  knownKeys('createClientIp()', o, ['trustProxy', 'header', 'ipv6Prefix', 'warnings', 'onWarning']);
  const trust = trustOf(o.trustProxy);
  const header = o.header ?? 'x-forwarded-for';
  if (header !== 'x-forwarded-for' && header !== 'forwarded')
    fail('header', '"x-forwarded-for" or "forwarded"', header);
  const prefix = o.ipv6Prefix ?? 64;
  if (typeof prefix !== 'number' || !Number.isInteger(prefix) || prefix < 1 || prefix > 128)
    fail('ipv6Prefix', 'an integer from 1 to 128', prefix);
  if (o.warnings !== undefined && typeof o.warnings !== 'boolean') fail('warnings', 'a boolean', o.warnings);
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function')
    fail('onWarning', 'a function', o.onWarning);
  const onWarning =
    (o.onWarning as ClientIpOptions['onWarning']) ??
    ((w: ClientIpWarning) => process.emitWarning(w.message, { code: w.code, type: 'SluiceWarning' }));
  const warned = new Set<string>(
    o.warnings === false ? ['SLUICE_PROXY_UNTRUSTED', 'SLUICE_PROXY_HEADER'] : [],
  );
  const warn = (code: ClientIpWarning['code'], message: () => string) => {
    if (warned.has(code)) return;
    warned.add(code);
    onWarning({ code, message: message() });
  };
  const result = (address: Address, via: ClientIp['via']): ClientIp => ({
    ip: address.ip,
    key:
      address.family === 4 ? address.ip : `${renderIpv6(masked(ipv6Groups(address.ip), prefix))}/${prefix}`,
    via,
  });

  // Socket addresses repeat from request to request: each is parsed (and an IPv6 one masked) once. A
  // bounded cache, emptied when full.
  const peers = new Map<string, { peer: Address; socket: ClientIp } | undefined>();
  const peerOf = (remote: string) => {
    let entry = peers.get(remote);
    if (entry === undefined && !peers.has(remote)) {
      const peer = address(remote);
      entry = peer === undefined ? undefined : { peer, socket: Object.freeze(result(peer, 'socket')) };
      if (peers.size >= 4096) peers.clear();
      peers.set(remote, entry);
    }
    return entry;
  };

  return (request) => {
    const entry = typeof request?.remoteAddress === 'string' ? peerOf(request.remoteAddress) : undefined;
    if (entry === undefined) return UNKNOWN;
    const { peer, socket } = entry;
    const headers: ClientIpRequest['headers'] = request.headers ?? {};
    if (trust === undefined) {
      if (!warned.has('SLUICE_PROXY_UNTRUSTED')) {
        const sent = (['x-forwarded-for', 'forwarded', 'x-real-ip'] as const).filter(
          (h) => headers[h] != null,
        );
        if (sent.length > 0) warn('SLUICE_PROXY_UNTRUSTED', () => untrustedMessage(peer, sent));
      }
      return socket;
    }
    if (!trust(peer, 0)) return socket;
    const chain = chainOf(headers[header], header);
    if (chain.length === 0) {
      const other = header === 'forwarded' ? 'x-forwarded-for' : 'forwarded';
      if (headers[other] != null)
        warn('SLUICE_PROXY_HEADER', () => {
          const [name, otherName] = [HEADER_NAMES[header], HEADER_NAMES[other]];
          return `sluice: the trusted proxy ${peer.ip} sent ${otherName} but no ${name}, so it is the client of every request it forwards. Set \`header: '${other}'\` in createClientIp() if that proxy writes ${otherName}.`;
        });
    }
    let client = peer;
    let via: ClientIp['via'] = 'socket';
    for (let hop = 1; hop <= chain.length; hop++) {
      const next = node(chain[chain.length - hop]);
      if (next === undefined) break; // Garbage or an obfuscated hop: the nearest valid hop stands for it.
      client = next;
      via = header;
      if (!trust(next, hop)) break;
    }
    return result(client, via);
  };
}

/** `trustProxy` normalised: `undefined` when no proxy is trusted, else "is this hop a trusted proxy?". */
function trustOf(value: unknown): ((address: Address, hop: number) => boolean) | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
    return value === 0 ? undefined : (_, hop) => hop < value;
  if (!Array.isArray(value))
    fail('trustProxy', 'false, a hop count (an integer ≥ 0) or a list of addresses and CIDRs', value);
  if (value.length === 0) return undefined;
  const list = new BlockList();
  value.forEach((entry: unknown, i) => {
    if (!addTrusted(list, entry)) {
      fail(
        `trustProxy[${i}]`,
        'an IP address or CIDR like "10.0.0.0/8", or "loopback", "private", "linklocal"',
        entry,
      );
    }
  });
  return (a) => list.check(a.ip, a.family === 4 ? 'ipv4' : 'ipv6');
}

function addTrusted(list: BlockList, entry: unknown): boolean {
  if (typeof entry !== 'string') return false;
  const preset = PRESETS.get(entry);
  if (preset !== undefined) return preset.every((cidr) => addTrusted(list, cidr));
  const [base = '', bits, extra] = entry.split('/');
  const family = base.includes('%') ? 0 : isIP(base);
  if (family === 0 || extra !== undefined) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (bits === undefined) list.addAddress(base, type);
  else if (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
    list.addSubnet(base, Number(bits), type);
  else return false;
  return true;
}

function untrustedMessage(peer: Address, sent: readonly (keyof typeof HEADER_NAMES)[]): string {
  const names = sent.map((h) => HEADER_NAMES[h]).join(' and ');
  const nearby = new BlockList();
  for (const name of ['loopback', 'private', 'linklocal']) addTrusted(nearby, name);
  const proxyLike = nearby.check(peer.ip, peer.family === 4 ? 'ipv4' : 'ipv6');
  return proxyLike
    ? `sluice: a request from ${peer.ip}, a loopback or private address (typically a reverse proxy), carries ${names}, but \`trustProxy\` is false: every client behind that proxy shares one rate limit key. Set \`trustProxy\` in createClientIp() to the proxy's addresses (e.g. ['loopback'] or ['10.0.0.0/8']) or its hop count; pass \`warnings: false\` if there is no proxy.`
    : `sluice: a request from ${peer.ip} carries ${names}, but \`trustProxy\` is false, so the header is ignored and the socket address is the client. If the server runs behind a proxy, set \`trustProxy\` in createClientIp() to its addresses or hop count; if not, the header is the client's own and ignoring it is right (pass \`warnings: false\`).`;
}

/** The raw hops of a forwarding header, nearest the server last (`undefined`: a hop without `for=`). */
function chainOf(value: unknown, header: ForwardingHeader): (string | undefined)[] {
  const lines = (Array.isArray(value) ? value : [value]).filter(
    (line): line is string => typeof line === 'string' && line.trim() !== '',
  );
  if (lines.length === 0) return [];
  return header === 'x-forwarded-for' ? lines.join(',').split(',') : lines.flatMap(forwardedFor);
}

/** The `for=` value of each element of one `Forwarded` line (RFC 7239). */
function forwardedFor(line: string): (string | undefined)[] {
  return split(line, ',').map((element) => {
    const found = split(element, ';').flatMap((pair) => {
      const eq = pair.indexOf('=');
      return eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for' ? [pair.slice(eq + 1).trim()] : [];
    });
    const value = found.length === 1 ? found[0] : undefined; // A repeated `for` makes the hop unusable.
    if (value === undefined || !value.startsWith('"')) return value;
    return value.length >= 2 && value.endsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : undefined;
  });
}

/**
 * Splits on `separator` outside quoted strings. A text that ends inside a quote (a client's malformed part
 * before the proxies' elements) is split plainly instead, so it cannot swallow the elements after it.
 */
function split(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return quoted ? text.split(separator) : parts;
}

const PORT = /^(?::(?:\d{1,5}|_[A-Za-z0-9._-]+))?$/;

/** A hop's address: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:80`. */
function node(value: string | undefined): Address | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    const host = text.slice(1, end);
    return end !== -1 && PORT.test(text.slice(end + 1)) && isIP(host) === 6 ? address(host) : undefined;
  }
  const colon = text.indexOf(':');
  if (colon !== -1 && colon === text.lastIndexOf(':')) {
    const host = text.slice(0, colon);
    return isIP(host) === 4 && PORT.test(text.slice(colon)) ? address(host) : undefined;
  }
  return address(text);
}

/** A bare address, canonical; `undefined` for anything else. */
function address(text: string): Address | undefined {
  const family = isIP(text);
  if (family === 4) return { ip: text, family: 4 };
  if (family !== 6) return undefined;
  const g = ipv6Groups(text.split('%')[0] ?? '');
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const [hi = 0, lo = 0] = g.slice(6);
    return { ip: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 4 };
  }
  return { ip: renderIpv6(g), family: 6 };
}

/** The eight 16-bit groups of a valid IPv6 address (no zone), `::` and a trailing IPv4 part expanded. */
function ipv6Groups(ip: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = ip.split('::');
  const h = parse(head);
  if (tail === undefined) return h;
  const t = parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The groups of the `prefix`-bit network the address is in. */
function masked(groups: readonly number[], prefix: number): number[] {
  return groups.map((g, i) => {
    const bits = Math.min(16, Math.max(0, prefix - 16 * i));
    return g & ((0xffff << (16 - bits)) & 0xffff);
  });
}

/** RFC 5952: lower-case hex without leading zeros, the first longest run of ≥ 2 zero groups as `::`. */
function renderIpv6(groups: readonly number[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}
