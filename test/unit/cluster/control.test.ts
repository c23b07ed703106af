/**
 * The metadata image's deltas and the controller's pure cores, with plain data: no NATS, no clock.
 */
import { describe, expect, it } from 'vitest';
import { MillraceError } from '../../../protocol/errors.js';
import { brokerHeartbeat, fenceBroker, registerBroker } from '../../../src/cluster/cluster-control.js';
import { MetadataDelta, emptyImage, replayAll, type MetadataImage } from '../../../src/cluster/image.js';
import { brokerLeaves, changePartition } from '../../../src/cluster/partition-change.js';
import { keys, partitionPut, put, type MetadataRecord, type PartitionRecord } from '../../../src/cluster/records.js';
import { alterPartition, createTopics, deleteTopics, newPartition } from '../../../src/cluster/replication-control.js';

const part = (partition: number, replicas: number[], topicId = 'id-a'): PartitionRecord =>
  newPartition(topicId, partition, replicas);

const broker = (id: number, fenced = false): MetadataRecord =>
  put(keys.broker(id), {
    id,
    rack: null,
    epoch: id,
    incarnationId: `i${id}`,
    fenced,
    shuttingDown: false,
    kafkaEndpoint: null,
  });

function apply(image: MetadataImage, records: MetadataRecord[]) {
  const delta = new MetadataDelta(image);
  records.forEach((r, i) => delta.replay(r, image.version + i + 1));
  return delta.apply();
}

const env = { newTopicId: () => 'id-new', random: () => 0 };
const threeBrokers = replayAll(emptyImage, [broker(1), broker(2), broker(3)], 1);

describe('metadata image deltas', () => {
  it('shows a topic only once its record and all of its partitions are in, whatever their order', () => {
    const first = apply(emptyImage, [
      partitionPut('a', part(1, [2, 3])),
      put(keys.topic('a'), { name: 'a', id: 'id-a', configs: {}, partitionCount: 2 }),
    ]);
    expect(first.image.topics.has('a')).toBe(false);
    const second = apply(first.image, [partitionPut('a', part(0, [1, 2]))]);
    expect(second.image.topics.get('a')!.partitions.map((p) => p.replicas)).toEqual([
      [1, 2],
      [2, 3],
    ]);
    expect(second.changes.topics).toEqual(new Set(['a']));
    expect(second.changes.partitions.get('a')).toEqual(new Set([0, 1]));
  });

  it('names only the partition a change touches, and shares the rest of the image', () => {
    const { image } = apply(emptyImage, [
      ...[0, 1, 2].map((n) => partitionPut('a', part(n, [1, 2]))),
      put(keys.topic('a'), { name: 'a', id: 'id-a', configs: {}, partitionCount: 3 }),
      partitionPut('b', part(0, [1], 'id-b')),
      put(keys.topic('b'), { name: 'b', id: 'id-b', configs: {}, partitionCount: 1 }),
    ]);
    const next = changePartition(image.topics.get('a')!.partitions[1]!, { isr: [1] })!;
    const { image: after, changes } = apply(image, [partitionPut('a', next)]);
    expect([...changes.partitions]).toEqual([['a', new Set([1])]]);
    expect(changes.topics.size + changes.deletedTopics.size).toBe(0);
    expect(after.topics.get('b')).toBe(image.topics.get('b'));
    expect(after.topics.get('a')!.partitions[0]).toBe(image.topics.get('a')!.partitions[0]);
    expect(after.topics.get('a')!.partitions[1]!.isr).toEqual([1]);
  });

  it('treats a topic recreated under the same name as deleted and created, ignoring the old incarnation', () => {
    const { image } = apply(emptyImage, [
      partitionPut('a', part(0, [1])),
      put(keys.topic('a'), { name: 'a', id: 'id-a', configs: {}, partitionCount: 1 }),
    ]);
    const recreated = apply(image, [put(keys.topic('a'), { name: 'a', id: 'id-2', configs: {}, partitionCount: 1 })]);
    expect(recreated.image.topics.has('a')).toBe(false);
    expect(recreated.changes.deletedTopics.has('a')).toBe(true);
    const whole = apply(recreated.image, [partitionPut('a', part(0, [2], 'id-2'))]);
    expect(whole.image.topics.get('a')!.id).toBe('id-2');
    expect(whole.changes.topics.has('a')).toBe(true);
  });
});

