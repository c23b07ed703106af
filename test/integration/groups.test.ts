import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, MillraceError, type TopicPartition } from '../../src/client/index.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('groups');
const GROUP_SETTINGS = { sessionTimeoutMs: 2_000, heartbeatIntervalMs: 200, autoCommitIntervalMs: 300 };

beforeAll(async () => {
  brokers.push(
    await startBroker(inject('natsUrl'), cluster, 1, {
      offsetsTopicPartitions: 3,
      groupInitialRebalanceDelayMs: 200,
      groupMinSessionTimeoutMs: 500,
    }),
  );
  client = new Millrace({ servers: inject('natsUrl'), cluster });
});

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
});

async function produce(topic: string, count: number, partitions: number, from = 0): Promise<void> {
  const producer = client.producer({ lingerMs: 1 });
  await producer.send({
    topic,
    messages: Array.from({ length: count }, (_, i) => ({
      value: String(from + i),
      partition: (from + i) % partitions,
    })),
  });
}

/** Runs a group consumer, collecting values; returns it with its collected values. */
function member(groupId: string, topic: string | RegExp, extra: Record<string, unknown> = {}) {
  const seen: number[] = [];
  const consumer = client.consumer({ groupId, ...GROUP_SETTINGS, ...extra });
  consumer.subscribe({ topics: [topic], fromBeginning: true });
  const running = consumer.run({
    eachMessage: async ({ message }) => void seen.push(Number(message.value!.toString())),
  });
  return { consumer, seen, running };
}

const count = (tps: TopicPartition[]): number => tps.length;

