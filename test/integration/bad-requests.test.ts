import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MillraceError } from '../../protocol/errors.js';
import { crc32c, encodeRecordBatch } from '../../protocol/records/index.js';
import { BROKER_APIS, subjects, type BrokerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { Millrace } from '../../src/client/index.js';
import { request } from '../../src/transport/rpc.js';
import { startBroker, stopAll, uniqueCluster, type TestBroker } from '../harness/cluster.js';

const cluster = uniqueCluster('bad');
const brokers: TestBroker[] = [];
let nc: NatsConnection;

beforeAll(async () => {
  brokers.push(await startBroker(inject('natsUrl'), cluster, 1));
  nc = await connect({ servers: inject('natsUrl') });
  const c = new Millrace({ servers: inject('natsUrl'), cluster });
  await c.admin().createTopics({
    topics: [
      { topic: 'good', numPartitions: 1 },
      { topic: 'small', numPartitions: 1, configs: { 'max.message.bytes': '1000' } },
    ],
  });
  await c.close();
});

afterAll(async () => {
  await nc.close();
  await stopAll(brokers);
});

const api = (name: BrokerApi) => subjects.brokerApi(cluster, 1, name);
const errorName = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'NONE';
  } catch (err) {
    return (err as MillraceError).errorName;
  }
};

async function stillServing(): Promise<void> {
  const md = await request(
    nc,
    subjects.metadata(cluster),
    wire.MetadataRequest,
    { topics: ['good'] },
    wire.MetadataResponse,
    5000,
  );
  expect(md.topics[0]!.errorCode).toBe(0);
}

function produce(topic: string, records: Buffer, acks = 1) {
  return request(
    nc,
    api('produce'),
    wire.ProduceRequest,
    { acks, topics: [{ name: topic, partitions: [{ partition: 0, records }] }] },
    wire.ProduceResponse,
    5000,
  );
}

async function partitionError(
  p: Promise<{ topics: Array<{ partitions: Array<{ errorCode?: number | null }> }> }>,
): Promise<string> {
  const res = await p;
  const code = res.topics[0]!.partitions[0]!.errorCode ?? 0;
  return code === 0 ? 'NONE' : MillraceError.fromCode(code, '').errorName;
}

