import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A private `redis-server` for tests: loopback only, persistence off, stopped by the test. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Starts it again on the same port (after `kill`). */
  start(): Promise<void>;
  /** SIGKILL, as a crash would: no shutdown, connections reset. */
  kill(): Promise<void>;
  /** Stops it for good and removes its directory. */
  stop(): Promise<void>;
}

/** The `redis-server` binary on the PATH, if any. */
export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

let warned = false;

/**
 * Whether the Redis tests can run. Without `redis-server` they are skipped with a visible notice, unless
 * `SLUICE_REQUIRE_REDIS=1`, when this throws (and the tests fail).
 */
export function redisAvailable(): boolean {
  if (findRedisServer() !== undefined) return true;
  if (process.env.SLUICE_REQUIRE_REDIS === '1') {
    throw new Error(
      'SLUICE_REQUIRE_REDIS=1 but redis-server is not on the PATH (apt-get install -y redis-server)',
    );
  }
  if (!warned) {
    warned = true;
    console.warn(
      '\n*** NOTICE: redis-server is not on the PATH: the Redis store tests are SKIPPED. ' +
        'Install it (apt-get install -y redis-server) or set SLUICE_REQUIRE_REDIS=1 to make this an error. ***\n',
    );
  }
  return false;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING, or rejects after `timeoutMs`. */
async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.setTimeout(500);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts a private `redis-server` on a free loopback port; `extra` adds server arguments. */
export async function startRedisServer(extra: readonly string[] = []): Promise<RedisServer> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error('redis-server is not on the PATH');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-redis-'));
  let child: ChildProcess | undefined;
  const exited = new Map<ChildProcess, Promise<void>>();

  const start = async () => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...extra,
    ];
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    exited.set(proc, new Promise((resolve) => proc.once('exit', () => resolve())));
    child = proc;
    await waitForPing(port);
  };
  const kill = async () => {
    const proc = child;
    if (proc === undefined) return;
    child = undefined;
    proc.kill('SIGKILL');
    await exited.get(proc);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    kill,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
