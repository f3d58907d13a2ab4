import { createServer, type Server } from 'node:http';

/** A fake upstream for job tests: `POST /items/:id` with an `Idempotency-Key`, counted per item. */
export interface Upstream {
  readonly url: string;
  /** Raw hits per item id (duplicates included). */
  readonly hits: Map<string, number>;
  /** Idempotency keys whose work was done (a repeated key is answered from the record, not redone). */
  readonly processed: Set<string>;
  /** Work done per item id: must be 1 for every item. */
  readonly work: Map<string, number>;
  close(): Promise<void>;
}

/**
 * Starts the fake upstream on 127.0.0.1. `delayMs` is the work time of a request; `status(id, hit)` can answer
 * something else than 200 (e.g. 422 for a bad item, 503 for its first hit).
 */
export async function startUpstream(
  options: { delayMs?: number; status?: (id: string, hit: number) => number } = {},
): Promise<Upstream> {
  const hits = new Map<string, number>();
  const processed = new Set<string>();
  const work = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const id = /^\/items\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '';
    const hit = (hits.get(id) ?? 0) + 1;
    hits.set(id, hit);
    req.resume();
    setTimeout(() => {
      const status = options.status?.(id, hit) ?? 200;
      if (status === 200) {
        const key = String(req.headers['idempotency-key'] ?? `none-${Math.random()}`);
        if (!processed.has(key)) {
          processed.add(key);
          work.set(id, (work.get(id) ?? 0) + 1);
        }
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    }, options.delayMs ?? 0);
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    processed,
    work,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Item ids `item-0` … `item-(n−1)`. */
export const itemIds = (n: number) => Array.from({ length: n }, (_, i) => `item-${i}`);

/** Collects what a job writes (a terminal `columns` wide, if given). */
export function captureOutput(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return {
    isTTY,
    ...(columns !== undefined && { columns }),
    chunks,
    write: (text: string) => chunks.push(text),
    text: () => chunks.join(''),
  };
}
