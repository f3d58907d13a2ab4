import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classOf, compilePath, normalisedPath, segmentsOf } from './match.js';

describe('request classes and path patterns', () => {
  it('GET, HEAD and OPTIONS are queries; every other method is a command', () => {
    expect(['GET', 'head', 'OPTIONS'].map(classOf)).toEqual(['query', 'query', 'query']);
    expect(['POST', 'PUT', 'PATCH', 'DELETE', 'PURGE'].map(classOf)).toEqual(Array(5).fill('command'));
  });

  it('captures named parameters (decoded) and makes one endpoint per route, not per value', () => {
    const route = compilePath('/platform/v2/process/:siteIdentifier');
    expect(route.match('/platform/v2/process/site%209?x=1')).toEqual({
      params: { siteIdentifier: 'site 9' },
      endpoint: '/platform/v2/process/:siteIdentifier',
    });
    expect(route.match('/platform/v2/process/site-9/')?.params.siteIdentifier).toBe('site-9');
    expect(route.match('/platform/v2/process')).toBeUndefined();
    expect(route.match('/platform/v2/process/a/b')).toBeUndefined();
    expect(route.match('/platform/v2/process/%E0%A4%A')?.params.siteIdentifier).toBe('%E0%A4%A');
  });

  it('`*` matches one segment and `**` any rest; the endpoint keeps the concrete segments', () => {
    expect(compilePath('/v1/*/items').match('/v1/shop-1/items')?.endpoint).toBe('/v1/shop-1/items');
    expect(compilePath('/v1/*/items').match('/v1/items')).toBeUndefined();
    const all = compilePath('/**');
    expect(all.match('/')?.endpoint).toBe('/');
    expect(all.match('/a/b/c')?.endpoint).toBe('/a/b/c');
    expect(compilePath('/v1/reports/**').match('/v1/reports')?.endpoint).toBe('/v1/reports');
    expect(compilePath('/v1/reports/**').match('/v1/other')).toBeUndefined();
  });

  it('resolves dot segments (escaped ones too), so no spelling reaches another route', () => {
    expect(segmentsOf('/v1/data-sources/../communicate/email')).toEqual(['v1', 'communicate', 'email']);
    expect(segmentsOf('/v1/./a/%2e%2e/b')).toEqual(['v1', 'b']);
    expect(segmentsOf('/../../etc')).toEqual(['etc']);
    expect(normalisedPath('/a/../b')).toBe('/b');
    expect(normalisedPath('/a/.hidden/b')).toBe('/a/.hidden/b');
    const communicate = compilePath('/v1/communicate/**');
    expect(communicate.match('/v1/data-sources/../communicate/email')).toBeDefined();
    expect(compilePath('/v1/data-sources/**').match('/v1/data-sources/../communicate/email')).toBeUndefined();
  });

  it('a parameter named __proto__ is an ordinary parameter', () => {
    const params = compilePath('/x/:__proto__').match('/x/polluted')?.params;
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses bad patterns, naming the option', () => {
    expect(() => compilePath('items', 'policies[0].match.paths[1]')).toThrow(
      /`policies\[0\]\.match\.paths\[1\]`/,
    );
    expect(() => compilePath('/a/**/b')).toThrow(/may only end/);
    expect(() => compilePath('/a/:id/:id')).toThrow(/each parameter once/);
    expect(() => compilePath('/a/:1x')).toThrow(/parameter/);
  });

  it('property: matching never throws, and a match rebuilds to the same number of segments', () => {
    const pattern = compilePath('/api/:version/*/items/**');
    fc.assert(
      fc.property(fc.string(), (path) => {
        const found = pattern.match(path);
        if (found !== undefined) expect(found.endpoint.startsWith('/api/:version/')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
