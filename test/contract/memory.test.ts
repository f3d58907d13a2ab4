import { createManualClock, createMemoryStore } from '../../src/index.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract({
  name: 'memory',
  create: async (startMs) => {
    const clock = createManualClock(startMs);
    return { store: createMemoryStore({ clock: clock.now }), clock };
  },
});
