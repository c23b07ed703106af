import { defineConfig } from 'vitest/config';

// One JSON report for every run: .ci/run counts passed and failed tests from it.
// Projects run in groupOrder: unit, then integration, then chaos.
export default defineConfig({
  test: {
    reporters: ['default', 'json'],
    outputFile: { json: 'reports/vitest.json' },
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-nats.ts'],
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          // Fault timing (sessions, lag) needs the cores: chaos runs after the other projects.
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
