// Support of the benchmarks: CPU pinning and the cleanup of server children.
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

/**
 * CPU pinning, when `taskset` is there and the machine has at least 2 cores: every server child runs on the
 * last core and this process (the load generator) on the others, so that the scheduler never puts a server
 * and the load generator on one core in one run and apart in the next (a large source of noise between
 * server processes). Returns the server core, or undefined when unpinned.
 */
export function pinning() {
  const count = cpus().length;
  if (count < 2) return undefined;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', `0-${count - 2}`, String(process.pid)], { stdio: 'ignore' });
    return count - 1;
  } catch {
    return undefined;
  }
}

/** Server children still running: should this process die without stopping them, they must not outlive it. */
export const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