describe('consumer groups', () => {
  it('splits partitions between members, moves them when one leaves, and keeps committed offsets', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 6 }] });
    await produce('orders', 600, 6);
    const a = member('billing', 'orders');
    const b = member('billing', 'orders');
    await waitFor('600 records consumed by the two members', () => new Set([...a.seen, ...b.seen]).size === 600);
    await waitFor(
      'three partitions each',
      () => count(a.consumer.assignment()) === 3 && count(b.consumer.assignment()) === 3,
    );
    const [described] = await client.admin().describeGroups(['billing']);
    expect(described!.state).toBe('Stable');
    expect(described!.protocol).toBe('cooperative-sticky');
    expect(described!.members.map((m) => m.assignment.length).sort()).toEqual([3, 3]);
    expect((await client.admin().listGroups()).map((g) => g.groupId)).toContain('billing');

    await b.consumer.close();
    await waitFor('the remaining member owns all six', () => count(a.consumer.assignment()) === 6);
    await produce('orders', 60, 6, 600);
    await waitFor('the new records consumed', () => a.seen.filter((v) => v >= 600).length === 60);
    await a.consumer.close();
    const committed = await client.admin().fetchOffsets({ groupId: 'billing', topics: ['orders'] });
    expect(committed.map((c) => c.offset)).toEqual(Array(6).fill(110n));
    expect((await client.admin().describeGroups(['billing']))[0]!.state).toBe('Empty');
  });

  it('resumes from committed offsets, resets them when empty, and deletes the group', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'audit', numPartitions: 2 }] });
    await produce('audit', 100, 2);
    const first = member('auditors', 'audit');
    await waitFor('100 consumed', () => first.seen.length === 100);
    await first.consumer.close();
    await produce('audit', 10, 2, 100);
    const second = member('auditors', 'audit');
    await waitFor('the 10 new ones', () => second.seen.length === 10);
    expect(second.seen.every((v) => v >= 100)).toBe(true);
    await expect(client.admin().resetOffsets({ groupId: 'auditors', topic: 'audit', to: 'earliest' })).rejects.toThrow(
      /NON_EMPTY_GROUP/,
    );
    await second.consumer.close();
    expect(await client.admin().resetOffsets({ groupId: 'auditors', topic: 'audit', to: { shiftBy: -5 } })).toEqual([
      { partition: 0, offset: 50n, current: 55n },
      { partition: 1, offset: 50n, current: 55n },
    ]);
    const third = member('auditors', 'audit');
    await waitFor('the last five of each partition again', () => third.seen.length === 10);
    await third.consumer.close();
    await client.admin().deleteGroups(['auditors']);
    expect((await client.admin().listGroups()).map((g) => g.groupId)).not.toContain('auditors');
    await expect(client.admin().deleteGroups(['auditors'])).rejects.toThrow(/GROUP_ID_NOT_FOUND/);
  });

  it('subscribes by pattern, with the eager range assignor as well', async () => {
    await client.admin().createTopics({
      topics: [
        { topic: 'metrics.cpu', numPartitions: 2 },
        { topic: 'metrics.mem', numPartitions: 2 },
      ],
    });
    await produce('metrics.cpu', 20, 2);
    await produce('metrics.mem', 20, 2, 20);
    const m = member('dash', /^metrics\./, { assignors: ['range'] });
    await waitFor('both topics consumed', () => m.seen.length === 40);
    expect(count(m.consumer.assignment())).toBe(4);
    expect((await client.admin().describeGroups(['dash']))[0]!.protocol).toBe('range');
    await m.consumer.close();
  });

  it('fences the older of two members claiming one static instance id', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'fence', numPartitions: 1 }] });
    const first = client.consumer({ groupId: 'fenced', groupInstanceId: 'only-one', ...GROUP_SETTINGS });
    first.subscribe({ topics: ['fence'] });
    const failed = first.run({ eachMessage: () => undefined }).catch((e: unknown) => e as MillraceError);
    await waitFor('the first member assigned', () => count(first.assignment()) === 1);
    const second = client.consumer({ groupId: 'fenced', groupInstanceId: 'only-one', ...GROUP_SETTINGS });
    second.subscribe({ topics: ['fence'] });
    void second.run({ eachMessage: () => undefined });
    expect(((await failed) as MillraceError).errorName).toBe('FENCED_INSTANCE_ID');
    await waitFor('the second member assigned', () => count(second.assignment()) === 1);
    await second.close();
  });

  it('leaves the group while a handler overruns maxPollIntervalMs, and rejoins after it', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'slowpoke', numPartitions: 2 }] });
    await produce('slowpoke', 2, 2);
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const slow = client.consumer({ groupId: 'poll', ...GROUP_SETTINGS, maxPollIntervalMs: 800 });
    slow.subscribe({ topics: ['slowpoke'], fromBeginning: true });
    let handled = 0;
    const running = slow.run({
      eachMessage: async () => {
        if (handled++ === 0) await stuck;
      },
    });
    await waitFor(
      'the handler stuck on its first message, with both partitions',
      () => handled === 1 && count(slow.assignment()) === 2,
    );
    await waitFor(
      'the slow member out of the group',
      async () => (await client.admin().describeGroups(['poll']))[0]!.members.length === 0,
    );
    expect(slow.assignment()).toEqual([]);
    release();
    await waitFor('the member back with both partitions', () => count(slow.assignment()) === 2);
    await slow.close();
    await running;
  });

  it('commits manually and reports lag on the coordinator’s metrics', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'manual', numPartitions: 1 }] });
    await produce('manual', 10, 1);
    const c = client.consumer({ groupId: 'manual-g', ...GROUP_SETTINGS, autoCommit: false });
    c.subscribe({ topics: ['manual'], fromBeginning: true });
    let n = 0;
    void c.run({ eachMessage: () => void n++ });
    await waitFor('ten consumed', () => n === 10);
    await c.commit([{ topic: 'manual', partition: 0, offset: 4n }]);
    expect(await client.admin().fetchOffsets({ groupId: 'manual-g' })).toEqual([
      { topic: 'manual', partition: 0, offset: 4n },
    ]);
    const metrics = `http://127.0.0.1:${brokers[0]!.broker.metricsPort}/metrics`;
    await waitFor('lag 6 in the metrics', async () =>
      (await (await fetch(metrics)).text()).includes(
        'millrace_consumer_group_lag{group="manual-g",topic="manual",partition="0"} 6',
      ),
    );
    await c.commit();
    expect((await client.admin().fetchOffsets({ groupId: 'manual-g' }))[0]!.offset).toBe(10n);
    await c.close();
  });

  it('refuses bad group use with clear errors', async () => {
    const c = client.consumer({ groupId: 'x' });
    expect(() => c.assign([{ topic: 'orders', partition: 0 }])).toThrow(/subscribe/);
    expect(() => client.consumer().subscribe({ topics: ['orders'] })).toThrow(/groupId/);
    expect(() =>
      client.consumer({ groupId: 'x', assignors: ['sticky' as 'range'] }).subscribe({ topics: ['t'] }),
    ).toThrow(/unknown assignor/);
    await expect(client.admin().createTopics({ topics: [{ topic: '__consumer_offsets' }] })).rejects.toThrow(
      /internal/,
    );
    const err = await client
      .producer()
      .send({ topic: '__consumer_offsets', messages: [{ value: 'x' }] })
      .catch((e: unknown) => e);
    expect((err as MillraceError).errorName).toBe('INVALID_TOPIC_EXCEPTION');
    await c.close();
  });
});

describe('offsets retention', () => {
  it('removes the committed offsets of a group empty for offsets.retention', async () => {
    const expiring = uniqueCluster('expiry');
    const broker = await startBroker(inject('natsUrl'), expiring, 1, {
      offsetsTopicPartitions: 1,
      offsetsRetentionMs: 1_000,
      offsetsRetentionCheckIntervalMs: 200,
    });
    const c = new Millrace({ servers: inject('natsUrl'), cluster: expiring });
    try {
      await c.admin().createTopics({ topics: [{ topic: 'ledger', numPartitions: 1 }] });
      await c.admin().setOffsets({ groupId: 'idle', topic: 'ledger', partitions: [{ partition: 0, offset: 0 }] });
      expect(await c.admin().fetchOffsets({ groupId: 'idle' })).toEqual([
        { topic: 'ledger', partition: 0, offset: 0n },
      ]);
      await waitFor(
        'the idle group’s offsets to expire',
        async () => (await c.admin().fetchOffsets({ groupId: 'idle' })).length === 0,
      );
      expect((await c.admin().listGroups()).map((g) => g.groupId)).not.toContain('idle');
    } finally {
      await c.close();
      await stopAll([broker]);
    }
  });
});
