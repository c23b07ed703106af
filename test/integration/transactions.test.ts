import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { errorNameOf } from '../../protocol/errors.js';
import { encodeRecordBatch } from '../../protocol/records/index.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { Millrace, type ConsumerMessage, type IsolationLevel } from '../../src/client/index.js';
import { connectNats } from '../../src/transport/connection.js';
import { request } from '../../src/transport/rpc.js';
import { runCli } from '../harness/cli.js';
import { QUICK_GROUPS, startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('txn');
const settings = { ...QUICK_GROUPS, transactionStateLogNumPartitions: 2, transactionStateLogReplicationFactor: 2 };

beforeAll(async () => {
  const nats = inject('natsUrl');
  brokers.push(...(await Promise.all([1, 2].map((id) => startBroker(nats, cluster, id, settings)))));
  client = new Millrace({ servers: nats, cluster, clientId: 'txn-test' });
  const admin = client.admin();
  await admin.createTopics({
    topics: ['orders', 'audit', 'copy-in', 'copy-out', 'fence', 'slow'].map((topic) => ({
      topic,
      numPartitions: 2,
      replicationFactor: 2,
    })),
  });
}, 60_000);

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
});

/**
 * The first `count` records of `topic` (every partition from its start) as a consumer of that
 * isolation level reads them, sorted. Tests write committed records after the ones a reader must
 * skip, in every partition, so reading `count` proves the skipped ones were skipped.
 */
async function readAll(topic: string, isolationLevel: IsolationLevel, count: number): Promise<string[]> {
  const consumer = client.consumer({ isolationLevel, maxWaitMs: 200 });
  consumer.assign([0, 1].map((partition) => ({ topic, partition, offset: 'earliest' as const })));
  const out: string[] = [];
  const iterator = consumer[Symbol.asyncIterator]();
  try {
    await waitFor(`${count} records of ${topic}`, async () => {
      const next = await iterator.next();
      out.push((next.value as ConsumerMessage).value!.toString());
      return out.length >= count;
    });
  } finally {
    await iterator.return?.();
  }
  return out.sort();
}

async function listOffset(topic: string, partition: number, isolationLevel: number): Promise<number> {
  const nc = await connectNats({ servers: inject('natsUrl'), name: 'txn-test' });
  try {
    const meta = await client.admin().describeTopics([topic]);
    const leader = meta[0]!.partitions.find((p) => p.partition === partition)!.leader;
    const res = await request(
      nc,
      subjects.brokerApi(cluster, leader, 'list_offsets'),
      wire.ListOffsetsRequest,
      { replicaId: -1, isolationLevel, topics: [{ name: topic, partitions: [{ partition, timestamp: -1 }] }] },
      wire.ListOffsetsResponse,
      5_000,
    );
    return Number(res.topics[0]!.partitions[0]!.offset);
  } finally {
    await nc.close();
  }
}
/** A read_committed consumer's OffsetFetch (require_stable) of one partition: its offset, or its error's name. */
async function stableOffset(group: string, topic: string, partition: number): Promise<number | string> {
  const nc = await connectNats({ servers: inject('natsUrl'), name: 'txn-test' });
  try {
    const found = await request(
      nc,
      subjects.brokerApi(cluster, 1, 'find_coordinator'),
      wire.FindCoordinatorRequest,
      { key: group },
      wire.FindCoordinatorResponse,
      5_000,
    );
    const res = await request(
      nc,
      subjects.brokerApi(cluster, found.nodeId, 'offset_fetch'),
      wire.OffsetFetchRequest,
      { groupId: group, requireStable: true, topics: [{ name: topic, partitions: [{ partition }] }] },
      wire.OffsetFetchResponse,
      5_000,
    );
    const p = res.topics[0]!.partitions[0]!;
    return p.errorCode ? errorNameOf(p.errorCode) : Number(p.offset);
  } finally {
    await nc.close();
  }
}

