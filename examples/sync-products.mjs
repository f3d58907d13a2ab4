// A resumable sync job, for `sluice run` (see the README, "Batch jobs"): pushes 120 products to the
// Sales-data API at its documented pace (50 requests per 10 s, at 90 %), with a checkpoint, a lock and
// progress. Against the local stand-in of that API:
//
//   npx sluice mock --preset sales-data --port 8081 &
//   npx sluice run examples/sync-products.mjs --checkpoint /tmp/sync-products.json
//
// Stop it with Ctrl-C and run it again: it resumes after the last confirmed product.
import { createClient, HttpStatusError } from 'sluice/client';
import { presets } from 'sluice/presets';

const baseUrl = process.env.SALES_DATA_URL ?? 'http://127.0.0.1:8081';
const client = createClient({
  baseUrl,
  headers: { 'x-api-key': 'example-key' },
  ...presets['sales-data'].client,
});

export default () => ({
  name: 'sync-products',
  items: Array.from({ length: 120 }, (_, i) => ({ id: i + 1, name: `product ${i + 1}` })),
  total: 120,
  id: (product) => String(product.id),
  process: async (product, { signal }) => {
    const response = await client.fetch(`/products/${product.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'idempotency-key': `sync-products-${product.id}` },
      body: JSON.stringify(product),
      signal,
    });
    await response.arrayBuffer();
    if (!response.ok) throw new HttpStatusError(response);
  },
  concurrency: 4,
  client,
});
