// Redis commands per decision, counted by the server. INFO commandstats (after CONFIG RESETSTAT) gives the
// calls and server time of every command, but counts a command run inside a script like one sent by a
// client; MONITOR tells the two apart (a script's commands come from "lua"). Both are read in one pass.

/** Admin commands of the measurement itself, never counted. */
const OWN = new Set(['config|resetstat', 'info', 'echo', 'monitor']);
const SENTINEL = 'sluice-bench-end-of-pass';

/** `{ command → { calls, usec } }` from INFO commandstats. */
async function commandStats(client) {
  const info = await client.info('commandstats');
  const stats = new Map();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    if (!OWN.has(m[1])) stats.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return stats;
}

/**
 * Runs `pass()` (which makes `decisions` decisions) twice with the counters reset: once plain, for the calls
 * and server time of each command, then with a MONITOR connection open (whose feeding would otherwise be
 * billed to the scripts), to tell top-level commands from those run inside scripts. Returns per-decision
 * counts of both, and the server's time per decision in top-level commands (µs, their scripts included).
 */
export async function countCommands(client, decisions, pass) {
  await client.config('RESETSTAT');
  await pass();
  const stats = await commandStats(client);

  const monitor = await client.monitor();
  const topLevel = new Map();
  const inScripts = new Map();
  let done;
  const ended = new Promise((resolve) => {
    done = resolve;
  });
  monitor.on('monitor', (_time, args, source) => {
    const name = String(args[0]).toLowerCase();
    if (name === 'echo' && args[1] === SENTINEL) return done();
    if (name === 'config' || name === 'info') return;
    const counts = source === 'lua' ? inScripts : topLevel;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  });
  await pass();
  await client.echo(SENTINEL);
  await ended;
  monitor.disconnect();
  // Both passes should agree on every command's count (a script that branches on its key's state may not).
  const names = new Set([...stats.keys(), ...topLevel.keys(), ...inScripts.keys()]);
  const disagreements = [];
  for (const name of names) {
    const calls = stats.get(name)?.calls ?? 0;
    const seen = (topLevel.get(name) ?? 0) + (inScripts.get(name) ?? 0);
    if (seen !== calls) disagreements.push(`${name}: commandstats ${calls}, MONITOR ${seen}`);
  }
  const perDecision = (counts) =>
    [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${(n / decisions).toFixed(2)}`);
  let usec = 0;
  for (const name of topLevel.keys()) usec += stats.get(name)?.usec ?? 0;
  return {
    topLevel: perDecision(topLevel),
    inScripts: perDecision(inScripts),
    serverUsec: usec / decisions,
    disagreements,
  };
}
