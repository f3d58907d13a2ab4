import { BlockList, isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClientIp, type ClientIpOptions, createClientIp, UNKNOWN_CLIENT_IP } from './client-ip.js';

type Headers = Record<string, string | string[] | undefined>;
const quiet = { warnings: false } as const;
const ask = (options: ClientIpOptions, remoteAddress: string | undefined, headers: Headers = {}): ClientIp =>
  createClientIp({ ...quiet, ...options })({ remoteAddress, headers });
const xff = (value: string | string[]): Headers => ({ 'x-forwarded-for': value });
const fwd = (value: string | string[]): Headers => ({ forwarded: value });

describe('client IP: no proxy trusted (the default)', () => {
  it('takes the socket address and ignores forwarding headers entirely', () => {
    expect(ask({}, '203.0.113.7', xff('198.51.100.1'))).toEqual({
      ip: '203.0.113.7',
      key: '203.0.113.7',
      via: 'socket',
    });
    expect(ask({ trustProxy: false }, '203.0.113.7', fwd('for=198.51.100.1')).ip).toBe('203.0.113.7');
    expect(ask({ trustProxy: 0 }, '203.0.113.7', xff('198.51.100.1')).ip).toBe('203.0.113.7');
    expect(ask({ trustProxy: [] }, '203.0.113.7', xff('198.51.100.1')).ip).toBe('203.0.113.7');
  });

  it('gives the shared unknown key when the socket address is missing or not an address', () => {
    const unknown = { ip: UNKNOWN_CLIENT_IP, key: UNKNOWN_CLIENT_IP, via: 'socket' };
    expect(ask({}, undefined)).toEqual(unknown);
    expect(ask({}, '/tmp/app.sock')).toEqual(unknown);
    // Headers are not believed for a peer nobody can identify, whatever is trusted.
    expect(ask({ trustProxy: 1 }, undefined, xff('198.51.100.1'))).toEqual(unknown);
    expect(ask({ trustProxy: ['0.0.0.0/0'] }, '', xff('198.51.100.1'))).toEqual(unknown);
  });
});

describe('client IP: hop counts', () => {
  const chain = xff('198.51.100.1, 203.0.113.9, 10.0.0.3');
  it('trusts that many proxies nearest the server, the socket peer being the first', () => {
    expect(ask({ trustProxy: 1 }, '10.0.0.2', chain)).toMatchObject({
      ip: '10.0.0.3',
      via: 'x-forwarded-for',
    });
    expect(ask({ trustProxy: 2 }, '10.0.0.2', chain).ip).toBe('203.0.113.9');
    expect(ask({ trustProxy: 3 }, '10.0.0.2', chain).ip).toBe('198.51.100.1');
  });

  it('takes the furthest address when the chain is shorter than the count', () => {
    expect(ask({ trustProxy: 9 }, '10.0.0.2', chain).ip).toBe('198.51.100.1');
    expect(ask({ trustProxy: 2 }, '10.0.0.2')).toMatchObject({ ip: '10.0.0.2', via: 'socket' });
  });

  it('ignores what the client prepends', () => {
    expect(ask({ trustProxy: 1 }, '10.0.0.2', xff('1.1.1.1, 2.2.2.2, 198.51.100.1')).ip).toBe('198.51.100.1');
  });
});

