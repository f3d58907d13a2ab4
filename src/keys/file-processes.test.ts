import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createKeyRegistry } from './index.js';

const INDEX = fileURLToPath(new URL('./index.ts', import.meta.url));
const SEED_MESSAGE =
  'You’ve reached your limit of 25 API keys. Please delete any unused API keys and try again.';

/** One OS process: `count` concurrent creates on `file`, each account `acme`; reports what it got. */
const WORKER = `
const { createKeyRegistry } = await import(process.argv[1]);
const [file, count, max, startAt] = process.argv.slice(2);
// Every process starts at the same instant, so that their writes truly overlap.
await new Promise((resolve) => setTimeout(resolve, Number(startAt) - Date.now()));
const registry = createKeyRegistry({ file, maxActivePerAccount: Number(max), lockTimeoutMs: 20000 });
const results = await Promise.allSettled(
  Array.from({ length: Number(count) }, (_, i) => registry.create({ account: 'acme', label: 'p' + process.pid + '-' + i })),
);
console.log(JSON.stringify({
  made: results.flatMap((r) => (r.status === 'fulfilled' ? [{ id: r.value.id, key: r.value.key }] : [])),
  refused: results.flatMap((r) => (r.status === 'rejected' ? [{ code: r.reason.code, message: r.reason.message }] : [])),
}));
`;

interface Report {
  made: { id: string; key: string }[];
  refused: { code: string; message: string }[];
}

function runWorker(file: string, count: number, max: number, startAt: number): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        WORKER,
        INDEX,
        file,
        String(count),
        String(max),
        String(startAt),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.once('error', reject);
    // 'close', not 'exit': the report is complete only once the child's stdout has closed.
    child.once('close', (code) =>
      code === 0 ? resolve(JSON.parse(out) as Report) : reject(new Error(`worker exited ${code}`)),
    );
  });
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-keys-procs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('4 processes × 10 concurrent creates on one file, max 25: exactly 25 made, none lost, 15 refused', async () => {
  const file = join(dir, 'keys.json');
  const startAt = Date.now() + 2000;
  const reports = await Promise.all([0, 1, 2, 3].map(() => runWorker(file, 10, 25, startAt)));
  const made = reports.flatMap((r) => r.made);
  const refused = reports.flatMap((r) => r.refused);
  expect(made).toHaveLength(25);
  expect(refused).toEqual(
    Array.from({ length: 15 }, () => ({ code: 'ERR_SLUICE_KEY_LIMIT', message: SEED_MESSAGE })),
  );
  const stored = JSON.parse(readFileSync(file, 'utf8')).keys as { id: string }[];
  expect(stored.map((k) => k.id).sort()).toEqual(made.map((k) => k.id).sort());
  const registry = createKeyRegistry({ file });
  for (const { id, key } of made)
    expect(await registry.authenticate(key)).toMatchObject({ id, account: 'acme' });
  expect(readdirSync(dir)).toEqual(['keys.json']);
});
