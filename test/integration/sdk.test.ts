import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, MillraceError, murmur2, toPositive, type ConsumerMessage } from '../../src/client/index.js';
import { startBroker, stopAll, uniqueCluster, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('sdk');

beforeAll(async () => {
  brokers.push(await startBroker(inject('natsUrl'), cluster, 1));
  client = new Millrace({ servers: inject('natsUrl'), cluster, clientId: 'sdk-test' });
});

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
});

async function take(consumer: AsyncIterable<ConsumerMessage>, n: number): Promise<ConsumerMessage[]> {
  const out: ConsumerMessage[] = [];
  if (n === 0) return out;
  for await (const m of consumer) {
    out.push(m);
    if (out.length === n) break;
  }
  return out;
}

describe('SDK against a real broker', () => {
  it('admin creates, lists, describes, grows and deletes topics with Kafka errors', async () => {
    const admin = client.admin();
    expect(
      await admin.createTopics({
        topics: [{ topic: 'admin-t', numPartitions: 3, configs: { 'retention.ms': '60000' } }],
      }),
    ).toBe(true);
    expect(await admin.createTopics({ topics: [{ topic: 'admin-t', numPartitions: 3 }] })).toBe(false);
    expect(await admin.listTopics()).toContain('admin-t');
    const [d] = await admin.describeTopics(['admin-t']);
    expect(d!.partitions).toHaveLength(3);
    expect(d!.configs).toEqual({ 'retention.ms': '60000' });
    expect(
      d!.partitions.every(
        (p) => p.leader === 1 && p.replicas.join() === '1' && p.isr.join() === '1' && p.latestOffset === 0n,
      ),
    ).toBe(true);
    await admin.createPartitions({ topicPartitions: [{ topic: 'admin-t', count: 5 }] });
    expect((await admin.describeTopics(['admin-t']))[0]!.partitions).toHaveLength(5);
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 'admin-t', count: 2 }] })).rejects.toMatchObject({
      errorName: 'INVALID_PARTITIONS',
    });
    await expect(admin.createTopics({ topics: [{ topic: 'bad name!' }] })).rejects.toMatchObject({
      errorName: 'INVALID_TOPIC_EXCEPTION',
    });
    await expect(admin.createTopics({ topics: [{ topic: 'x'.repeat(250) }] })).rejects.toMatchObject({
      errorName: 'INVALID_TOPIC_EXCEPTION',
    });
    await expect(admin.createTopics({ topics: [{ topic: 'rf', replicationFactor: 3 }] })).rejects.toMatchObject({
      errorName: 'INVALID_REPLICATION_FACTOR',
    });
    await expect(
      admin.createTopics({ topics: [{ topic: 'cfg', configs: { 'retention.ms': 'soon' } }] }),
    ).rejects.toMatchObject({ errorName: 'INVALID_CONFIG' });
    await expect(
      admin.createTopics({ topics: [{ topic: 'cfg', configs: { 'no.such.config': '1' } }] }),
    ).rejects.toThrow(/unknown topic config/);
    await admin.deleteTopics({ topics: ['admin-t'] });
    expect(await admin.listTopics()).not.toContain('admin-t');
    await expect(admin.deleteTopics({ topics: ['admin-t'] })).rejects.toMatchObject({
      errorName: 'UNKNOWN_TOPIC_OR_PARTITION',
      retriable: true,
    });
    const cl = await admin.describeCluster();
    expect(cl).toMatchObject({ cluster, controllerId: 1, brokers: [{ id: 1, fenced: false }] });
  });

  it('round-trips 30,000 records with keys and headers, in order per partition, keys placed as Java Kafka does', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 4 }] });
    const producer = client.producer({ lingerMs: 2, compression: 'lz4' });
    const total = 30_000;
    const sends = [];
    for (let i = 0; i < total; i += 500) {
      sends.push(
        producer.send({
          topic: 'orders',
          messages: Array.from({ length: 500 }, (_, j) => ({
            key: `customer-${(i + j) % 97}`,
            value: `order-${i + j}`,
            headers: { seq: String(i + j) },
          })),
        }),
      );
    }
    const acked = (await Promise.all(sends)).flat();
    expect(acked).toHaveLength(total);
    for (const a of acked.slice(0, 50)) expect(typeof a.offset).toBe('bigint');
    const consumer = client.consumer();
    consumer.assign([0, 1, 2, 3].map((partition) => ({ topic: 'orders', partition, offset: 'earliest' as const })));
    const got = await take(consumer, total);
    await consumer.close();
    const byPartition = new Map<number, number[]>();
    for (const m of got) {
      const seq = Number(m.headers.seq!.toString());
      expect(m.value!.toString()).toBe(`order-${seq}`);
      expect(m.partition).toBe(toPositive(murmur2(Buffer.from(`customer-${seq % 97}`))) % 4);
      byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), seq]);
    }
    for (const seqs of byPartition.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(got.map((m) => m.headers.seq!.toString())).size).toBe(total);
    // Every acknowledged offset holds the record acknowledged there.
    const ackedAt = new Map(acked.map((a, i) => [`${a.partition}:${a.offset}`, i]));
    for (const m of got) expect(ackedAt.get(`${m.partition}:${m.offset}`)).toBe(Number(m.headers.seq!.toString()));
  });

  it('wakes a long-poll fetch when data arrives, and supports seek, pause and resume', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'tail', numPartitions: 1 }] });
    const consumer = client.consumer({ maxWaitMs: 20_000 });
    consumer.assign([{ topic: 'tail', partition: 0, offset: 'latest' }]);
    const first = take(consumer, 1);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await client.producer({ acks: 1 }).send({ topic: 'tail', messages: [{ value: 'wake up' }] });
    const [m] = await first;
    expect(m!.value!.toString()).toBe('wake up');
    expect(Date.now() - started).toBeLessThan(15_000); // woke long before the 20 s max wait
    await client.producer().send({ topic: 'tail', messages: [{ value: 'a' }, { value: 'b' }] });
    consumer.seek({ topic: 'tail', partition: 0, offset: 0n });
    expect((await take(consumer, 3)).map((x) => x.value!.toString())).toEqual(['wake up', 'a', 'b']);
    consumer.pause([{ topic: 'tail' }]);
    expect(consumer.paused()).toEqual([{ topic: 'tail', partition: 0 }]);
    await client.producer().send({ topic: 'tail', messages: [{ value: 'c' }] });
    consumer.resume([{ topic: 'tail' }]);
    expect((await take(consumer, 1))[0]!.value!.toString()).toBe('c');
    await consumer.close();
  });

  it('finds offsets by timestamp and runs eachBatch', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'times', numPartitions: 1 }] });
    const t0 = Date.UTC(2026, 0, 1);
    await client.producer().send({
      topic: 'times',
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, timestamp: t0 + i * 1000 })),
    });
    const admin = client.admin();
    expect(await admin.fetchTopicOffsets('times', t0 + 4500)).toEqual([{ partition: 0, offset: 5n }]);
    expect(await admin.fetchTopicOffsets('times', -2)).toEqual([{ partition: 0, offset: 0n }]);
    expect(await admin.fetchTopicOffsets('times')).toEqual([{ partition: 0, offset: 10n }]);
    const consumer = client.consumer();
    consumer.assign([{ topic: 'times', partition: 0, offset: 5n }]);
    const seen: string[] = [];
    const run = consumer.run({
      eachBatch: async ({ batch }) => {
        seen.push(...batch.messages.map((m) => m.value!.toString()));
        expect(batch.highWatermark).toBe(10n);
        if (seen.length >= 5) void consumer.close();
      },
    });
    await run;
    expect(seen).toEqual(['v5', 'v6', 'v7', 'v8', 'v9']);
  });

  it('rejects bad input with typed errors', async () => {
    const producer = client.producer({ acks: 1 });
    await expect(producer.send({ topic: 'orders', messages: [{ value: 'x', partition: 9 }] })).rejects.toMatchObject({
      errorName: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
    await expect(
      producer.send({ topic: 'orders', messages: [{ value: Buffer.alloc(2 * 1024 * 1024) }] }),
    ).rejects.toMatchObject({ errorName: 'MESSAGE_TOO_LARGE', retriable: false });
    await expect(
      producer.send({ topic: 'orders', messages: [{ value: 42 as unknown as string }] }),
    ).rejects.toBeInstanceOf(MillraceError);
    const quick = new Millrace({ servers: inject('natsUrl'), cluster, requestTimeoutMs: 500 }).producer({
      deliveryTimeoutMs: 1000,
    });
    await expect(quick.send({ topic: 'no-such-topic', messages: [{ value: 'x' }] })).rejects.toMatchObject({
      errorName: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
    expect(() => new Millrace({ servers: 'nats://127.0.0.1:1', cluster: 'bad cluster' })).toThrow(/cluster/);
  });
});
