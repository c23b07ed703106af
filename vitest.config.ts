import { defineConfig } from 'vitest/config';

// One JSON report for every run: .ci/run counts passed and failed tests from it.
// Projects run in groupOrder: unit, then integration, then containers, then chaos.
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
          name: 'containers',
          include: ['test/containers/**/*.test.ts'],
          globalSetup: ['test/harness/global-docker.ts'],
          // The reaper image cannot be pulled without a registry; each test stops what it started.
          // Published ports are reached on loopback: testcontainers would otherwise take the
          // bridge gateway for the Docker host wherever /.dockerenv exists, as it does here.
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
          fileParallelism: false,
          sequence: { groupOrder: 2 },
          testTimeout: 300_000,
          hookTimeout: 180_000,
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
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
