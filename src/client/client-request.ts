import type { ResolvedClientOptions } from './client-options.js';

/** What `fetch` accepts as its first argument (a URL string, a `URL` or a `Request`). */
export type FetchInput = Parameters<typeof globalThis.fetch>[0];

/**
 * Builds the request a client sends: a relative string URL is resolved against `baseUrl`, and the default
 * headers are added where the request does not set them.
 */
export function buildRequest(
  input: FetchInput,
  init: RequestInit | undefined,
  options: ResolvedClientOptions,
): Request {
  const target =
    typeof input === 'string' && options.baseUrl !== undefined ? new URL(input, options.baseUrl) : input;
  const request = new Request(target, init);
  for (const [name, value] of options.headers) {
    if (!request.headers.has(name)) request.headers.set(name, value);
  }
  return request;
}

/** A JSON body's value for the hints (`nextValidRequestDate`), read from a clone; `undefined` otherwise. */
export async function jsonBodyOf(response: Response): Promise<unknown> {
  if (!(response.headers.get('content-type') ?? '').includes('json')) return undefined;
  try {
    return await response.clone().json();
  } catch {
    return undefined;
  }
}

/** Frees the connection of a response that is discarded. */
export async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // Already read or errored: nothing to free.
  }
}

/** A failure of the underlying fetch, told apart from the scheduler's own rejections. */
export class SendFailure extends Error {
  constructor(readonly failure: unknown) {
    super('fetch failed');
  }
}