describe('bad requests get the right error and the broker keeps serving', () => {
  it('garbage bytes on every API subject', async () => {
    // The first APIs: the data path and topic administration.
    for (const name of BROKER_APIS.slice(0, 7)) {
      const reply = await nc.request(api(name), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x33]), {
        timeout: 5000,
      });
      const decoded = wire.ErrorResponse.decode(reply.data);
      expect(MillraceError.fromCode(decoded.errorCode, '').errorName, name).toBe('INVALID_REQUEST');
    }
    await stillServing();
  });

  it('unknown topics and partitions', async () => {
    expect(await partitionError(produce('nope', encodeRecordBatch([{ value: Buffer.from('x') }])))).toBe(
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
    const fetch = request(
      nc,
      api('fetch'),
      wire.FetchRequest,
      { maxWaitMs: 0, topics: [{ name: 'good', partitions: [{ partition: 7, fetchOffset: 0 }] }] },
      wire.FetchResponse,
      5000,
    );
    expect(await partitionError(fetch)).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    const lo = request(
      nc,
      api('list_offsets'),
      wire.ListOffsetsRequest,
      { topics: [{ name: 'nope', partitions: [{ partition: 0, timestamp: -1 }] }] },
      wire.ListOffsetsResponse,
      5000,
    );
    expect(await partitionError(lo)).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    await stillServing();
  });

  it('invalid names, acks and partition counts', async () => {
    const created = await request(
      nc,
      api('create_topics'),
      wire.CreateTopicsRequest,
      {
        topics: [
          { name: 'a/b', numPartitions: 1 },
          { name: '', numPartitions: 1 },
          { name: 'ok-but-zero', numPartitions: -5 },
        ],
      },
      wire.CreateTopicsResponse,
      5000,
    );
    expect(created.results.map((r) => MillraceError.fromCode(r.errorCode ?? 0, '').errorName)).toEqual([
      'INVALID_TOPIC_EXCEPTION',
      'INVALID_TOPIC_EXCEPTION',
      'INVALID_PARTITIONS',
    ]);
    expect(await errorName(produce('good', encodeRecordBatch([{ value: Buffer.from('x') }]), 2))).toBe(
      'INVALID_REQUIRED_ACKS',
    );
    await stillServing();
  });

  it("serves topic names Kafka allows but a NATS subject cannot carry as they are ('a..b', '.x', 'x.')", async () => {
    const c = new Millrace({ servers: inject('natsUrl'), cluster });
    try {
      const names = ['a..b', '.hidden', 'trailing.'];
      await c.admin().createTopics({ topics: names.map((topic) => ({ topic })) });
      expect(await c.admin().listTopics()).toEqual(expect.arrayContaining(names));
      await c.producer({ acks: 'all' }).send({ topic: 'a..b', messages: [{ value: 'dots' }] });
      const [described] = await c.admin().describeTopics(['a..b']);
      expect(described!.partitions[0]!.latestOffset).toBe(1n);
    } finally {
      await c.close();
    }
  });

  it('oversized batches and CRC mismatches', async () => {
    expect(await partitionError(produce('small', encodeRecordBatch([{ value: Buffer.alloc(2_000, 1) }])))).toBe(
      'MESSAGE_TOO_LARGE',
    );
    expect(await partitionError(produce('small', encodeRecordBatch([{ value: Buffer.alloc(500, 1) }])))).toBe('NONE');
    const huge = encodeRecordBatch([{ value: Buffer.alloc(1_100_000, 1) }]);
    expect(await errorName(produce('good', huge))).toBe('RECORD_LIST_TOO_LARGE'); // refused before sending: over max_payload
    const corrupt = encodeRecordBatch([{ value: Buffer.from('hello') }]);
    corrupt[corrupt.length - 2]! ^= 0xff;
    expect(await partitionError(produce('good', corrupt))).toBe('CORRUPT_MESSAGE');
    expect(await partitionError(produce('good', Buffer.from('not a batch')))).toBe('CORRUPT_MESSAGE');
    // A valid CRC over a batch that claims more records than its offsets allow.
    const miscounted = encodeRecordBatch([{ value: Buffer.from('hello') }]);
    miscounted.writeInt32BE(3, 57);
    miscounted.writeUInt32BE(crc32c(miscounted.subarray(21)), 17);
    expect(await partitionError(produce('good', miscounted))).toBe('INVALID_RECORD');
    // Nothing bad was appended: the log is still empty.
    const lo = await request(
      nc,
      api('list_offsets'),
      wire.ListOffsetsRequest,
      { topics: [{ name: 'good', partitions: [{ partition: 0, timestamp: -1 }] }] },
      wire.ListOffsetsResponse,
      5000,
    );
    expect(lo.topics[0]!.partitions[0]!.offset).toBe(0);
    await stillServing();
  });

  it('negative and out-of-range offsets, and stale leader epochs', async () => {
    const fetchAt = (fetchOffset: number, currentLeaderEpoch = -1) =>
      partitionError(
        request(
          nc,
          api('fetch'),
          wire.FetchRequest,
          { maxWaitMs: 0, topics: [{ name: 'good', partitions: [{ partition: 0, fetchOffset, currentLeaderEpoch }] }] },
          wire.FetchResponse,
          5000,
        ),
      );
    expect(await fetchAt(-1)).toBe('OFFSET_OUT_OF_RANGE');
    expect(await fetchAt(1_000)).toBe('OFFSET_OUT_OF_RANGE');
    expect(await fetchAt(0, 99)).toBe('UNKNOWN_LEADER_EPOCH');
    const lo = request(
      nc,
      api('list_offsets'),
      wire.ListOffsetsRequest,
      { topics: [{ name: 'good', partitions: [{ partition: 0, timestamp: -7 }] }] },
      wire.ListOffsetsResponse,
      5000,
    );
    expect(await partitionError(lo)).toBe('INVALID_REQUEST');
    await stillServing();
  });
});
