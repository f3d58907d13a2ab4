import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Writes a job module into `dir`: it POSTs each of `count` items to `UPSTREAM/items/:id` with an
 * Idempotency-Key, logs each `process` call to `calls.log` and each confirmed id to `confirmed.log` (appended
 * synchronously, so a SIGKILL loses none).
 */
export function writeJobModule(dir: string, count: number): string {
  const file = join(dir, 'job.ts');
  writeFileSync(
    file,
    `import { appendFileSync } from 'node:fs';
import { createClient, HttpStatusError } from ${JSON.stringify(join(root, 'src/client/index.ts'))};
import type { JobOptions } from ${JSON.stringify(join(root, 'src/job/index.ts'))};

const dir = ${JSON.stringify(dir)};
export default (): JobOptions<string> => {
  const client = createClient({ baseUrl: process.env.UPSTREAM + '/', retry: { maxAttempts: 1 } });
  return {
    name: 'kill-test',
    items: Array.from({ length: ${count} }, (_, i) => 'item-' + i),
    id: (id) => id,
    concurrency: 4,
    process: async (id, { signal }) => {
      appendFileSync(dir + '/calls.log', id + '\\n');
      const response = await client.fetch('items/' + id, {
        method: 'POST', headers: { 'idempotency-key': 'kill-test-' + id }, signal,
      });
      if (!response.ok) throw new HttpStatusError(response);
    },
    onConfirm: (ids) => appendFileSync(dir + '/confirmed.log', ids.map((id) => id + '\\n').join('')),
    client,
  };
};
`,
  );
  return file;
}

/** Runs `sluice run <args>` in a child process (through tsx); resolves its exit code and output. */
export function spawnCli(args: readonly string[], env: Record<string, string>) {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'run', ...args],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>(
    // 'close', not 'exit': the output is complete only once the child's stdio has closed.
    (resolve) => child.once('close', (code, signal) => resolve({ code, signal, output })),
  );
  return { child, exited };
}

/** Waits until `condition` holds (polling), or throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
