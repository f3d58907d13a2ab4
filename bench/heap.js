// Heap bytes per idle key: one implementation per process (argv[2]), 1M distinct keys created on the fly
// (so each store pays for the key strings it keeps), then a full GC. Counts the JS heap plus ArrayBuffer
// memory, since a store may keep state outside the heap. Prints JSON.
import { IMPLEMENTATIONS } from './peers.js';

const KEYS = 1_000_000;
const impl = IMPLEMENTATIONS.find((i) => i.name === process.argv[2]);
if (impl === undefined || typeof globalThis.gc !== 'function') {
  console.error('usage: node --expose-gc bench/heap.js <implementation name>');
  process.exit(2);
}
const used = () => {
  for (let i = 0; i < 3; i++) globalThis.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const before = used();
const subject = impl.make('allowed');
for (let i = 0; i < KEYS; i++) {
  const r = subject.call(`user-${i}`);
  if (subject.async) await r;
}
const after = used();
// Keep the store alive past the measurement.
subject.call('user-0');
console.log(JSON.stringify({ name: impl.name, bytesPerKey: (after - before) / KEYS }));
