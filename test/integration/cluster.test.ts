import * as fs from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Millrace } from '../../src/client/index.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const cluster = uniqueCluster('multi');
const brokers: TestBroker[] = [];
let client: Millrace;

afterAll(async () => {
  await client?.close();
  await stopAll(brokers);
});

describe('a three-broker cluster', () => {
  it('spreads replicas over racks, routes by leader, and replaces a crashed controller within the lease', async () => {
    const nats = inject('natsUrl');
    for (const [id, rack] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ] as const)
      brokers.push(await startBroker(nats, cluster, id, { rack }));
    client = new Millrace({ servers: nats, cluster });
    const admin = client.admin();
    await waitFor(
      'three live brokers',
      async () => (await admin.describeCluster()).brokers.filter((b) => !b.fenced).length === 3,
    );

    await admin.createTopics({ topics: [{ topic: 'spread', numPartitions: 6, replicationFactor: 3 }] });
    const [t] = await admin.describeTopics(['spread']);
    const leaders = t!.partitions.map((p) => p.leader);
    expect(new Set(leaders)).toEqual(new Set([1, 2, 3])); // each broker leads two partitions
    for (const id of [1, 2, 3]) expect(leaders.filter((l) => l === id)).toHaveLength(2);
    for (const p of t!.partitions) expect(new Set(p.replicas).size).toBe(3);

    const producer = client.producer({ acks: 1 });
    const acked = await producer.send({
      topic: 'spread',
      messages: Array.from({ length: 600 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });
    expect(new Set(acked.map((a) => a.partition)).size).toBe(6);
    const consumer = client.consumer();
    consumer.assign(
      t!.partitions.map((p) => ({ topic: 'spread', partition: p.partition, offset: 'earliest' as const })),
    );
    let n = 0;
    for await (const m of consumer) {
      expect(m.value!.toString()).toMatch(/^v\d+$/);
      if (++n === 600) break;
    }
    await consumer.close();

    // Crash the active controller's broker: another takes over within the lease (2 s here).
    const before = await admin.describeCluster();
    const victim = brokers.find((b) => b.broker.config.id === before.controllerId)!;
    await victim.broker.crash();
    const after = await waitFor(
      'a new controller',
      async () => {
        const c = await admin.describeCluster();
        return c.controllerId !== before.controllerId && c.controllerId > 0 ? c : false;
      },
      15_000,
    );
    expect(after.controllerEpoch).toBeGreaterThan(before.controllerEpoch);
    // The crashed broker's session runs out: it is fenced and its partitions lose their leader
    // (RF 3 but no follower replication yet: the ISR still lists the other replicas, so the
    // controller elects one of them).
    await waitFor(
      'crashed broker fenced',
      async () =>
        (await admin.describeCluster()).brokers.find((b) => b.id === victim.broker.config.id)?.fenced === true,
      15_000,
    );
    const [t2] = await admin.describeTopics(['spread']);
    for (const p of t2!.partitions) expect(p.leader).not.toBe(victim.broker.config.id);
    expect(
      await admin.createTopics({ topics: [{ topic: 'after-failover', numPartitions: 2, replicationFactor: 2 }] }),
    ).toBe(true);
    brokers.splice(brokers.indexOf(victim), 1);
    fs.rmSync(victim.dataDir, { recursive: true, force: true });
  });
});
