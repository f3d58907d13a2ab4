import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import {
  type ClientIp,
  type ClientIpOptions,
  type ClientIpWarning,
  createClientIp,
  UNKNOWN_CLIENT_IP,
} from './client-ip.js';

type Headers = Record<string, string | string[] | undefined>;
const quiet = { warnings: false } as const;
const _ask = (options: ClientIpOptions, remoteAddress: string | undefined, headers: Headers = {}): ClientIp =>
  createClientIp({ ...quiet, ...options })({ remoteAddress, headers });
const xff = (value: string | string[]): Headers => ({ 'x-forwarded-for': value });
const fwd = (value: string | string[]): Headers => ({ forwarded: value });

describe('client IP: warnings', () => {
  const collect = (options: ClientIpOptions = {}) => {
    const warnings: ClientIpWarning[] = [];
    const clientIp = createClientIp({ onWarning: (w) => warnings.push(w), ...options });
    return { clientIp, warnings };
  };

  it('warns once per instance when forwarding headers arrive and no proxy is trusted', () => {
    const { clientIp, warnings } = collect();
    clientIp({ remoteAddress: '127.0.0.1', headers: {} });
    expect(warnings).toEqual([]);
    clientIp({ remoteAddress: '127.0.0.1', headers: xff('198.51.100.1') });
    clientIp({ remoteAddress: '10.0.0.1', headers: fwd('for=198.51.100.1') });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.code).toBe('SLUICE_PROXY_UNTRUSTED');
    expect(warnings[0]?.message).toMatch(/127\.0\.0\.1.*loopback or private.*X-Forwarded-For.*`trustProxy`/);
    const other = collect();
    other.clientIp({ remoteAddress: '127.0.0.1', headers: xff('198.51.100.1') });
    expect(other.warnings).toHaveLength(1);
  });

  it('words the warning for a public peer differently, and names every header sent', () => {
    const { clientIp, warnings } = collect();
    clientIp({ remoteAddress: '203.0.113.7', headers: { ...fwd('for=1.2.3.4'), 'x-real-ip': '1.2.3.4' } });
    expect(warnings[0]?.message).toMatch(/203\.0\.113\.7 carries Forwarded and X-Real-IP.*ignored/);
  });

  it('warns when a trusted proxy sends the other forwarding header', () => {
    const { clientIp, warnings } = collect({ trustProxy: ['loopback'] });
    clientIp({ remoteAddress: '127.0.0.1', headers: fwd('for=198.51.100.1') });
    clientIp({ remoteAddress: '127.0.0.1', headers: fwd('for=198.51.100.1') });
    expect(warnings).toEqual([
      { code: 'SLUICE_PROXY_HEADER', message: expect.stringMatching(/header: 'forwarded'/) },
    ]);
  });

  it('is switched off by warnings: false, and trusted setups do not warn', () => {
    const off = collect({ warnings: false });
    off.clientIp({ remoteAddress: '127.0.0.1', headers: xff('198.51.100.1') });
    const trusted = collect({ trustProxy: 1 });
    trusted.clientIp({ remoteAddress: '127.0.0.1', headers: xff('198.51.100.1') });
    expect([...off.warnings, ...trusted.warnings]).toEqual([]);
  });

  it('goes to process.emitWarning with its code by default', async () => {
    const seen = new Promise<Error & { code?: string }>((resolve) => process.once('warning', resolve));
    createClientIp()({ remoteAddress: '::1', headers: xff('198.51.100.1') });
    const warning = await seen;
    expect([warning.name, warning.code]).toEqual(['SluiceWarning', 'SLUICE_PROXY_UNTRUSTED']);
  });
});

