import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisAvailable, startRedisServer } from '../../test/redis/harness.js';
import { createKeyRegistry, KeyLimitError, type KeyRegistry } from './index.js';

type Command =
  | { readonly op: 'create'; readonly account: string }
  | { readonly op: 'revoke'; readonly account: string; readonly pick: number };

const accounts = fc.constantFrom('a', 'b');
const commands = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('create' as const), account: accounts }),
    fc.record({ op: fc.constant('revoke' as const), account: accounts, pick: fc.nat(20) }),
  ),
  { maxLength: 25 },
);

/** A fresh temporary file per run, removed afterwards. */
async function withFile<T>(body: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-prop-'));
  try {
    return await body(join(dir, 'keys.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `commands` against the registry and a model; they must agree at every step. */
async function agreesWithModel(
  registry: KeyRegistry,
  max: number,
  script: readonly Command[],
): Promise<void> {
  const model = new Map<string, { account: string; key: string; active: boolean }>();
  const activeOf = (account: string) => [...model.values()].filter((k) => k.account === account && k.active);
  for (const command of script) {
    if (command.op === 'create') {
      const full = activeOf(command.account).length >= max;
      const made = await registry.create({ account: command.account }).catch((e: unknown) => e);
      expect(made instanceof KeyLimitError).toBe(full);
      if (!full) {
        const { id, key } = made as { id: string; key: string };
        model.set(id, { account: command.account, key, active: true });
      }
    } else {
      const ids = [...model.keys()];
      const id = ids[command.pick] ?? `key_missing${command.pick}`;
      const entry = model.get(id);
      const expected = entry !== undefined && entry.account === command.account && entry.active;
      expect(await registry.revoke({ account: command.account, id })).toBe(expected);
      if (expected) entry!.active = false;
    }
    for (const account of ['a', 'b']) {
      const listed = await registry.list({ account });
      const active = listed.filter((k) => k.revokedAt === undefined);
      expect(active.length).toBeLessThanOrEqual(max);
      expect(active.length).toBe(activeOf(account).length);
    }
  }
  for (const [id, entry] of model) {
    const who = await registry.authenticate(entry.key);
    expect(who).toEqual(entry.active ? { id, account: entry.account, user: id } : undefined);
  }
}

/** Concurrent creates over several registries: exactly min(asked, free) are made, all of them kept. */
async function concurrentCreates(registries: readonly KeyRegistry[], max: number, asked: readonly number[]) {
  const results = await Promise.allSettled(
    asked.flatMap((n, r) => Array.from({ length: n }, () => registries[r]!.create({ account: 'acme' }))),
  );
  const made = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []));
  const total = asked.reduce((a, b) => a + b, 0);
  expect(made).toHaveLength(Math.min(total, max));
  for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(KeyLimitError);
  return made;
}

describe('key registry properties, file backend', () => {
  it('random create/revoke sequences never exceed the maximum and match a model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), commands, (max, script) =>
        withFile((file) =>
          agreesWithModel(createKeyRegistry({ file, maxActivePerAccount: max }), max, script),
        ),
      ),
      { numRuns: 40 },
    );
  });

  it('concurrent creates from three registries on one file make exactly min(asked, max) keys, all kept', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat(6), { minLength: 3, maxLength: 3 }),
        (max, asked) =>
          withFile(async (file) => {
            const registries = asked.map(() => createKeyRegistry({ file, maxActivePerAccount: max }));
            const made = await concurrentCreates(registries, max, asked);
            const stored =
              made.length === 0
                ? []
                : JSON.parse(readFileSync(file, 'utf8')).keys.map((k: { id: string }) => k.id);
            expect(stored.sort()).toEqual(made.sort());
          }),
      ),
      { numRuns: 15 },
    );
  });
});

describe.runIf(redisAvailable())('key registry properties, Redis backend', () => {
  let server: RedisServer;
  let clients: Redis[];
  let run = 0;
  beforeAll(async () => {
    server = await startRedisServer();
    clients = [0, 1, 2].map(() => new Redis(server.port, '127.0.0.1'));
  });
  afterAll(async () => {
    for (const client of clients ?? []) client.disconnect();
    await server?.stop();
  });

  it('random create/revoke sequences never exceed the maximum and match a model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), commands, (max, script) =>
        agreesWithModel(
          createKeyRegistry({ redis: clients[0]!, prefix: `seq${++run}`, maxActivePerAccount: max }),
          max,
          script,
        ),
      ),
      { numRuns: 40 },
    );
  });

  it('concurrent creates over three connections make exactly min(asked, max) keys, all kept', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat(8), { minLength: 3, maxLength: 3 }),
        async (max, asked) => {
          const prefix = `par${++run}`;
          const registries = clients.map((redis) =>
            createKeyRegistry({ redis, prefix, maxActivePerAccount: max }),
          );
          const made = await concurrentCreates(registries, max, asked);
          const listed = await registries[0]!.list({ account: 'acme' });
          expect(listed.map((k) => k.id).sort()).toEqual(made.sort());
        },
      ),
      { numRuns: 30 },
    );
  });
});
