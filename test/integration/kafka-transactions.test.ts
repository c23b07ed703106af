/**
 * Transactions through the Kafka door with real Kafka clients: kafkajs transactions (send and
 * sendOffsets, commit and abort, fencing) and kcat reading with isolation.level=read_committed.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { Millrace } from '../../src/client/index.js';
import { runKcat } from '../harness/kafka.js';
import { QUICK_GROUPS, startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const cluster = uniqueCluster('ktxn');
let brokers: TestBroker[] = [];
let bootstrap = '';
let client: Millrace;
let kafka: Kafka;

beforeAll(async () => {
  brokers = [
    await startBroker(inject('natsUrl'), cluster, 1, {
      kafkaListener: '127.0.0.1:0',
      ...QUICK_GROUPS,
      offsetsTopicReplicationFactor: 1,
      transactionStateLogNumPartitions: 2,
      transactionStateLogReplicationFactor: 1,
    }),
  ];
  bootstrap = brokers[0]!.broker.kafkaEndpoint!;
  client = new Millrace({ servers: inject('natsUrl'), cluster });
  kafka = new Kafka({
    clientId: 'ktxn-test',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10 },
  });
  await client.admin().createTopics({
    topics: ['kj-orders', 'kj-in', 'kj-out'].map((topic) => ({ topic, numPartitions: 2 })),
  });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await stopAll(brokers);
});

/** kcat's read of a topic to its end with the given isolation level: the values, sorted. */
async function kcatValues(topic: string, isolation: 'read_committed' | 'read_uncommitted'): Promise<string[]> {
  const { code, stdout, stderr } = await runKcat(bootstrap, [
    '-C',
    '-t',
    topic,
    '-o',
    'beginning',
    '-e',
    '-X',
    `isolation.level=${isolation}`,
    '-f',
    '%s\n',
  ]);
  expect(code, stderr).toBe(0);
  return stdout.split('\n').filter(Boolean).sort();
}

describe('transactions with kafkajs and kcat through the Kafka door', () => {
  it('commits and aborts kafkajs transactions; read_committed readers see only the committed', async () => {
    const producer = kafka.producer({ transactionalId: 'kj-writer', maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const committed = await producer.transaction();
    await committed.send({
      topic: 'kj-orders',
      messages: [0, 1, 2, 3].map((i) => ({ partition: i % 2, value: `committed-${i}` })),
    });
    await committed.commit();
    const aborted = await producer.transaction();
    await aborted.send({
      topic: 'kj-orders',
      messages: [0, 1, 2, 3].map((i) => ({ partition: i % 2, value: `aborted-${i}` })),
    });
    await aborted.abort();
    const later = await producer.transaction();
    await later.send({ topic: 'kj-orders', messages: [0, 1].map((i) => ({ partition: i, value: `later-${i}` })) });
    await later.commit();
    await producer.disconnect();

    const expected = ['committed-0', 'committed-1', 'committed-2', 'committed-3', 'later-0', 'later-1'];
    await waitFor('kcat to read the committed records', async () =>
      (await kcatValues('kj-orders', 'read_committed')).join() === expected.join() ? true : undefined,
    );
    const uncommitted = await kcatValues('kj-orders', 'read_uncommitted');
    expect(uncommitted.filter((v) => v.startsWith('aborted'))).toHaveLength(4);

    // A kafkajs consumer (read_committed by default) and the SDK under read_committed agree.
    const consumer = kafka.consumer({ groupId: 'kj-reader' });
    await consumer.connect();
    await consumer.subscribe({ topics: ['kj-orders'], fromBeginning: true });
    const seen: string[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    await waitFor('kafkajs to read the committed records', () => seen.length >= expected.length);
    await consumer.disconnect();
    expect(seen.sort()).toEqual(expected);
  });

  it('runs a kafkajs consume-transform-produce copy with sendOffsets: offsets and output commit together', async () => {
    const input = kafka.producer();
    await input.connect();
    await input.send({
      topic: 'kj-in',
      messages: [0, 1, 2, 3, 4, 5].map((i) => ({ partition: i % 2, value: `in-${i}` })),
    });
    await input.disconnect();

    const producer = kafka.producer({ transactionalId: 'kj-copier', maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const consumer = kafka.consumer({ groupId: 'kj-copy-group' });
    await consumer.connect();
    await consumer.subscribe({ topics: ['kj-in'], fromBeginning: true });
    let copied = 0;
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const txn = await producer.transaction();
        await txn.send({ topic: 'kj-out', messages: [{ value: message.value!.toString().replace('in', 'out') }] });
        await txn.sendOffsets({
          consumerGroupId: 'kj-copy-group',
          topics: [{ topic, partitions: [{ partition, offset: (BigInt(message.offset) + 1n).toString() }] }],
        });
        // One record of the six is aborted once, then copied again in the next transaction.
        if (message.value!.toString() === 'in-4' && copied !== -1) {
          copied = -1;
          await txn.abort();
          throw new Error('aborted on purpose: kafkajs retries the record');
        }
        await txn.commit();
      },
    });
    const admin = kafka.admin();
    await admin.connect();
    await waitFor(
      'the copy to commit every input offset',
      async () => {
        const offsets = await admin.fetchOffsets({ groupId: 'kj-copy-group', topics: ['kj-in'] });
        const total = offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
        return total === 6 ? true : undefined;
      },
      60_000,
    );
    await consumer.disconnect();
    await producer.disconnect();
    await admin.disconnect();
    expect(await kcatValues('kj-out', 'read_committed')).toEqual([0, 1, 2, 3, 4, 5].map((i) => `out-${i}`));
  });

  it('fences a kafkajs producer when another takes its transactional id', async () => {
    const first = kafka.producer({ transactionalId: 'kj-fenced', maxInFlightRequests: 1, idempotent: true });
    await first.connect();
    const open = await first.transaction();
    await open.send({ topic: 'kj-orders', messages: [{ partition: 0, value: 'zombie' }] });
    const second = kafka.producer({ transactionalId: 'kj-fenced', maxInFlightRequests: 1, idempotent: true });
    await second.connect();
    const t = await second.transaction();
    await t.send({ topic: 'kj-orders', messages: [{ partition: 0, value: 'successor' }] });
    await t.commit();
    await expect(open.commit()).rejects.toThrow();
    await Promise.all([first.disconnect(), second.disconnect()]);
    const values = await kcatValues('kj-orders', 'read_committed');
    expect(values).toContain('successor');
    expect(values).not.toContain('zombie');
  });
});
