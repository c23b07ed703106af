/**
 * Exactly once per partition: producers write numbered records through a fault proxy that drops
 * replies (the requests still arrive) and delays the rest, while a partition leader is killed
 * with SIGKILL. With idempotence every record is stored once and in send order; the same run
 * without it shows the duplicates the mechanism removes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosCluster } from '../../src/chaos/cluster.js';
import { FaultProxy } from '../../src/chaos/fault-proxy.js';
import { Millrace } from '../../src/client/index.js';
import { waitFor } from '../harness/cluster.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-chaos-idem-'));
const cluster = 'chaosidem';
const PARTITIONS = 4;
const RECORDS = 12_000;
let chaos: ChaosCluster;
let proxy: FaultProxy;
/** Reads and admin go direct; the producer's traffic goes through the proxy. */
let direct: Millrace;
let proxied: Millrace;

async function describe0(topic: string) {
  return (await direct.admin().describeTopics([topic]))[0]!.partitions;
}

interface RunResult {
  acknowledged: number;
  failed: number;
  stored: number;
  duplicates: number;
  orderViolations: number;
  missing: number;
  droppedReplies: number;
}

/**
 * Writes RECORDS numbered values (record i to partition i mod PARTITIONS), at most 12 sends
 * outstanding, killing partition 0's leader a third of the way in; then reads every partition back.
 */
async function run(topic: string, idempotent: boolean): Promise<RunResult> {
  await direct.admin().createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }],
  });
  const producer = proxied.producer({ acks: 'all', idempotent, lingerMs: 2, deliveryTimeoutMs: 120_000 });
  const droppedBefore = proxy.stats.droppedReplies;
  proxy.dropReplies(0.15);
  proxy.delay(0, 5);
  const acked = new Set<number>();
  let failed = 0;
  const outstanding = new Set<Promise<void>>();
  let killed: number | null = null;
  for (let i = 0; i < RECORDS; i += 60) {
    if (killed === null && i >= RECORDS / 3) {
      killed = (await describe0(topic))[0]!.leader;
      await chaos.killBroker(killed);
    }
    const values = Array.from({ length: 60 }, (_, j) => i + j);
    const send = producer
      .send({ topic, messages: values.map((v) => ({ value: String(v), partition: v % PARTITIONS })) })
      .then(
        () => values.forEach((v) => acked.add(v)),
        () => void (failed += values.length),
      )
      .finally(() => outstanding.delete(send));
    outstanding.add(send);
    if (outstanding.size >= 12) await Promise.race(outstanding);
  }
  await Promise.all(outstanding);
  await producer.close();
  proxy.clear();
  // The killed broker comes back and catches up, so the next run starts with three replicas.
  await chaos.startBroker(killed!);
  await waitFor(
    'every partition back to an ISR of three',
    async () => (await describe0(topic)).every((p) => p.isr.length === 3),
    60_000,
  );

  const ends = (await describe0(topic)).map((p) => Number(p.latestOffset));
  const consumer = direct.consumer();
  consumer.assign(ends.map((_, partition) => ({ topic, partition, offset: 'earliest' as const })));
  const perPartition: number[][] = ends.map(() => []);
  let remaining = ends.reduce((a, b) => a + b, 0);
  if (remaining > 0) {
    for await (const m of consumer) {
      perPartition[m.partition]!.push(Number(m.value!.toString()));
      if (--remaining === 0) break;
    }
  }
  await consumer.close();

  const seen = new Map<number, number>();
  let orderViolations = 0;
  for (const values of perPartition) {
    for (let k = 0; k < values.length; k++) {
      seen.set(values[k]!, (seen.get(values[k]!) ?? 0) + 1);
      if (k > 0 && values[k]! <= values[k - 1]!) orderViolations++;
    }
  }
  return {
    acknowledged: acked.size,
    failed,
    stored: [...seen.values()].reduce((a, b) => a + b, 0),
    duplicates: [...seen.values()].reduce((a, n) => a + n - 1, 0),
    orderViolations,
    missing: [...acked].filter((v) => !seen.has(v)).length,
    droppedReplies: proxy.stats.droppedReplies - droppedBefore,
  };
}

/** millrace_producer_duplicate_batches_total for `topic`, summed over the brokers. */
async function duplicateBatchesRecognised(topic: string): Promise<number> {
  let total = 0;
  for (const b of chaos.brokers.values()) {
    if (!b) continue;
    const text = await (await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)).text();
    const m = new RegExp(`millrace_producer_duplicate_batches_total\\{topic="${topic}"\\} (\\d+)`).exec(text);
    total += Number(m?.[1] ?? 0);
  }
  return total;
}

beforeAll(async () => {
  chaos = await ChaosCluster.start({
    brokers: 3,
    natsNodes: 1,
    dir: root,
    cluster,
    seed: 6,
    brokerConfig: { sessionTimeoutMs: 2000, heartbeatIntervalMs: 200, controllerLeaseMs: 2000 },
  });
  proxy = await FaultProxy.start({ targets: [{ host: '127.0.0.1', port: chaos.nodes[0]!.port }], seed: 6 });
  direct = new Millrace({ servers: chaos.natsUrls, cluster, requestTimeoutMs: 5_000 });
  // A short request timeout: a dropped reply costs the producer this long before it retries.
  proxied = new Millrace({ servers: proxy.url, cluster, requestTimeoutMs: 1_000 });
  await waitFor(
    'three live brokers',
    async () => (await direct.admin().describeCluster()).brokers.filter((b) => !b.fenced).length === 3,
  );
});

afterAll(async () => {
  await proxied?.close();
  await direct?.close();
  await proxy?.close();
  await chaos?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('idempotent producer under dropped replies and a leader kill', () => {
  it('stores every record exactly once and in order; without idempotence the same faults duplicate', async () => {
    const exactlyOnce = await run('numbers-idempotent', true);
    const plain = await run('numbers-plain', false);
    console.log(JSON.stringify({ idempotent: exactlyOnce, notIdempotent: plain }));

    expect(exactlyOnce.droppedReplies).toBeGreaterThanOrEqual(5);
    // The leaders recognised retried batches and answered them without appending.
    expect(await duplicateBatchesRecognised('numbers-idempotent')).toBeGreaterThan(0);
    expect(exactlyOnce.failed).toBe(0);
    expect(exactlyOnce.acknowledged).toBe(RECORDS);
    expect(exactlyOnce.missing).toBe(0);
    expect(exactlyOnce.duplicates).toBe(0);
    expect(exactlyOnce.orderViolations).toBe(0);
    expect(exactlyOnce.stored).toBe(RECORDS);

    expect(plain.droppedReplies).toBeGreaterThanOrEqual(5);
    expect(plain.missing).toBe(0);
    expect(plain.duplicates).toBeGreaterThan(0);
  });
});
