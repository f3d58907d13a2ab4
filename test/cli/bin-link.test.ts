import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const pkg = JSON.parse(
  execFileSync(process.execPath, ['-p', 'JSON.stringify(require("./package.json"))'], { encoding: 'utf8' }),
) as { version: string };

describe('the sluice command', () => {
  it('runs when started through a link, as npm installs it (node_modules/.bin/sluice)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bin-'));
    try {
      const link = join(dir, 'sluice');
      symlinkSync(main, link);
      const out = execFileSync(process.execPath, ['--import', 'tsx', link, '--version'], {
        encoding: 'utf8',
      });
      expect(out.trim()).toBe(pkg.version);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
