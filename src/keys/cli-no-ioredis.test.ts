import { expect, it, vi } from 'vitest';
import { runKeysCommand } from './cli.js';

// As if ioredis (a dev dependency only) were not installed.
vi.mock('ioredis', () => {
  throw new Error("Cannot find package 'ioredis'");
});

it('--redis without ioredis installed: exit 1 and a message saying what to install', async () => {
  const lines: string[] = [];
  const code = await runKeysCommand(['list', '--account', 'a', '--redis', 'redis://127.0.0.1:1'], (l) =>
    lines.push(l),
  );
  expect(code).toBe(1);
  expect(lines).toEqual([
    '`--redis` needs the ioredis package, which is not installed: run `npm install ioredis`, or use --file',
  ]);
});
