import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn the CLI and read its stdout; vitest must not swallow console output.
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start PostgreSQL clusters and bind loopback ports: keep files serial on 2 cores.
    fileParallelism: false,
    pool: 'forks',
  },
});
