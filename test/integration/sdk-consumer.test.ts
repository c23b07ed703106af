import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, type ConsumerMessage } from '../../src/client/index.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('sdkc');
const GROUP_SETTINGS = { sessionTimeoutMs: 2_000, heartbeatIntervalMs: 200, autoCommitIntervalMs: 300 };

beforeAll(async () => {
  brokers.push(
    await startBroker(inject('natsUrl'), cluster, 1, {
      offsetsTopicPartitions: 1,
      groupInitialRebalanceDelayMs: 100,
      groupMinSessionTimeoutMs: 500,
    }),
  );
  client = new Millrace({ servers: inject('natsUrl'), cluster });
});

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
});

/** A topic holding `count` records valued 0..count-1, spread round-robin over its partitions. */
async function topicWith(topic: string, count: number, partitions = 1): Promise<void> {
  await client.admin().createTopics({ topics: [{ topic, numPartitions: partitions }] });
  const producer = client.producer({ lingerMs: 1 });
  await producer.send({
    topic,
    messages: Array.from({ length: count }, (_, i) => ({ value: String(i), partition: i % partitions })),
  });
  await producer.close();
}

const valueOf = (m: ConsumerMessage): number => Number(m.value!.toString());

describe('autoOffsetReset', () => {
  it('applies to a group with no committed offset: earliest reads what is there, latest only what comes', async () => {
    await topicWith('reset-group', 10);
    const early: number[] = [];
    const earliest = client.consumer({ groupId: 'reset-earliest', autoOffsetReset: 'earliest', ...GROUP_SETTINGS });
    earliest.subscribe({ topics: ['reset-group'] });
    void earliest.run({ eachMessage: ({ message }) => void early.push(valueOf(message)) });
    await waitFor('the 10 existing records', () => early.length === 10);
    expect(early).toEqual([...Array(10).keys()]);

    const late: number[] = [];
    const latest = client.consumer({ groupId: 'reset-latest', ...GROUP_SETTINGS });
    latest.subscribe({ topics: ['reset-group'] });
    void latest.run({ eachMessage: ({ message }) => void late.push(valueOf(message)) });
    await waitFor('the latest consumer owns the partition', () => latest.assignment().length === 1);
    const producer = client.producer();
    // The position resolves after the assignment: keep producing until the consumer sees one.
    await waitFor('a record produced after joining', async () => {
      await producer.send({ topic: 'reset-group', messages: [{ value: '100' }] });
      return late.length > 0;
    });
    expect(late.every((v) => v === 100)).toBe(true);
    await Promise.all([earliest.close(), latest.close(), producer.close()]);
  });

  it("'none' rejects run() with NoOffsetForPartitionError naming the partitions, for a group and for assign", async () => {
    await topicWith('reset-none', 3, 2);
    const grouped = client.consumer({ groupId: 'reset-none', autoOffsetReset: 'none', ...GROUP_SETTINGS });
    grouped.subscribe({ topics: ['reset-none'] });
    const groupRun = grouped.run({ eachMessage: () => undefined });
    await expect(groupRun).rejects.toMatchObject({
      name: 'NoOffsetForPartitionError',
      errorName: 'OFFSET_OUT_OF_RANGE',
      retriable: false,
    });
    const err = (await groupRun.catch((e: unknown) => e)) as { partitions: unknown[] };
    expect(err.partitions).toEqual(
      expect.arrayContaining([
        { topic: 'reset-none', partition: 0 },
        { topic: 'reset-none', partition: 1 },
      ]),
    );
    await grouped.close();

    const assigned = client.consumer({ autoOffsetReset: 'none' });
    assigned.assign([{ topic: 'reset-none', partition: 1 }]);
    await expect(assigned.run({ eachMessage: () => undefined })).rejects.toMatchObject({
      name: 'NoOffsetForPartitionError',
      partitions: [{ topic: 'reset-none', partition: 1 }],
    });
    await assigned.close();

    // With an offset given, 'none' reads from it; an offset past the end is out of range.
    const given = client.consumer({ autoOffsetReset: 'none' });
    given.assign([{ topic: 'reset-none', partition: 0, offset: 1 }]);
    const seen: number[] = [];
    void given.run({ eachMessage: ({ message }) => void seen.push(valueOf(message)) });
    await waitFor('the record at offset 1 of partition 0', () => seen.length === 1);
    expect(seen).toEqual([2]);
    await given.close();
    const beyond = client.consumer({ autoOffsetReset: 'none' });
    beyond.assign([{ topic: 'reset-none', partition: 0, offset: 50 }]);
    await expect(beyond.run({ eachMessage: () => undefined })).rejects.toMatchObject({
      name: 'OffsetOutOfRangeError',
      offset: 50,
    });
    await beyond.close();
  });

  it('out of range resets by the same setting: earliest goes back to the log start', async () => {
    await topicWith('reset-range', 5);
    const seen: number[] = [];
    const consumer = client.consumer({ autoOffsetReset: 'earliest' });
    consumer.assign([{ topic: 'reset-range', partition: 0, offset: 99 }]);
    void consumer.run({ eachMessage: ({ message }) => void seen.push(valueOf(message)) });
    await waitFor('all five records from the start', () => seen.length === 5);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    await consumer.close();
  });
});
