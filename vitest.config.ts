import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn the CLI and read its stdout; vitest must not swallow console output.
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two files at a time: integration tests mostly wait (PostgreSQL start-up, services, child processes), and each file
    // binds its own loopback addresses (127.0.0.x per file, see the test files), so two never share a port. Serial, the
    // suite's files add up to about 20 minutes here; two at a time take about 11.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
