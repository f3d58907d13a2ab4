import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import { parsePolicies } from '../policy/config.js';
import { createEnforcer, type RequestInfo } from '../policy/enforce.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import { createGatewayLogger, decisionLogFields, requestIdOf } from './log.js';

const T0 = 1_700_000_040_000;
const IP = '203.0.113.9';
const API_KEY = 'secret-api-key-42';
const USER = 'alice@example.com';

function memoryStream() {
  const lines: string[] = [];
  return { lines, write: (line: string) => void lines.push(line) };
}

function enforcer() {
  const clock = createManualClock(T0);
  return createEnforcer({
    policies: parsePolicies({
      policies: [
        { name: 'per-ip', key: 'ip', limits: [{ type: 'fixedWindow', limit: 3, window: '1m' }] },
        {
          name: 'per-user',
          key: ['user', 'apiKey'],
          mode: 'shadow',
          limits: [{ type: 'fixedWindow', limit: 10, window: '1m' }],
        },
      ],
    }),
    store: createMemoryStore({ clock: clock.now }),
    clock: clock.now,
  });
}

const request: RequestInfo = {
  method: 'GET',
  path: `/orders/42?email=${encodeURIComponent(USER)}&token=abc#frag`,
  headers: { 'x-api-key': API_KEY },
  remoteAddress: IP,
  user: USER,
};

const sha16 = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 16);

describe('decisionLogFields', () => {
  it('logs the route without its query, policies with hashed keys, and the binding remaining', async () => {
    const verdict = await enforcer().decide(request);
    const fields = decisionLogFields({
      requestId: 'req-1',
      method: 'GET',
      path: request.path,
      status: 200,
      verdict,
      durationMs: 1.23456,
    });
    expect(fields).toEqual({
      requestId: 'req-1',
      method: 'GET',
      path: '/orders/42',
      status: 200,
      outcome: 'allowed',
      policies: [
        { name: 'per-ip', mode: 'enforce', keyHash: sha16(verdict.applied[0]!.key), outcome: 'allowed' },
        { name: 'per-user', mode: 'shadow', keyHash: sha16(verdict.applied[1]!.key), outcome: 'allowed' },
      ],
      remaining: 2, // per-ip's; the shadow policy's 9 is not binding
      durationMs: 1.235,
    });
    for (const { keyHash } of fields.policies) expect(keyHash).toMatch(/^[\w-]{16}$/);
  });

  it('never writes a raw key, IP, user or API key through the logger', async () => {
    const stream = memoryStream();
    const log = createGatewayLogger({ destination: stream });
    const e = enforcer();
    for (let i = 0; i < 4; i++) {
      const verdict = await e.decide(request);
      const status = verdict.rejection?.status ?? 200;
      log.info(
        decisionLogFields({
          requestId: `r${i}`,
          method: 'GET',
          path: request.path,
          status,
          verdict,
          durationMs: 2,
        }),
        'request',
      );
    }
    expect(stream.lines).toHaveLength(4);
    const output = stream.lines.join('');
    for (const secret of [IP, USER, encodeURIComponent(USER), API_KEY, 'token=abc', 'frag'])
      expect(output).not.toContain(secret);
    const last = JSON.parse(stream.lines[3]!);
    expect(last).toMatchObject({ level: 30, msg: 'request', status: 429, outcome: 'rejected', remaining: 0 });
    expect(last.policies[0]).toMatchObject({ name: 'per-ip', outcome: 'rejected' });
  });

  it('hashes keys with an HMAC when given a secret; a request without a verdict is unchecked', () => {
    const fields = decisionLogFields({
      requestId: 'r',
      method: 'POST',
      path: '/login?next=/',
      status: 401,
      durationMs: 0.5,
    });
    expect(fields).toEqual({
      requestId: 'r',
      method: 'POST',
      path: '/login',
      status: 401,
      outcome: 'unchecked',
      policies: [],
      durationMs: 0.5,
    });
    const hmac = createHmac('sha256', 's3cret').update('ip=203.0.113.9').digest('base64url').slice(0, 16);
    const verdict = {
      allowed: true,
      holdsLeases: false,
      headers: [],
      release: async () => {},
      applied: [{ policy: { name: 'p' }, mode: 'enforce', key: 'ip=203.0.113.9', decisions: [] }],
    } as never;
    const logged = decisionLogFields({ ...fields, verdict, keySecret: 's3cret' });
    expect(logged.policies).toEqual([{ name: 'p', mode: 'enforce', keyHash: hmac }]);
  });
});

describe('createGatewayLogger', () => {
  it('writes JSON lines at the level asked, redacts credentials in logged headers, and can be off', () => {
    const stream = memoryStream();
    const log = createGatewayLogger({ level: 'warn', destination: stream });
    log.info('hidden');
    log.warn(
      { req: { headers: { authorization: 'Bearer tok', 'x-api-key': API_KEY, accept: '*/*' } } },
      'suspicious',
    );
    expect(stream.lines).toHaveLength(1);
    const line = JSON.parse(stream.lines[0]!);
    expect(line).toMatchObject({ level: 40, msg: 'suspicious' });
    expect(line.req.headers).toEqual({
      authorization: '[redacted]',
      'x-api-key': '[redacted]',
      accept: '*/*',
    });

    const off = memoryStream();
    createGatewayLogger({ enabled: false, destination: off }).error('nothing');
    expect(off.lines).toEqual([]);
  });

  it('names the option, what it expected and what it got', () => {
    expect(() => createGatewayLogger({ level: 'verbose' })).toThrow(ConfigError);
    expect(() => createGatewayLogger({ level: 'verbose' })).toThrow(/`level` to be one of .*got `"verbose"`/);
    expect(() => createGatewayLogger({ destination: {} as never })).toThrow(/`destination`/);
    expect(() => createGatewayLogger({ enabled: 'no' as never })).toThrow(/`enabled` to be a boolean/);
  });
});

describe('requestIdOf', () => {
  it('keeps a sane incoming x-request-id', () => {
    expect(requestIdOf({ 'x-request-id': 'abc-123_XYZ:9' })).toBe('abc-123_XYZ:9');
    expect(requestIdOf({ 'x-request-id': ['first', 'second'] })).toBe('first');
    expect(requestIdOf({ 'x-request-id': 'a'.repeat(128) })).toBe('a'.repeat(128));
  });

  it('generates a UUID when it is missing, empty, too long or not printable', () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const given of [undefined, '', 'a'.repeat(129), 'a\nforged', 'tab\there', 'ünïcode', 'with space'])
      expect(requestIdOf({ 'x-request-id': given })).toMatch(uuid);
    expect(requestIdOf({})).not.toBe(requestIdOf({}));
  });
});
