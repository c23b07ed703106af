import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, jsonSerde, stringSerde, type ConsumerMessage } from '../../src/client/index.js';
import { QUICK_GROUPS, startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('sdkc');
const GROUP_SETTINGS = { sessionTimeoutMs: 2_000, heartbeatIntervalMs: 200, autoCommitIntervalMs: 300 };

beforeAll(async () => {
  brokers.push(await startBroker(inject('natsUrl'), cluster, 1, QUICK_GROUPS));
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

describe('eachBatch controls', () => {
  it('commits only resolved offsets without auto-resolve, reports uncommitted ones, and commits when asked', async () => {
    await topicWith('batch-ctl', 10);
    const consumer = client.consumer({ groupId: 'batch-ctl', autoCommit: false, ...GROUP_SETTINGS });
    consumer.subscribe({ topics: ['batch-ctl'], fromBeginning: true });
    const seen: Array<{ uncommitted: unknown; running: boolean; stale: boolean; first: bigint | null }> = [];
    let calls = 0;
    void consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({
        batch,
        resolveOffset,
        uncommittedOffsets,
        commitOffsetsIfNecessary,
        heartbeat,
        isRunning,
        isStale,
      }) => {
        calls++;
        if (calls > 1) return;
        // Resolve the first 4 of 10: the rest are not processed as far as a commit goes.
        for (const m of batch.messages.slice(0, 4)) resolveOffset(m.offset);
        await heartbeat();
        seen.push({
          uncommitted: uncommittedOffsets(),
          running: isRunning(),
          stale: isStale(),
          first: batch.firstOffset(),
        });
        await commitOffsetsIfNecessary({
          topics: [{ topic: 'batch-ctl', partitions: [{ partition: 0, offset: 4n }] }],
        });
      },
    });
    await waitFor('the first batch handled', () => seen.length === 1);
    expect(seen[0]).toEqual({
      uncommitted: { topics: [{ topic: 'batch-ctl', partitions: [{ partition: 0, offset: 4n }] }] },
      running: true,
      stale: false,
      first: 0n,
    });
    const admin = client.admin();
    await waitFor('offset 4 committed', async () => {
      const [p] = await admin.fetchOffsets({ groupId: 'batch-ctl', topics: ['batch-ctl'] });
      return p?.offset === 4n;
    });
    await consumer.close();
    // Nothing past the resolved offsets was committed on close either.
    const [p] = await admin.fetchOffsets({ groupId: 'batch-ctl', topics: ['batch-ctl'] });
    expect(p!.offset).toBe(4n);
  });

  it('says a batch is stale once its partition is seeked, and stops auto-resolving it', async () => {
    await topicWith('batch-stale', 6);
    const consumer = client.consumer();
    consumer.assign([{ topic: 'batch-stale', partition: 0, offset: 0 }]);
    const firsts: bigint[] = [];
    let staleAfterSeek: boolean | null = null;
    void consumer.run({
      eachBatch: ({ batch, isStale }) => {
        firsts.push(batch.firstOffset()!);
        if (firsts.length === 1) {
          consumer.seek({ topic: 'batch-stale', partition: 0, offset: 3 });
          staleAfterSeek = isStale();
        }
      },
    });
    await waitFor('the batch after the seek', () => firsts.length === 2);
    expect(staleAfterSeek).toBe(true);
    expect(firsts).toEqual([0n, 3n]);
    await consumer.close();
  });
});

describe('partitionsConsumedConcurrently', () => {
  it('handles partitions at once, one call per partition at a time, in order within each', async () => {
    await topicWith('concurrent', 400, 4);
    const consumer = client.consumer({ maxBytesPerPartition: 512 });
    consumer.assign([0, 1, 2, 3].map((partition) => ({ topic: 'concurrent', partition, offset: 0 })));
    const byPartition = new Map<number, number[]>();
    const active = new Set<number>();
    let overlap = 0;
    let samePartitionTwice = false;
    void consumer.run({
      partitionsConsumedConcurrently: 4,
      eachMessage: async ({ partition, message }) => {
        if (active.has(partition)) samePartitionTwice = true;
        active.add(partition);
        overlap = Math.max(overlap, active.size);
        await new Promise((resolve) => setImmediate(resolve));
        byPartition.set(partition, [...(byPartition.get(partition) ?? []), valueOf(message)]);
        active.delete(partition);
      },
    });
    await waitFor('all 400 records', () => [...byPartition.values()].flat().length === 400);
    expect(samePartitionTwice).toBe(false);
    expect(overlap).toBeGreaterThan(1);
    for (const [partition, values] of byPartition)
      expect(values).toEqual(Array.from({ length: 100 }, (_, i) => i * 4 + partition));
    await consumer.close();
  });
});

describe('failure policy', () => {
  const fast = { initialRetryTimeMs: 10, maxRetryTimeMs: 50 };

  it('retries a failing message with backoff and then goes on, skipping nothing', async () => {
    await topicWith('retry-ok', 5);
    const consumer = client.consumer({ retry: { retries: 3, ...fast } });
    consumer.assign([{ topic: 'retry-ok', partition: 0, offset: 0 }]);
    const attempts: number[] = [];
    const done: number[] = [];
    void consumer.run({
      eachMessage: ({ message }) => {
        const v = valueOf(message);
        attempts.push(v);
        if (v === 2 && attempts.filter((a) => a === 2).length <= 2) throw new Error('downstream is down');
        done.push(v);
      },
    });
    await waitFor('every record done', () => done.length === 5);
    expect(done).toEqual([0, 1, 2, 3, 4]);
    expect(attempts.filter((a) => a === 2)).toHaveLength(3);
    await consumer.close();
  });

  it('crashes after its retries: restartOnFailure false stops the consumer with the failing record uncommitted', async () => {
    await topicWith('retry-stop', 5);
    const consumer = client.consumer({
      groupId: 'retry-stop',
      ...GROUP_SETTINGS,
      retry: { retries: 2, ...fast, restartOnFailure: () => false },
    });
    const crashes: Array<{ restart: boolean; message: string }> = [];
    consumer.on(consumer.events.CRASH, ({ payload }) =>
      crashes.push({ restart: payload.restart, message: payload.error.message }),
    );
    consumer.subscribe({ topics: ['retry-stop'], fromBeginning: true });
    let calls = 0;
    const running = consumer.run({
      eachMessage: ({ message }) => {
        calls++;
        if (valueOf(message) === 3) throw new Error('poison record');
      },
    });
    await expect(running).rejects.toThrow('poison record');
    expect(crashes).toEqual([{ restart: false, message: 'poison record' }]);
    expect(calls).toBe(3 + 3); // 0, 1, 2 once; 3 three times (the first try and two retries)
    const [p] = await client.admin().fetchOffsets({ groupId: 'retry-stop', topics: ['retry-stop'] });
    expect(p!.offset).toBe(3n);
  });

  it('restarts after a crash when restartOnFailure says so, and the record is handled once it succeeds', async () => {
    await topicWith('retry-restart', 3);
    const decisions: Error[] = [];
    const consumer = client.consumer({
      retry: { retries: 1, ...fast, restartOnFailure: (err) => (decisions.push(err), true) },
    });
    consumer.assign([{ topic: 'retry-restart', partition: 0, offset: 0 }]);
    const crashes: boolean[] = [];
    consumer.on(consumer.events.CRASH, ({ payload }) => crashes.push(payload.restart));
    let failuresLeft = 3;
    const done: number[] = [];
    void consumer.run({
      eachBatch: ({ batch }) => {
        if (failuresLeft-- > 0) throw new Error('not yet');
        done.push(...batch.messages.map(valueOf));
      },
    });
    await waitFor('the batch handled after the restart', () => done.length === 3);
    expect(done).toEqual([0, 1, 2]);
    expect(crashes).toEqual([true]);
    expect(decisions).toHaveLength(1);
    await consumer.close();
  });
});

describe('serializers through a broker', () => {
  interface Order {
    id: string;
    total: number;
  }

  it('sends typed keys and values across topics with sendBatch and reads them back, with async deserializers too', async () => {
    const admin = client.admin();
    await admin.createTopics({ topics: [{ topic: 'orders-eu' }, { topic: 'orders-us' }] });
    const producer = client.producer<string, Order>({ serializers: { key: stringSerde(), value: jsonSerde<Order>() } });
    const results = await producer.sendBatch({
      topicMessages: [
        {
          topic: 'orders-eu',
          messages: [
            { key: 'a', value: { id: 'a', total: 1 } },
            { key: 'b', value: null },
          ],
        },
        { topic: 'orders-us', messages: [{ key: 'c', value: { id: 'c', total: 3 } }] },
      ],
    });
    expect(results.map((r) => [r.topic, r.offset])).toEqual([
      ['orders-eu', 0n],
      ['orders-eu', 1n],
      ['orders-us', 0n],
    ]);
    // A deserializer that answers with a promise, as a registry lookup does.
    const json = jsonSerde<Order>();
    const consumer = client.consumer<string, Order>({
      deserializers: {
        key: stringSerde(),
        value: { deserialize: async (data, context) => json.deserialize(data, context) },
      },
    });
    consumer.assign([
      { topic: 'orders-eu', partition: 0, offset: 0 },
      { topic: 'orders-us', partition: 0, offset: 0 },
    ]);
    const seen: Array<[string | null, Order | null]> = [];
    void consumer.run({ eachMessage: ({ message }) => void seen.push([message.key, message.value]) });
    await waitFor('three records', () => seen.length === 3);
    expect(seen).toEqual(
      expect.arrayContaining([
        ['a', { id: 'a', total: 1 }],
        ['b', null],
        ['c', { id: 'c', total: 3 }],
      ]),
    );
    await Promise.all([consumer.close(), producer.close()]);
  });

  it('a value that does not deserialize is a handler failure: retried, then the consumer stops on it', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'bad-json' }] });
    await client.producer().send({ topic: 'bad-json', messages: [{ value: '{"ok":1}' }, { value: '{broken' }] });
    const consumer = client.consumer<Buffer, { ok: number }>({
      deserializers: { value: jsonSerde() },
      retry: { retries: 1, initialRetryTimeMs: 5, maxRetryTimeMs: 10, restartOnFailure: () => false },
    });
    consumer.assign([{ topic: 'bad-json', partition: 0, offset: 0 }]);
    await expect(consumer.run({ eachMessage: () => undefined })).rejects.toMatchObject({
      errorName: 'INVALID_RECORD',
      message: expect.stringContaining('bad-json'),
    });
  });
});

describe('run()', () => {
  it('refuses a second run() or an iterator while one is handing records out, and allows one after close', async () => {
    await topicWith('run-once', 1);
    const consumer = client.consumer();
    consumer.assign([{ topic: 'run-once', partition: 0, offset: 0 }]);
    const seen: number[] = [];
    const running = consumer.run({ eachMessage: ({ message }) => void seen.push(valueOf(message)) });
    await expect(consumer.run({ eachMessage: () => undefined })).rejects.toMatchObject({
      errorName: 'INVALID_REQUEST',
    });
    await expect(consumer[Symbol.asyncIterator]().next()).rejects.toThrow(/already running/);
    await waitFor('the record', () => seen.length === 1);
    await consumer.close();
    await running;
  });
});