describe('client IP: lists of trusted addresses and CIDRs', () => {
  const trustProxy = ['10.0.0.0/8', '2001:db8:ffff::/48', '192.0.2.1'];

  it('walks the chain from the right, skipping trusted hops; the first untrusted one is the client', () => {
    const headers = xff('1.1.1.1, 198.51.100.1, 192.0.2.1, 10.9.9.9');
    expect(ask({ trustProxy }, '10.0.0.2', headers)).toEqual({
      ip: '198.51.100.1',
      key: '198.51.100.1',
      via: 'x-forwarded-for',
    });
  });

  it('matches IPv6 CIDRs, and IPv4-mapped peers against IPv4 CIDRs', () => {
    const headers = xff('2001:db8:1:2::7, 2001:db8:ffff:1::1');
    expect(ask({ trustProxy }, '2001:db8:ffff::2', headers)).toMatchObject({
      ip: '2001:db8:1:2::7',
      key: '2001:db8:1:2::/64',
    });
    expect(ask({ trustProxy }, '::ffff:10.0.0.2', xff('198.51.100.1')).ip).toBe('198.51.100.1');
    expect(ask({ trustProxy: ['::ffff:10.0.0.0/104'] }, '10.1.2.3', xff('198.51.100.1')).ip).toBe(
      '198.51.100.1',
    );
  });

  it('takes the furthest address when every hop is trusted', () => {
    expect(ask({ trustProxy }, '10.0.0.2', xff('10.0.0.5, 10.0.0.4'))).toMatchObject({
      ip: '10.0.0.5',
      via: 'x-forwarded-for',
    });
    expect(ask({ trustProxy }, '10.0.0.2')).toMatchObject({ ip: '10.0.0.2', via: 'socket' });
  });

  it('knows loopback, private and linklocal by name', () => {
    const headers = xff('198.51.100.1, 192.168.1.1, fd00::1, fe80::1%eth0');
    expect(ask({ trustProxy: ['loopback', 'private', 'linklocal'] }, '::1', headers).ip).toBe('198.51.100.1');
    expect(ask({ trustProxy: ['loopback'] }, '127.0.0.1', headers).ip).toBe('fe80::1');
  });
});

describe('client IP: spoofing and garbage', () => {
  it('ignores forwarding headers from a peer that is not trusted', () => {
    const spoof = { ...xff('10.0.0.1'), ...fwd('for=10.0.0.1') };
    expect(ask({ trustProxy: ['10.0.0.0/8'] }, '203.0.113.7', spoof)).toMatchObject({
      ip: '203.0.113.7',
      via: 'socket',
    });
    expect(ask({ trustProxy: ['10.0.0.0/8'], header: 'forwarded' }, '203.0.113.7', spoof).ip).toBe(
      '203.0.113.7',
    );
  });

  it('never takes a garbage hop as the client: the nearest valid hop stands for it', () => {
    const trustProxy = ['10.0.0.0/8'];
    expect(ask({ trustProxy }, '10.0.0.1', xff('1.2.3.4, not-an-ip'))).toMatchObject({
      ip: '10.0.0.1',
      via: 'socket',
    });
    expect(ask({ trustProxy }, '10.0.0.1', xff('garbage, 10.0.0.5')).ip).toBe('10.0.0.5');
    expect(ask({ trustProxy }, '10.0.0.1', xff('1.2.3.4,, 10.0.0.5')).ip).toBe('10.0.0.5');
    expect(ask({ trustProxy }, '10.0.0.1', xff('01.2.3.4')).ip).toBe('10.0.0.1');
    expect(ask({ trustProxy: 3 }, '10.0.0.1', xff('5.6.7.8, bad, 1.2.3.4')).ip).toBe('1.2.3.4');
    expect(ask({ trustProxy }, '10.0.0.1', xff('  ')).ip).toBe('10.0.0.1');
  });

  it('joins several header lines in order', () => {
    const lines = xff(['198.51.100.1, 203.0.113.9', '10.0.0.3']);
    expect(ask({ trustProxy: 2 }, '10.0.0.2', lines).ip).toBe('203.0.113.9');
    const forwarded = fwd(['for=198.51.100.1', 'for=10.0.0.3']);
    expect(ask({ trustProxy: ['10.0.0.0/8'], header: 'forwarded' }, '10.0.0.2', forwarded).ip).toBe(
      '198.51.100.1',
    );
  });

  it('accepts a port on IPv4 and bracketed IPv6 hops of X-Forwarded-For', () => {
    expect(ask({ trustProxy: 1 }, '10.0.0.2', xff('198.51.100.1:4711')).ip).toBe('198.51.100.1');
    expect(ask({ trustProxy: 1 }, '10.0.0.2', xff('[2001:db8::1]:4711')).ip).toBe('2001:db8::1');
    expect(ask({ trustProxy: 1 }, '10.0.0.2', xff('198.51.100.1:port')).ip).toBe('10.0.0.2');
  });

  it('whatever a client puts in front, a trusted proxy appending the real address wins (property)', () => {
    const client = fc.oneof(fc.ipV4(), fc.ipV6());
    const proxies = new BlockList();
    proxies.addSubnet('10.0.0.0', 8);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), client, (spoof, ip) => {
        fc.pre(!proxies.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6'));
        const viaXff = ask({ trustProxy: ['10.0.0.0/8'] }, '10.0.0.1', xff(`${spoof}, ${ip}`));
        const viaFwd = ask({ trustProxy: ['10.0.0.0/8'], header: 'forwarded' }, '10.0.0.1', {
          forwarded: `${spoof}, for="${isIP(ip) === 6 ? `[${ip}]:4711` : ip}";proto=https`,
        });
        const expected = createClientIp(quiet)({ remoteAddress: ip, headers: {} });
        expect(viaXff).toEqual({ ...expected, via: 'x-forwarded-for' });
        expect(viaFwd).toEqual({ ...expected, via: 'forwarded' });
      }),
    );
  });
});

