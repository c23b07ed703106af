#!/usr/bin/env node
// npm run fuzz -- [--minutes N] [--seed S]: the fuzzer of test/integration/fuzz.test.ts for N minutes
// (default 30), against a real nats-server and broker. Prints the seed and the counts as JSON.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${name} needs a positive number, got '${args[i + 1] ?? ''}'`);
    process.exit(2);
  }
  return v;
};
const minutes = value('--minutes', 30);
const seed = value('--seed', Date.now() % 2 ** 31);
const budgetMs = Math.round(minutes * 60_000);
const result = spawnSync(
  'npx',
  ['vitest', 'run', '--project', 'integration', 'test/integration/fuzz.test.ts', `--testTimeout=${budgetMs + 300_000}`],
  { stdio: 'inherit', env: { ...process.env, MILLRACE_FUZZ_MS: String(budgetMs), MILLRACE_FUZZ_SEED: String(seed) } },
);
process.exit(result.status ?? 1);
