import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCheckCommand } from '../../src/cli/gateway.js';
import { main } from '../../src/cli/main.js';
import { freePort } from '../redis/harness.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-cli-')), 'sluice.yaml');
  writeFileSync(path, text);
  return path;
}

describe('sluice check', () => {
  it('accepts a valid configuration and lists its policies', async () => {
    const lines: string[] = [];
    const path = file('upstream: { url: "http://127.0.0.1:3000" }\npreset: sales-data\n');
    expect(await runCheckCommand(['--config', path], (l) => lines.push(l))).toBe(0);
    expect(lines.join('\n')).toMatch(/OK — 1 policies: sales-data \(enforce\)/);
  });

  it('refuses a broken configuration with a message that names the path and the expectation', async () => {
    const lines: string[] = [];
    const path = file(
      'upstream: { url: "http://127.0.0.1:3000" }\npolicies:\n  - name: p\n    limits: [{ type: fixedWindow, limit: 5, window: ten }]\n',
    );
    expect(await main(['check', '--config', path], (l) => lines.push(l))).toBe(1);
    expect(lines.join('\n')).toContain('policies[0].limits[0].window');
    expect(lines.join('\n')).toMatch(/duration/);
  });

  it('validates header, rejection and client-IP options at check time, with their paths', async () => {
    const cases: [string, RegExp][] = [
      ['headers: { profiles: ietf }', /`headers\.profiles` to be a list/],
      ['headers: { profile: [ietf] }', /`headers\.profile`/],
      [
        'rejection: { statuses: { rate: 99 } }',
        /`rejection\.statuses\.rate` to be an integer from 400 to 599/,
      ],
      ['clientIp: { trustProxy: yes-please }', /`clientIp\.trustProxy`/],
      ['keys: { file: /nonexistent/keys.json }', /`keys\.file`/],
    ];
    for (const [extra, message] of cases) {
      const lines: string[] = [];
      const path = file(`preset: sales-data\nupstream: { url: "http://127.0.0.1:3000" }\n${extra}\n`);
      expect(await runCheckCommand(['--config', path], (l) => lines.push(l)), extra).toBe(1);
      expect(lines.join('\n'), extra).toMatch(message);
    }
  });

  it('names an unknown preset and a missing upstream', async () => {
    const lines: string[] = [];
    expect(
      await runCheckCommand(['--config', file('preset: stripe\nupstream: { url: "http://x" }\n')], (l) =>
        lines.push(l),
      ),
    ).toBe(1);
    expect(lines.pop()).toMatch(/`preset`.*"sales-data"/);
    expect(await runCheckCommand(['--config', file('preset: sales-data\n')], (l) => lines.push(l))).toBe(1);
    expect(lines.pop()).toMatch(/upstream/);
    expect(await runCheckCommand(['--nope'], (l) => lines.push(l))).toBe(2);
    // A preset keyed by the caller needs API keys: without them every caller would share one budget.
    expect(
      await runCheckCommand(
        ['--config', file('preset: merchant-api\nupstream: { url: "http://x" }\n')],
        (l) => lines.push(l),
      ),
    ).toBe(1);
    expect(lines.pop()).toMatch(/`merchant-api`.*keyed by the caller.*keys: \{ file \}/);
  });
});

describe('sluice mock', () => {
  it('starts a stand-in of a reference API: its limits in front of a fake upstream, stopped by SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'mock', '--preset', 'merchant-api', '--port', String(port)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('X-API-Key')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`mock exited (${code}): ${out}`)));
    });
    try {
      const url = `http://127.0.0.1:${port}/v1/orders`;
      expect((await fetch(url)).status).toBe(401);
      const ok = await fetch(url, { headers: { 'x-api-key': 'anything' } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ ok: true, path: '/v1/orders' });
      expect(ok.headers.get('ratelimit-limit')).toBe('60');
      expect(ok.headers.get('x-concurrency-limit')).toBe('5');
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 30_000);
});