describe('client IP: the Forwarded header (RFC 7239)', () => {
  const read = (value: string | string[], trustProxy: ClientIpOptions['trustProxy'] = ['10.0.0.0/8']) =>
    ask({ trustProxy, header: 'forwarded' }, '10.0.0.1', fwd(value));

  it('reads for= among other parameters, case-insensitively', () => {
    expect(read('for=192.0.2.60;proto=http;by=203.0.113.43')).toEqual({
      ip: '192.0.2.60',
      key: '192.0.2.60',
      via: 'forwarded',
    });
    expect(read('proto=https; For=192.0.2.60').ip).toBe('192.0.2.60');
    expect(read('for=192.0.2.43, for=198.51.100.17').ip).toBe('198.51.100.17');
    expect(read('for=192.0.2.43, for=10.0.0.7').ip).toBe('192.0.2.43');
  });

  it('unquotes, and drops brackets and ports', () => {
    expect(read('for="[2001:db8:cafe::17]:4711"')).toMatchObject({
      ip: '2001:db8:cafe::17',
      key: '2001:db8:cafe::/64',
    });
    expect(read('for="[2001:DB8:CAFE::17]"').ip).toBe('2001:db8:cafe::17');
    expect(read('for="192.0.2.43:47011"').ip).toBe('192.0.2.43');
    expect(read('for="[2001:db8::1]:_port"').ip).toBe('2001:db8::1');
    expect(read('for="192.0.2.\\43"').ip).toBe('192.0.2.43');
    expect(read('for=192.0.2.43;ext="a,b;c", for=10.0.0.9').ip).toBe('192.0.2.43');
  });

  it('treats obfuscated, unknown and missing identifiers as unusable: the nearest valid hop stands for them', () => {
    expect(read('for=198.51.100.1, for=_hidden')).toMatchObject({ ip: '10.0.0.1', via: 'socket' });
    expect(read('for=198.51.100.1, for="_hidden:80", for=10.0.0.9').ip).toBe('10.0.0.9');
    expect(read('for=unknown').ip).toBe('10.0.0.1');
    expect(read('for=198.51.100.1, proto=https').ip).toBe('10.0.0.1');
    expect(read('for=198.51.100.1;for=198.51.100.2').ip).toBe('10.0.0.1');
    expect(read('for="[2001:db8::1"').ip).toBe('10.0.0.1');
    expect(read('for=[1.2.3.4]').ip).toBe('10.0.0.1');
    expect(read('for="198.51.100.1').ip).toBe('10.0.0.1');
  });

  it('is not confused by an unterminated quote before the proxies’ elements', () => {
    expect(read('for="x, for=198.51.100.1').ip).toBe('198.51.100.1');
    expect(read('for="x\\, for="[2001:db8::5]:1"').ip).toBe('2001:db8::5');
  });

  it('only reads the configured header', () => {
    const both = { ...xff('198.51.100.1'), ...fwd('for=203.0.113.9') };
    expect(ask({ trustProxy: 1 }, '10.0.0.1', both).ip).toBe('198.51.100.1');
    expect(ask({ trustProxy: 1, header: 'forwarded' }, '10.0.0.1', both).ip).toBe('203.0.113.9');
  });
});

