import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, MillraceError } from '../../src/client/index.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('idem');

beforeAll(async () => {
  // Producers idle for 1.5 s are forgotten, so the expiry path runs within the test.
  brokers.push(
    await startBroker(inject('natsUrl'), cluster, 1, {
      producerIdExpirationMs: 1_500,
      producerIdExpirationCheckMs: 200,
    }),
  );
  client = new Millrace({ servers: inject('natsUrl'), cluster });
});

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
});

async function values(topic: string): Promise<string[]> {
  const end = (await client.admin().fetchTopicOffsets(topic))[0]!.offset;
  const consumer = client.consumer();
  consumer.assign([{ topic, partition: 0, offset: 'earliest' }]);
  const out: string[] = [];
  for await (const m of consumer) {
    out.push(m.value!.toString());
    if (m.offset === end - 1n) break;
  }
  await consumer.close();
  return out;
}

describe('idempotent producer', () => {
  it('is the default with acks=all, and refuses settings it cannot honour', () => {
    expect(client.producer().idempotent).toBe(true);
    expect(client.producer({ acks: 1 }).idempotent).toBe(false);
    expect(client.producer({ idempotent: false }).idempotent).toBe(false);
    for (const options of [{ acks: 1 as const, idempotent: true }, { maxInFlight: 6 }]) {
      try {
        client.producer(options);
        expect.unreachable();
      } catch (err) {
        expect((err as MillraceError).errorName).toBe('INVALID_CONFIG');
      }
    }
  });

  it('gives each producer its own id from controller-allocated blocks', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'ids', numPartitions: 1 }] });
    const producers = [client.producer(), client.producer(), client.producer()];
    for (const p of producers) await p.send({ topic: 'ids', messages: [{ value: 'x' }] });
    const ids = [...brokers[0]!.broker.hosted('ids', 0)!.log.producerState.producerIds()];
    expect(new Set(ids).size).toBe(3);
  });

  it('moves to a new epoch when the broker has forgotten it, writing each record once', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'expiry', numPartitions: 1 }] });
    const producer = client.producer({ lingerMs: 0 });
    await producer.send({ topic: 'expiry', messages: [{ value: 'a' }, { value: 'b' }] });
    const state = brokers[0]!.broker.hosted('expiry', 0)!.log.producerState;
    const [id] = [...state.producerIds()];
    await waitFor('the idle producer to expire', () => state.entry(id!) === undefined);
    // Its next sequence is 2: the broker answers UNKNOWN_PRODUCER_ID and the producer starts epoch 1 at 0.
    await producer.send({ topic: 'expiry', messages: [{ value: 'c' }] });
    expect(state.entry(id!)).toMatchObject({ producerEpoch: 1, batches: [{ firstSeq: 0, lastSeq: 0 }] });
    expect(await values('expiry')).toEqual(['a', 'b', 'c']);
  });

  it('keeps producer state across a broker restart, from its snapshot', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'restart', numPartitions: 1 }] });
    const producer = client.producer();
    await producer.send({ topic: 'restart', messages: [{ value: '1' }, { value: '2' }] });
    const before = brokers[0]!.broker.hosted('restart', 0)!.log.producerState;
    const [id] = [...before.producerIds()];
    const { dataDir } = brokers[0]!;
    await brokers[0]!.broker.stop();
    brokers[0] = await startBroker(inject('natsUrl'), cluster, 1, { producerIdExpirationMs: 60_000 }, dataDir);
    const after = brokers[0].broker.hosted('restart', 0)!.log.producerState;
    expect(after.entry(id!)?.batches.at(-1)).toMatchObject({ firstSeq: 0, lastSeq: 1 });
    await producer.send({ topic: 'restart', messages: [{ value: '3' }] });
    expect(after.entry(id!)?.batches.at(-1)).toMatchObject({ firstSeq: 2, lastSeq: 2 });
    expect(await values('restart')).toEqual(['1', '2', '3']);
  });
});
