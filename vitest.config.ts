import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    // For the test that checks a garbage-collected limiter releases its table.
    execArgv: ['--expose-gc'],
  },
});
