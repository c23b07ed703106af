/**
 * The Streams examples in docs/examples run as the docs say (`node docs/examples/<name>.mjs
 * <nats-url> <cluster>`, here against a broker of the test's own) and print what they promise.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot, requireBuild, runNode } from '../harness/cli.js';
import { QUICK_GROUPS, startBroker, stopAll, uniqueCluster, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
const cluster = uniqueCluster('examples');

beforeAll(async () => {
  requireBuild();
  brokers.push(
    await startBroker(inject('natsUrl'), cluster, 1, {
      ...QUICK_GROUPS,
      transactionStateLogNumPartitions: 1,
      transactionStateLogReplicationFactor: 1,
    }),
  );
}, 60_000);

afterAll(async () => {
  await stopAll(brokers);
});

async function example(name: string): Promise<string> {
  const r = await runNode(
    [path.join(repoRoot, 'docs/examples', `${name}.mjs`), inject('natsUrl'), cluster],
    '',
    90_000,
  );
  expect(r.status, `${name}: ${r.stderr.slice(-2_000)}`).toBe(0);
  return r.stdout;
}

describe('docs/examples', () => {
  it('word-count counts words through a repartition', async () => {
    const out = await example('word-count');
    expect(out).toContain("the: '3'");
    expect(out).toContain("fox: '1'");
  }, 120_000);

  it('page-views emits each closed minute window once', async () => {
    const out = await example('page-views');
    expect(out).toContain("'/home@2026-01-01T12:00:00.000Z': '2'");
    expect(out).toContain("'/cart@2026-01-01T12:00:00.000Z': '1'");
  }, 120_000);

  it('orders-enrichment joins orders with their customers', async () => {
    const out = await example('orders-enrichment');
    expect(out).toContain('"customer":"Ada","tier":"gold"');
    expect(out).toContain('"customer":"Linus"');
  }, 120_000);
});
