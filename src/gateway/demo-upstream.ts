import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A running demo upstream.
 *
 * @example
 * ```ts
 * const upstream: DemoUpstream = await startDemoUpstream();
 * console.log(upstream.url);
 * ```
 */
export interface DemoUpstream {
  readonly server: Server;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts a small fake API that answers every route: `200` with a JSON description of the request
 * (`method`, `path`, `query`, the number of body bytes it read). `?delay=MS` (up to 30 s) answers late, for
 * trying concurrency limits; `?status=N` answers with that status. The stand-in upstream behind `npm start`
 * and `sluice mock`.
 *
 * @example
 * ```ts
 * const upstream = await startDemoUpstream({ port: 0 });
 * const res = await fetch(`${upstream.url}/items?delay=100`);
 * await upstream.close();
 * ```
 */
export async function startDemoUpstream(
  options: { host?: string; port?: number } = {},
): Promise<DemoUpstream> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream.local');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      const delay = Math.min(Math.max(0, Number(url.searchParams.get('delay')) || 0), 30_000);
      const asked = Number(url.searchParams.get('status'));
      const status = Number.isInteger(asked) && asked >= 200 && asked <= 599 ? asked : 200;
      const answer = () => {
        if (res.destroyed) return;
        const body = JSON.stringify({
          ok: status < 400,
          method: req.method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          bodyBytes: bytes,
        });
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      };
      if (delay > 0) setTimeout(answer, delay).unref();
      else answer();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