describe('client IP: IPv6 keys', () => {
  const key = (remoteAddress: string, ipv6Prefix?: number) =>
    ask(ipv6Prefix === undefined ? {} : { ipv6Prefix }, remoteAddress).key;

  it('groups by /64 by default, canonically rendered', () => {
    expect(key('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(key('2001:DB8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(key('2001:db8:1:2::1')).toBe(key('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(key('2001:db8:1:2::1')).not.toBe(key('2001:db8:1:3::1'));
    expect(key('2001:db8::1')).toBe('2001:db8::/64');
    expect(key('::1')).toBe('::/64');
  });

  it('groups by /48 and /128 when asked', () => {
    expect(key('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48');
    expect(key('2001:db8:1:2::1', 48)).toBe(key('2001:db8:1:ffff::1', 48));
    expect(key('2001:db8:1:2::1', 128)).toBe('2001:db8:1:2::1/128');
    expect(key('2001:db8:1:2::1', 127)).toBe('2001:db8:1:2::/127');
    expect(key('ffff:ffff::', 1)).toBe('8000::/1');
  });

  it('renders as RFC 5952 says: first longest zero run, never a single zero group', () => {
    const ip = (remoteAddress: string) => ask({}, remoteAddress).ip;
    expect(ip('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(ip('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1');
    expect(ip('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(ip('0:0:0:0:0:0:0:0')).toBe('::');
    expect(ip('fe80::1%eth0')).toBe('fe80::1');
    expect(ip('::1.2.3.4')).toBe('::102:304');
  });

  it('treats IPv4-mapped addresses as the IPv4 address', () => {
    expect(ask({}, '::ffff:192.0.2.1')).toEqual({ ip: '192.0.2.1', key: '192.0.2.1', via: 'socket' });
    expect(ask({}, '::FFFF:c000:0201').key).toBe('192.0.2.1');
    expect(ask({ trustProxy: 1 }, '10.0.0.1', xff('[::ffff:192.0.2.1]:80')).key).toBe('192.0.2.1');
  });

  it('renders like the WHATWG URL serialiser and keys the network holding the address (property)', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 1, max: 128 }), (address, ipv6Prefix) => {
        const result = ask({ ipv6Prefix }, address);
        if (result.ip.includes('.')) return; // An IPv4-mapped address.
        expect(result.ip).toBe(new URL(`http://[${address}]/`).hostname.slice(1, -1));
        const [network = '', bits] = result.key.split('/');
        expect(bits).toBe(String(ipv6Prefix));
        expect(new URL(`http://[${network}]/`).hostname).toBe(`[${network}]`);
        const list = new BlockList();
        list.addSubnet(network, ipv6Prefix, 'ipv6');
        expect(list.check(address, 'ipv6')).toBe(true);
      }),
    );
  });

  it('gives two addresses one key exactly when they share the prefix (property)', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.ipV6(), fc.integer({ min: 1, max: 128 }), (a, b, ipv6Prefix) => {
        const [ka, kb] = [ask({ ipv6Prefix }, a), ask({ ipv6Prefix }, b)];
        if (ka.ip.includes('.') || kb.ip.includes('.')) return;
        const list = new BlockList();
        list.addSubnet(ka.key.split('/')[0] ?? '', ipv6Prefix, 'ipv6');
        expect(ka.key === kb.key).toBe(list.check(b, 'ipv6'));
      }),
    );
  });
});
