/**
 * `millrace/testing` against a real Docker engine: the images `npm run image` builds, started by
 * testcontainers, used through the SDK (NATS on a mapped port) and through the Kafka door
 * (kafkajs on the brokers' mapped ports); then a broker container is SIGKILLed and every
 * acknowledged record is read back.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace } from '../../src/client/index.js';
import { MillraceClusterContainer, MillraceContainer, type StartedMillraceContainer } from '../../src/testing/index.js';
import { waitFor } from '../harness/cluster.js';
import { readFromEarliest } from '../harness/read.js';

const docker = inject('docker');

function kafkaFor(started: StartedMillraceContainer, clientId: string): Kafka {
  return new Kafka({ clientId, brokers: started.bootstrapServers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
}

describe.skipIf(!docker.available)('MillraceContainer (one broker)', () => {
  let started: StartedMillraceContainer;
  let client: Millrace;

  beforeAll(async () => {
    const t0 = performance.now();
    started = await new MillraceContainer().withCluster('tc-single').start();
    console.log(JSON.stringify({ figure: 'testcontainers single node ready', ms: Math.round(performance.now() - t0) }));
    client = new Millrace(started.connectionOptions('tc-test'));
  });

  afterAll(async () => {
    await client?.close();
    await started?.stop();
  });

  it('gives the SDK its connection options and Kafka clients the mapped bootstrap servers', async () => {
    expect(started.connectionOptions()).toEqual({ servers: [started.natsUrl], cluster: 'tc-single' });
    expect(started.bootstrapServers).toHaveLength(1);
    const cluster = await client.admin().describeCluster();
    // The broker advertises the address the host reaches, known only after the port was mapped.
    expect(cluster.brokers.map((b) => b.kafkaEndpoint)).toEqual(started.bootstrapServers);
  });

  it('produces and consumes through the SDK and through the Kafka door', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'tc-orders', numPartitions: 2 }] });
    await client.producer({ acks: 'all' }).send({
      topic: 'tc-orders',
      messages: Array.from({ length: 50 }, (_, i) => ({ key: `sdk-${i}`, value: `v${i}` })),
    });
    const kafka = kafkaFor(started, 'tc-kafkajs');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'tc-orders',
      acks: -1,
      messages: Array.from({ length: 50 }, (_, i) => ({ key: `kafka-${i}`, value: `v${i}` })),
    });
    await producer.disconnect();

    const viaSdk = await readFromEarliest(client, 'tc-orders', 2, 100);
    expect(new Set(viaSdk.map((m) => m.key?.toString())).size).toBe(100);

    const consumer = kafka.consumer({ groupId: 'tc-readers', maxWaitTimeInMs: 200 });
    const seen = new Set<string>();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: 'tc-orders', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.add(message.key!.toString()) });
      await waitFor('kafkajs reads all 100 records', () => seen.size === 100, 60_000);
    } finally {
      await consumer.disconnect();
    }
  });
});

interface Message {
  key: string;
  partition: number;
}

describe.skipIf(!docker.available)('MillraceClusterContainer (three brokers)', () => {
  let started: StartedMillraceContainer;
  let client: Millrace;

  beforeAll(async () => {
    started = await new MillraceClusterContainer().withCluster('tc-cluster').start();
    client = new Millrace(started.connectionOptions('tc-cluster-test'));
  });

  afterAll(async () => {
    await client?.close();
    await started?.stop();
  });

  it('keeps every acknowledged record when a broker container is killed', async () => {
    const topic = 'tc-acked';
    await client.admin().createTopics({ topics: [{ topic, numPartitions: 3 }] });
    const [described] = await client.admin().describeTopics([topic]);
    expect(described!.partitions.every((p) => p.replicas.length === 3)).toBe(true);

    const acked = new Set<string>();
    let retired = 0;
    let stop = false;
    const sdkProducer = client.producer({ acks: 'all', idempotent: true });
    const kafka = kafkaFor(started, 'tc-cluster-kafkajs');
    let kafkaProducer = kafka.producer({ idempotent: true });
    await kafkaProducer.connect();
    // Two writers, one per door, each sending batches of nine (three per partition) until told to
    // stop; a batch that fails is not acknowledged and need not be stored, one that succeeds must be.
    const write = async (door: string, send: (messages: Message[]) => Promise<void>): Promise<void> => {
      for (let batch = 0; !stop; batch++) {
        const messages = Array.from({ length: 9 }, (_, i) => ({ key: `${door}-${batch}-${i}`, partition: i % 3 }));
        try {
          await send(messages);
          for (const m of messages) acked.add(m.key);
        } catch {
          // not acknowledged: the next batch goes on
        }
      }
    };
    // kafkajs can resolve a send across a leader change without one partition's result while it
    // still retries that partition, and then hand that retry's answer to a later send (the chaos
    // workload's Kafka client, src/chaos/kafka-clients.ts, met the same). So an incomplete answer
    // is a failed send, and the producer is retired, as the Java client bumps its epoch (KIP-360).
    const sendKafka = async (messages: Message[]): Promise<void> => {
      const producer = kafkaProducer;
      try {
        const written = await producer.send({
          topic,
          acks: -1,
          messages: messages.map((m) => ({ ...m, value: m.key })),
        });
        if (new Set(written.map((r) => r.partition)).size < 3)
          throw new Error('kafkajs answered for fewer partitions than sent');
      } catch (err) {
        retired++;
        kafkaProducer = kafka.producer({ idempotent: true });
        void producer.disconnect().catch(() => undefined);
        await kafkaProducer.connect();
        throw err;
      }
    };
    const writers = Promise.all([
      write('sdk', async (messages) => {
        await sdkProducer.send({ topic, messages: messages.map((m) => ({ ...m, value: m.key })) });
      }),
      write('kafka', sendKafka),
    ]);
    try {
      await waitFor('records acknowledged before the kill', () => acked.size >= 400, 60_000);
      const victim = described!.partitions[0]!.leader;
      await started.killBroker(victim);
      const before = acked.size;
      await waitFor('records acknowledged after the kill', () => acked.size >= before + 400, 90_000);
    } finally {
      stop = true;
      await writers;
      await Promise.allSettled([sdkProducer.close(), kafkaProducer.disconnect()]);
    }

    const stored = new Set<string>();
    const offsets = await client.admin().fetchTopicOffsets(topic);
    const total = offsets.reduce((sum, o) => sum + Number(o.offset), 0);
    const read = await readFromEarliest(client, topic, 3, total);
    for (const m of read) stored.add(m.key!.toString());
    const lost = [...acked].filter((k) => !stored.has(k));
    console.log(JSON.stringify({ acked: acked.size, stored: stored.size, kafkajsProducersRetired: retired }));
    expect(lost).toEqual([]);

    // The same records through the Kafka door, by a kafkajs group member on the two brokers left.
    const viaKafka = new Set<string>();
    const consumer = kafka.consumer({ groupId: 'tc-acked-readers', maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void viaKafka.add(message.key!.toString()) });
      await waitFor('kafkajs reads every acknowledged record', () => [...acked].every((k) => viaKafka.has(k)), 90_000);
    } finally {
      await consumer.disconnect();
    }
  });
});