describe('controller cores', () => {
  it('creates a topic as partition records then its topic record, and refuses a duplicate', () => {
    const { records, response } = createTopics(
      threeBrokers,
      { topics: [{ name: 'orders', numPartitions: 2, replicationFactor: 3 }] },
      { defaultPartitions: 1, defaultReplicationFactor: 1 },
      env,
    );
    expect(records.map((r) => r.key)).toEqual(['partition.orders.0', 'partition.orders.1', 'topic.orders']);
    expect(response.results![0]!.errorCode).toBe(0);
    const image = replayAll(threeBrokers, records, threeBrokers.version + 1);
    const again = createTopics(
      image,
      { topics: [{ name: 'orders', numPartitions: 1 }] },
      { defaultPartitions: 1, defaultReplicationFactor: 1 },
      env,
    );
    expect(again.records).toEqual([]);
    expect(again.response.results![0]!.errorCode).toBe(new MillraceError('TOPIC_ALREADY_EXISTS', '').code);
    expect(deleteTopics(image, ['orders']).records.map((r) => r.key)).toEqual([
      'topic.orders',
      'partition.orders.0',
      'partition.orders.1',
    ]);
  });

  it('moves a fenced leader to the first live ISR replica with the next leader epoch, or takes it offline', () => {
    const p = part(0, [1, 2, 3]);
    const moved = brokerLeaves(p, 1, new Set([2, 3]), false, 'fenced');
    expect(moved.next).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1, partitionEpoch: 1 });
    expect(moved.reason).toBe('fenced');
    const alone = brokerLeaves({ ...p, isr: [1] }, 1, new Set([2, 3]), false, 'fenced');
    expect(alone.next).toMatchObject({ leader: -1, isr: [1] });
    const unclean = brokerLeaves({ ...p, isr: [1] }, 1, new Set([3]), true, 'fenced');
    expect(unclean.next).toMatchObject({ leader: 3, isr: [3] });
    expect(unclean.reason).toBe('unclean');
    expect(changePartition(p, { isr: [1, 2, 3] })).toBeNull();
  });

  it('accepts an ISR change only from the leader at the current epochs, with live additions', () => {
    const created = createTopics(
      threeBrokers,
      { topics: [{ name: 't', numPartitions: 1, replicationFactor: 3 }] },
      { defaultPartitions: 1, defaultReplicationFactor: 1 },
      env,
    );
    const image = replayAll(threeBrokers, created.records, threeBrokers.version + 1);
    const p = image.topics.get('t')!.partitions[0]!;
    const item = { topic: 't', partition: 0, leaderEpoch: 0, partitionEpoch: 0, newIsr: [p.leader] };
    const shrink = alterPartition(image, { brokerId: p.leader, partitions: [item] });
    expect(shrink.response.results![0]).toMatchObject({ errorCode: 0, isr: [p.leader], partitionEpoch: 1 });
    const refusal = (img: typeof image, brokerId: number, change: Partial<typeof item>): string => {
      const { records, response } = alterPartition(img, { brokerId, partitions: [{ ...item, ...change }] });
      expect(records).toEqual([]);
      return MillraceError.fromCode(response.results![0]!.errorCode!, '').errorName;
    };
    expect(refusal(image, p.leader, { partitionEpoch: 5 })).toBe('INVALID_UPDATE_VERSION');
    expect(refusal(image, p.leader, { leaderEpoch: 3 })).toBe('FENCED_LEADER_EPOCH');
    expect(
      refusal(
        image,
        p.replicas.find((r) => r !== p.leader)!,
        {},
      ),
    ).toBe('NOT_LEADER_OR_FOLLOWER');
    const shrunk = replayAll(image, shrink.records, image.version + 1);
    const fenced = replayAll(shrunk, [broker(p.replicas[1]!, true)], shrunk.version + 1);
    expect(refusal(fenced, p.leader, { partitionEpoch: 1, newIsr: p.replicas })).toBe('INELIGIBLE_REPLICA');
    // A batch: each change gets its own result, and the good ones are written.
    const batch = alterPartition(image, {
      brokerId: p.leader,
      partitions: [item, { ...item, partition: 7 }],
    });
    expect(batch.records).toHaveLength(1);
    expect(batch.response.results!.map((r) => r.errorCode === 0)).toEqual([true, false]);
  });

  it('registers a broker fenced, with the sequence of its record as epoch, and unfences it when caught up', () => {
    const reg = registerBroker(threeBrokers, { brokerId: 4, incarnationId: 'x', rack: 'r1' }, 10, () => false);
    expect(reg.response.brokerEpoch).toBe(10);
    const image = replayAll(threeBrokers, reg.records, 10);
    const behind = brokerHeartbeat(image, { brokerId: 4, brokerEpoch: 10, currentMetadataOffset: 9 });
    expect(behind).toMatchObject({ records: [], response: { isFenced: true, isCaughtUp: false } });
    const caughtUp = brokerHeartbeat(image, { brokerId: 4, brokerEpoch: 10, currentMetadataOffset: 10 });
    expect(caughtUp.response.isFenced).toBe(false);
    expect(caughtUp.records[0]!.value).toMatchObject({ id: 4, fenced: false });
    expect(() => brokerHeartbeat(image, { brokerId: 4, brokerEpoch: 9, currentMetadataOffset: 10 })).toThrow(
      /STALE_BROKER_EPOCH|not the registered/,
    );
    // Another live process with the same id is refused; after its session ran out it is fenced first.
    expect(() => registerBroker(image, { brokerId: 1, incarnationId: 'other', rack: '' }, 11, () => true)).toThrow(
      /another live process/,
    );
    const replaced = registerBroker(image, { brokerId: 1, incarnationId: 'other', rack: '' }, 11, () => false);
    expect(replaced.records.map((r) => r.key)).toEqual(['broker.1', 'broker.1']);
    expect(replaced.response.brokerEpoch).toBe(12);
    expect(fenceBroker(image, 99, false).records).toEqual([]);
  });
});