describe('client IP: options', () => {
  const error = (options: unknown): ConfigError => {
    try {
      createClientIp(options as ClientIpOptions);
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    throw new Error('expected a ConfigError');
  };

  it('refuses bad options with the path, the expected value and the received one', () => {
    const cidr = error({ trustProxy: ['10.0.0.0/8', '10.0.0.0/33'] });
    expect(cidr.path).toBe('trustProxy[1]');
    expect(cidr.message).toBe(
      'Expected `trustProxy[1]` to be an IP address or CIDR like "10.0.0.0/8", or "loopback", "private", "linklocal", got `"10.0.0.0/33"` (string)',
    );
    for (const [options, path, got] of [
      [{ trustProxy: ['::1/129'] }, 'trustProxy[0]', '"::1/129"'],
      [{ trustProxy: ['10.0.0.0/8/8'] }, 'trustProxy[0]', '"10.0.0.0/8/8"'],
      [{ trustProxy: ['fe80::1%eth0'] }, 'trustProxy[0]', '"fe80::1%eth0"'],
      [{ trustProxy: ['10.0.0.0/-1'] }, 'trustProxy[0]', '"10.0.0.0/-1"'],
      [{ trustProxy: ['toString'] }, 'trustProxy[0]', '"toString"'],
      [{ trustProxy: [8] }, 'trustProxy[0]', '8'],
      [{ trustProxy: true }, 'trustProxy', 'true'],
      [{ trustProxy: -1 }, 'trustProxy', '-1'],
      [{ trustProxy: 1.5 }, 'trustProxy', '1.5'],
      [{ trustProxy: '10.0.0.0/8' }, 'trustProxy', '"10.0.0.0/8"'],
      [{ header: 'x-real-ip' }, 'header', '"x-real-ip"'],
      [{ ipv6Prefix: 0 }, 'ipv6Prefix', '0'],
      [{ ipv6Prefix: 129 }, 'ipv6Prefix', '129'],
      [{ ipv6Prefix: 56.5 }, 'ipv6Prefix', '56.5'],
      [{ warnings: 'no' }, 'warnings', '"no"'],
      [{ onWarning: 'log' }, 'onWarning', '"log"'],
    ] as const) {
      const e = error(options);
      expect(e.path).toBe(path);
      expect(e.message).toContain(`\`${path}\``);
      expect(e.message).toContain(`got \`${got}\``);
    }
    expect(error({ trustproxy: 1 }).message).toMatch(/Unknown option `trustproxy`/);
    expect(error(null).message).toMatch(/options object/);
  });

  it('fits a node:http request', () => {
    const clientIp = createClientIp(quiet);
    const keyOf = (req: IncomingMessage) =>
      clientIp({ remoteAddress: req.socket.remoteAddress, headers: req.headers }).key;
    expect(typeof keyOf).toBe('function');
  });
});

describe('client IP: fuzz', () => {
  const configs: ClientIpOptions[] = [
    {},
    { trustProxy: 2 },
    { trustProxy: ['0.0.0.0/0', '::/0'] },
    { trustProxy: ['0.0.0.0/0', '::/0'], header: 'forwarded', ipv6Prefix: 48 },
    { trustProxy: 5, header: 'forwarded', ipv6Prefix: 128 },
  ];
  const text = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc
      .tuple(
        fc.array(
          fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('unknown', '_x', '"', '[', ']', ':', ';', '\\')),
          {
            maxLength: 6,
          },
        ),
        fc.constantFrom(',', ', ', ';for=', ',for=', ', for="'),
      )
      .map(([parts, separator]) => parts.join(separator)),
  );
  const value = fc.oneof(fc.constant(undefined), text, fc.array(text, { maxLength: 4 }), fc.anything());
  const remote = fc.oneof(fc.constant(undefined), fc.ipV4(), fc.ipV6(), fc.string(), fc.anything());

  it('never throws and always returns an address, a grouped IPv6 network or the unknown key', () => {
    fc.assert(
      fc.property(fc.constantFrom(...configs), remote, value, value, (options, remoteAddress, a, b) => {
        const prefix = options.ipv6Prefix ?? 64;
        const clientIp = createClientIp({ ...quiet, ...options });
        const headers = { 'x-forwarded-for': a, forwarded: b } as Headers;
        const { ip, key, via } = clientIp({ remoteAddress: remoteAddress as string, headers });
        expect(['socket', 'x-forwarded-for', 'forwarded']).toContain(via);
        if (key === UNKNOWN_CLIENT_IP || isIP(key) === 4) {
          expect(ip).toBe(key);
        } else {
          const [network = '', bits] = key.split('/');
          expect([isIP(network), isIP(ip), bits]).toEqual([6, 6, String(prefix)]);
        }
      }),
    );
  });
});
