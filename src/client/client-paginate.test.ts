import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { HttpStatusError } from './client-errors.js';
import { paginate, parseLinkHeader } from './client-paginate.js';

type Handler = (url: URL, req: IncomingMessage, res: ServerResponse) => void;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A real HTTP server on 127.0.0.1; `hits` lists the path and query of every request. */
async function serve(handler: Handler): Promise<{ base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    hits.push(url.pathname + url.search);
    handler(url, req, res);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  closers.push(
    () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  );
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

function json(res: ServerResponse, body: unknown, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A fetch that answers from a function, for tests that need no server. */
function fakeFetch(answer: (url: string) => Response) {
  return async (input: string | URL | Request) => answer(String(input));
}

describe('parseLinkHeader', () => {
  it('reads several links, quoted and bare rel, rel lists and any case', () => {
    const links = parseLinkHeader(
      '<https://a.test/2>; rel="next last"; title="Page, two; of 9", <https://a.test/1>;REL=Prev, ' +
        '<https://a.test/x> ; Rel = "NEXT"',
    );
    expect(links).toEqual([
      {
        url: 'https://a.test/2',
        rel: ['next', 'last'],
        params: { rel: 'next last', title: 'Page, two; of 9' },
      },
      { url: 'https://a.test/1', rel: ['prev'], params: { rel: 'Prev' } },
      { url: 'https://a.test/x', rel: ['next'], params: { rel: 'NEXT' } },
    ]);
  });

  it('keeps semicolons and commas inside <> as part of the URL', () => {
    expect(parseLinkHeader('<https://a.test/p;v=1?a=1,2;b=3>; rel=next')).toEqual([
      { url: 'https://a.test/p;v=1?a=1,2;b=3', rel: ['next'], params: { rel: 'next' } },
    ]);
  });

  it('unescapes quoted strings and keeps the first of a repeated parameter', () => {
    const [link] = parseLinkHeader('<x>; title="say \\"hi\\", ok"; rel=next; rel=prev; anchor');
    expect(link?.params).toEqual({ title: 'say "hi", ok', rel: 'next', anchor: '' });
    expect(link?.rel).toEqual(['next']);
  });

  it('gives an empty rel list when rel is missing', () => {
    expect(parseLinkHeader('<https://a.test/>; type="text/html"')).toEqual([
      { url: 'https://a.test/', rel: [], params: { type: 'text/html' } },
    ]);
  });

  it('resolves relative references against the base, and keeps them as is without one', () => {
    const base = new URL('https://a.test/v1/items?page=1');
    expect(
      parseLinkHeader('<?page=2>; rel=next, <../v2/items>; rel=alternate', base).map((l) => l.url),
    ).toEqual(['https://a.test/v1/items?page=2', 'https://a.test/v2/items']);
    expect(parseLinkHeader('</items?page=2>; rel=next')[0]?.url).toBe('/items?page=2');
  });

  it('skips malformed links and empty elements', () => {
    expect(parseLinkHeader('')).toEqual([]);
    const links = parseLinkHeader(
      'garbage; rel="a, b", , <https://a.test/ok>; rel=next junk, <unclosed; rel=x',
    );
    expect(links.map((l) => [l.url, l.rel])).toEqual([['https://a.test/ok', ['next']]]);
  });
});

describe('paginate over a real server', () => {
  it('follows Link headers (relative, several fields) and sends init headers with accept', async () => {
    const seen: Array<{ accept: string | undefined; auth: string | undefined }> = [];
    const { base, hits } = await serve((url, req, res) => {
      seen.push({ accept: req.headers.accept, auth: req.headers.authorization });
      const page = Number(url.searchParams.get('page') ?? '1');
      const links = [`</items?page=1>; rel="first"`];
      if (page < 3) links.push(`<?page=${page + 1}>; rel="next last"`);
      json(res, [page * 10, page * 10 + 1], { link: links });
    });
    const init = { headers: { authorization: 'Bearer t' } };
    const items = await collect(paginate<number>(fetch, `${base}/items`, { init }));
    expect(items).toEqual([10, 11, 20, 21, 30, 31]);
    expect(hits).toEqual(['/items', '/items?page=2', '/items?page=3']);
    expect(seen[0]).toEqual({ accept: 'application/json', auth: 'Bearer t' });
  });

  it('keeps an accept header the caller set', async () => {
    const accepts: Array<string | undefined> = [];
    const { base } = await serve((_url, req, res) => {
      accepts.push(req.headers.accept);
      json(res, []);
    });
    await collect(paginate(fetch, `${base}/`, { init: { headers: { Accept: 'application/vnd.x+json' } } }));
    expect(accepts).toEqual(['application/vnd.x+json']);
  });

  it('follows a cursor in the body, keeping the other query parameters', async () => {
    const { base, hits } = await serve((url, _req, res) => {
      const cursor = url.searchParams.get('cursor');
      if (cursor === null) json(res, { data: ['a', 'b'], next_cursor: 'c2' });
      else if (cursor === 'c2') json(res, { data: ['c'], meta: { nextCursor: 7 } });
      else json(res, { data: ['d'], next_cursor: '' });
    });
    expect(await collect(paginate(fetch, `${base}/list?limit=2`))).toEqual(['a', 'b', 'c', 'd']);
    expect(hits).toEqual(['/list?limit=2', '/list?limit=2&cursor=c2', '/list?limit=2&cursor=7']);
  });

  it('puts the cursor in cursorParam', async () => {
    const { base, hits } = await serve((url, _req, res) => {
      if (url.searchParams.has('after')) json(res, { items: [2], pagination: { next_cursor: null } });
      else json(res, { items: [1], cursor: { next: 'x y' } });
    });
    expect(await collect(paginate(fetch, `${base}/l`, { cursorParam: 'after' }))).toEqual([1, 2]);
    expect(hits).toEqual(['/l', '/l?after=x+y']);
  });

  it('follows a next URL in the body, and ignores a `next` that is not a URL', async () => {
    const { base, hits } = await serve((url, _req, res) => {
      if (url.pathname === '/a') json(res, { results: [1], links: { next: '/b?x=1' } });
      else json(res, { results: [2], next: 'not-a-url' });
    });
    expect(await collect(paginate(fetch, `${base}/a`))).toEqual([1, 2]);
    expect(hits).toEqual(['/a', '/b?x=1']);
  });

  it('stops on has_more: false, hasMore: false and an empty page, even with a cursor', async () => {
    for (const last of [{ has_more: false }, { hasMore: false }, { records: [] as number[] }]) {
      const { base, hits } = await serve((url, _req, res) => {
        if (url.searchParams.has('cursor')) json(res, { records: [2], next_cursor: 'again', ...last });
        else json(res, { records: [1], next_cursor: 'c' });
      });
      const items = await collect(paginate(fetch, `${base}/`));
      expect(items).toEqual('records' in last ? [1] : [1, 2]);
      expect(hits).toHaveLength(2);
    }
  });

  it('is lazy: fetches the next page only when more items are asked for, and not after break', async () => {
    const { base, hits } = await serve((url, _req, res) => {
      const page = Number(url.searchParams.get('page') ?? '1');
      json(res, [page, page], { link: `<?page=${page + 1}>; rel=next` });
    });
    const iterator = paginate<number>(fetch, `${base}/`);
    expect(hits).toHaveLength(0);
    expect((await iterator.next()).value).toBe(1);
    expect((await iterator.next()).value).toBe(1);
    expect(hits).toHaveLength(1);
    expect((await iterator.next()).value).toBe(2);
    expect(hits).toHaveLength(2);

    const again = await serve((url, _req, res) => {
      json(res, [1, 2, 3], { link: `<?page=${Number(url.searchParams.get('page') ?? '1') + 1}>; rel=next` });
    });
    for await (const item of paginate<number>(fetch, `${again.base}/`)) if (item === 1) break;
    expect(again.hits).toHaveLength(1);
  });

  it('stops after maxPages', async () => {
    const { base, hits } = await serve((url, _req, res) => {
      const page = Number(url.searchParams.get('page') ?? '1');
      json(res, { data: [page] }, { link: `<?page=${page + 1}>; rel=next` });
    });
    expect(await collect(paginate(fetch, `${base}/`, { maxPages: 3 }))).toEqual([1, 2, 3]);
    expect(hits).toHaveLength(3);
  });

  it('stops when a next link repeats a URL already fetched', async () => {
    const { base, hits } = await serve((url, _req, res) => {
      if (url.pathname === '/same') json(res, [0], { link: '</same>; rel=next' });
      else json(res, [url.pathname], { link: `<${url.pathname === '/one' ? '/two' : '/one'}>; rel=next` });
    });
    expect(await collect(paginate(fetch, `${base}/same`))).toEqual([0]);
    expect(await collect(paginate(fetch, `${base}/one`))).toEqual(['/one', '/two']);
    expect(hits).toEqual(['/same', '/one', '/two']);
  });

  it('rejects with HttpStatusError on a page outside 2xx, after the items before it', async () => {
    const { base } = await serve((url, _req, res) => {
      if (url.searchParams.has('page')) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":"busy"}');
      } else json(res, [1], { link: '<?page=2>; rel=next' });
    });
    const seen: unknown[] = [];
    const error = await (async () => {
      for await (const item of paginate(fetch, `${base}/`)) seen.push(item);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([1]);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect((error as HttpStatusError).status).toBe(503);
  });

  it('rejects with an Error naming the URL when a page is not JSON', async () => {
    const { base } = await serve((_url, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>');
    });
    await expect(collect(paginate(fetch, `${base}/broken?x=1`))).rejects.toThrow(
      `Invalid JSON in the page at ${base}/broken?x=1`,
    );
  });
});

describe('paginate selectors', () => {
  it('uses the items selector, and the next function with the page', async () => {
    const urls: string[] = [];
    const fetchFn = fakeFetch((url) => {
      urls.push(url);
      const n = Number(new URL(url).searchParams.get('n') ?? '0');
      return Response.json({ payload: { rows: [`row${n}`] }, more: n < 2 });
    });
    const items = await collect(
      paginate<string>(fetchFn, 'https://api.test/rows', {
        items: (body) => (body as { payload: { rows: string[] } }).payload.rows,
        next: ({ body, url, items }) => {
          expect(items).toHaveLength(1);
          return (body as { more: boolean }).more
            ? `?n=${Number(url.searchParams.get('n') ?? '0') + 1}`
            : undefined;
        },
      }),
    );
    expect(items).toEqual(['row0', 'row1', 'row2']);
    expect(urls).toEqual(['https://api.test/rows', 'https://api.test/rows?n=1', 'https://api.test/rows?n=2']);
  });

  it('explains which fields it looked for when the items cannot be found', async () => {
    const fetchFn = fakeFetch(() => Response.json({ payload: [1] }));
    await expect(collect(paginate(fetchFn, 'https://api.test/x'))).rejects.toThrow(
      /https:\/\/api\.test\/x: expected the body to be an array or to have an array at `data`, `items`, `results`, `records`; pass `items`/,
    );
  });

  it('refuses a selector that does not return an array, or a next that returns a non-URL', async () => {
    const fetchFn = fakeFetch(() => Response.json([1]));
    await expect(
      collect(paginate(fetchFn, 'https://api.test/', { items: () => 'x' as never })),
    ).rejects.toThrow(/Expected `items` to be a function returning an array/);
    await expect(collect(paginate(fetchFn, 'https://api.test/', { next: () => 3 as never }))).rejects.toThrow(
      /Expected `next` to be a function returning a string, a URL or undefined/,
    );
  });
});

describe('paginate options', () => {
  const cases: Array<[string, unknown, unknown, RegExp]> = [
    [
      'maxPages',
      'https://a.test/',
      { maxPages: 0 },
      /Expected `maxPages` to be an integer ≥ 1 or `Infinity`, got `0`/,
    ],
    ['maxPages', 'https://a.test/', { maxPages: 1.5 }, /`maxPages`.*`1.5` \(number\)/],
    [
      'cursorParam',
      'https://a.test/',
      { cursorParam: '' },
      /Expected `cursorParam` to be a non-empty string/,
    ],
    ['items', 'https://a.test/', { items: 'data' }, /Expected `items` to be a function, got `"data"`/],
    ['next', 'https://a.test/', { next: 1 }, /Expected `next` to be a function/],
    ['init', 'https://a.test/', { init: null }, /Expected `init` to be an options object/],
    ['maxPage', 'https://a.test/', { maxPage: 2 }, /Unknown option `maxPage` in paginate\(\)/],
    ['paginate options', 'https://a.test/', 'fast', /Expected `paginate options` to be an options object/],
    ['input', '/relative', {}, /Expected `input` to be an absolute URL/],
  ];
  for (const [path, input, options, message] of cases) {
    it(`throws a ConfigError naming \`${path}\` at once for ${JSON.stringify(options)}`, () => {
      let error: unknown;
      try {
        paginate(fetch, input as string, options as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe(path);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('accepts maxPages: Infinity and a URL input', async () => {
    const fetchFn = fakeFetch(() => Response.json({ data: [1] }));
    expect(await collect(paginate(fetchFn, new URL('https://a.test/'), { maxPages: Infinity }))).toEqual([1]);
  });
});