const QUICK_CONSUMER = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 } as const;

const lastStable = (topic: string, partition: number) => listOffset(topic, partition, 1);
const highWatermark = (topic: string, partition: number) => listOffset(topic, partition, 0);

describe('transactions through the NATS door', () => {
  it('makes a transaction’s records visible to read_committed readers all at once, and an aborted one never', async () => {
    const producer = client.producer({ transactionalId: 'orders-writer' });
    const t1 = await producer.transaction();
    await t1.send({
      topic: 'orders',
      messages: [0, 1, 2, 3].map((i) => ({ partition: i % 2, value: `committed-${i}` })),
    });
    await t1.send({ topic: 'audit', messages: [{ value: 'committed-audit' }] });
    // Open: written, but below the last stable offset nothing of it is.
    expect((await highWatermark('orders', 0)) + (await highWatermark('orders', 1))).toBe(4);
    expect((await lastStable('orders', 0)) + (await lastStable('orders', 1))).toBe(0);
    await t1.commit();
    await waitFor(
      'the commit markers',
      async () => (await lastStable('orders', 0)) + (await lastStable('orders', 1)) >= 6,
    );

    const t2 = await producer.transaction();
    await t2.send({
      topic: 'orders',
      messages: [0, 1, 2, 3].map((i) => ({ partition: i % 2, value: `aborted-${i}` })),
    });
    await t2.abort();
    const t3 = await producer.transaction();
    await t3.send({ topic: 'orders', messages: [0, 1].map((i) => ({ partition: i, value: `after-${i}` })) });
    await t3.commit();

    expect(await readAll('orders', 'read_committed', 6)).toEqual([
      'after-0',
      'after-1',
      'committed-0',
      'committed-1',
      'committed-2',
      'committed-3',
    ]);
    const uncommitted = await readAll('orders', 'read_uncommitted', 10);
    expect(uncommitted.filter((v) => v.startsWith('aborted'))).toHaveLength(4);
    expect(await readAll('audit', 'read_committed', 1)).toEqual(['committed-audit']);
    await producer.close();
  });

  it('commits consumer offsets in the transaction: they count only when it commits', async () => {
    const input = client.producer();
    await input.send({
      topic: 'copy-in',
      messages: [0, 1, 2, 3, 4, 5].map((i) => ({ key: `k${i}`, value: `in-${i}` })),
    });
    const producer = client.producer({ transactionalId: 'copier' });
    const group = 'copier-group';
    const offsetsOf = async () =>
      (await client.admin().fetchOffsets({ groupId: group, topics: ['copy-in'] }))
        .map((o) => `${o.partition}:${o.offset}`)
        .sort();

    const aborted = await producer.transaction();
    await aborted.send({ topic: 'copy-out', messages: [{ partition: 0, value: 'never' }] });
    await aborted.sendOffsets({
      consumerGroupId: group,
      topics: [{ topic: 'copy-in', partitions: [{ partition: 0, offset: '2' }] }],
    });
    await aborted.abort();
    expect(await offsetsOf()).toEqual(['0:-1', '1:-1']);

    const t = await producer.transaction();
    await t.send({ topic: 'copy-out', messages: [{ partition: 0, value: 'copied' }] });
    await t.sendOffsets({
      consumerGroupId: group,
      topics: [
        {
          topic: 'copy-in',
          partitions: [
            { partition: 0, offset: 3n },
            { partition: 1, offset: 1 },
          ],
        },
      ],
    });
    // KIP-447: while the transaction is open, a read_committed consumer's OffsetFetch waits.
    expect(await stableOffset(group, 'copy-in', 0)).toBe('UNSTABLE_OFFSET_COMMIT');
    await t.commit();
    await waitFor('the offset to be stable', async () =>
      (await stableOffset(group, 'copy-in', 0)) === 3 ? true : undefined,
    );
    await waitFor('the offsets of the committed transaction', async () => {
      const now = await offsetsOf();
      return now.join() === ['0:3', '1:1'].join() ? now : undefined;
    });
    expect(await readAll('copy-out', 'read_committed', 1)).toEqual(['copied']);
    await Promise.all([input.close(), producer.close()]);
  });

  it('fences an earlier producer of the same transactional id, aborting its open transaction', async () => {
    const first = client.producer({ transactionalId: 'fenced-id' });
    const t = await first.transaction();
    await t.send({ topic: 'fence', messages: [{ partition: 0, value: 'zombie' }] });
    const second = client.producer({ transactionalId: 'fenced-id' });
    const t2 = await second.transaction();
    await t2.send({ topic: 'fence', messages: [{ partition: 0, value: 'successor' }] });
    await t2.commit();
    await expect(t.commit()).rejects.toMatchObject({
      errorName: expect.stringMatching(/PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/),
    });
    expect(await readAll('fence', 'read_committed', 1)).toEqual(['successor']);
    await Promise.all([first.close(), second.close()]);
  });

  it('aborts a transaction open past its timeout, and the producer learns it was fenced', async () => {
    const producer = client.producer({ transactionalId: 'slow-id', transactionTimeoutMs: 500 });
    const t = await producer.transaction();
    await t.send({ topic: 'slow', messages: [{ partition: 0, value: 'too-slow' }] });
    // The abort marker follows the record: the partition is stable again, two offsets long.
    await waitFor('the coordinator to abort the transaction', async () =>
      (await lastStable('slow', 0)) === 2 ? true : undefined,
    );
    await expect(t.commit()).rejects.toMatchObject({
      errorName: expect.stringMatching(/PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/),
    });
    await producer.close();
    const next = client.producer({ transactionalId: 'slow-id' });
    const t2 = await next.transaction();
    await t2.send({ topic: 'slow', messages: [{ partition: 0, value: 'in-time' }] });
    await t2.commit();
    expect(await readAll('slow', 'read_committed', 1)).toEqual(['in-time']);
    await next.close();
  });

  it('refuses transactional data for a partition not added to the transaction (KIP-890)', async () => {
    const nc = await connectNats({ servers: inject('natsUrl'), name: 'txn-test' });
    try {
      const topic = (await client.admin().describeTopics(['orders']))[0]!;
      const leader = topic.partitions[0]!.leader;
      // A real transactional producer id and epoch, with no partition added.
      const producer = client.producer({ transactionalId: 'kip890' });
      await (await producer.transaction()).abort();
      const res = await request(
        nc,
        subjects.brokerApi(cluster, leader, 'produce'),
        wire.ProduceRequest,
        {
          acks: -1,
          timeoutMs: 5_000,
          transactionalId: 'kip890',
          topics: [
            {
              name: 'orders',
              partitions: [
                {
                  partition: 0,
                  records: encodeRecordBatch([{ key: null, value: Buffer.from('sneaked'), timestamp: Date.now() }], {
                    producerId: 999_999,
                    producerEpoch: 0,
                    baseSequence: 0,
                    transactional: true,
                  }),
                },
              ],
            },
          ],
        },
        wire.ProduceResponse,
        10_000,
      );
      expect(res.topics[0]!.partitions[0]!.errorCode).toBe(120); // TRANSACTION_ABORTABLE
      await producer.close();
    } finally {
      await nc.close();
    }
  });

  it('lists and describes transactions with the CLI, and dump-log shows the markers and the aborted index', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'cli-orders', numPartitions: 1, replicationFactor: 2 }] });
    const writer = client.producer({ transactionalId: 'cli-writer' });
    for (const outcome of ['commit', 'abort', 'commit'] as const) {
      const w = await writer.transaction();
      await w.send({ topic: 'cli-orders', messages: [{ value: `${outcome}-a` }, { value: `${outcome}-b` }] });
      await (outcome === 'commit' ? w.commit() : w.abort());
    }
    await writer.close();
    const producer = client.producer({ transactionalId: 'cli-open', transactionTimeoutMs: 60_000 });
    const t = await producer.transaction();
    await t.send({ topic: 'audit', messages: [{ partition: 1, value: 'pending' }] });
    const conn = ['--nats', inject('natsUrl'), '--cluster', cluster];
    // EndTxn answers before the markers land: the id shows CompleteCommit once they did.
    const listed = await waitFor('the listing to show both ids', async () => {
      const list = await runCli(['transactions', 'list', '--json', ...conn]);
      expect(list.status, list.stderr).toBe(0);
      const all = JSON.parse(list.stdout) as Array<{ transactionalId: string; state: string }>;
      const states = new Map(all.map((x) => [x.transactionalId, x.state]));
      return states.get('cli-open') === 'Ongoing' && states.get('cli-writer') === 'CompleteCommit' ? all : undefined;
    });
    expect(listed.length).toBeGreaterThanOrEqual(2);
    const ongoing = await runCli(['transactions', 'list', '--state', 'Ongoing', ...conn]);
    expect(
      ongoing.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split('\t')[0]),
    ).toEqual(['cli-open']);
    const described = await runCli(['transactions', 'describe', 'cli-open', ...conn]);
    expect(described.status, described.stderr).toBe(0);
    expect(described.stdout).toMatch(/\tcli-open\t\d+\t\d+\tOngoing\t60000\t\d{4}-.*\taudit-1/);
    const missing = await runCli(['transactions', 'describe', 'no-such-id', ...conn]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('TRANSACTIONAL_ID_NOT_FOUND');
    await t.abort();
    await producer.close();

    // The partition's log holds the commit and abort markers, and the abort's index entry.
    const leader = (await client.admin().describeTopics(['cli-orders']))[0]!.partitions[0]!.leader;
    const dir = path.join(brokers[leader - 1]!.dataDir, 'cli-orders-0');
    const dump = await runCli(['dump-log', path.join(dir, '00000000000000000000.log'), '--json']);
    expect(dump.status, dump.stderr).toBe(0);
    const batches = dump.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const markers = batches.filter((b) => b.isControl).map((b) => b.endTxnMarker);
    expect(markers).toEqual(['COMMIT', 'ABORT', 'COMMIT']);
    expect(batches.filter((b) => !b.isControl).every((b) => b.isTransactional)).toBe(true);
    const index = await runCli(['dump-log', path.join(dir, '00000000000000000000.txnindex')]);
    expect(index.status, index.stderr).toBe(0);
    expect(index.stdout).toMatch(/producerId: \d+ firstOffset: 3 lastOffset: 5 lastStableOffset: 6/);
  });

  it('commits a group consumer’s position past the marker that ends a partition, so its lag is 0', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'lagless', numPartitions: 1, replicationFactor: 2 }] });
    const producer = client.producer({ transactionalId: 'lagless-writer' });
    const t = await producer.transaction();
    await t.send({ topic: 'lagless', messages: [{ value: 'a' }, { value: 'b' }] });
    await t.commit();
    await producer.close();
    await waitFor('the commit marker', async () => ((await lastStable('lagless', 0)) === 3 ? true : undefined));
    const consumer = client.consumer({ groupId: 'lagless-group', isolationLevel: 'read_committed', ...QUICK_CONSUMER });
    consumer.subscribe({ topics: ['lagless'], fromBeginning: true });
    const seen: string[] = [];
    void consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    await waitFor('both records', () => seen.length === 2);
    await waitFor('the committed position past the marker', async () => {
      await consumer.commit();
      const [o] = await client.admin().fetchOffsets({ groupId: 'lagless-group', topics: ['lagless'] });
      return o?.offset === 3n ? true : undefined;
    });
    expect(seen).toEqual(['a', 'b']);
    await consumer.close();
  });
});
