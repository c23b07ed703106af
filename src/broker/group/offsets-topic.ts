/**
 * The records of `__consumer_offsets` (Kafka's layout: a 2-byte key type, then the key and value
 * bodies, here protobuf) and the rule placing a group on one of its partitions.
 */
import type { GroupContext } from '../../../actors/consumer-group.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import { isControlBatch, isTransactional, markerTypeOf } from '../../../protocol/records/index.js';
import type { Log } from '../../storage/log.js';
import { replayInternal, type InternalRecord } from '../internal-topics.js';
import { tpKey } from '../../../protocol/topic-partition.js';
import { wire } from '../../../protocol/wire.js';

export const OFFSETS_TOPIC = '__consumer_offsets';
const OFFSET_KEY = 1;
const GROUP_KEY = 2;

/** A record of a __consumer_offsets partition; a null value is a tombstone. */
export type OffsetsRecord = InternalRecord;

export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
}

/** Java's String.hashCode, so a group maps to the partition a Kafka broker would choose. */
export function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

export const offsetsPartitionFor = (group: string, partitions: number): number =>
  (javaStringHash(group) & 0x7fffffff) % partitions;

export function offsetKey(group: string, topic: string, partition: number): Buffer {
  return typedKey(OFFSET_KEY, wire.OffsetCommitKey.encode({ group, topic, partition }).finish());
}

export function groupKey(group: string): Buffer {
  return typedKey(GROUP_KEY, wire.GroupMetadataKey.encode({ group }).finish());
}

function typedKey(type: number, body: Uint8Array): Buffer {
  const key = Buffer.allocUnsafe(2 + body.length);
  key.writeInt16BE(type, 0);
  key.set(body, 2);
  return key;
}

export function offsetValue(v: CommittedOffset): Buffer {
  return Buffer.from(wire.OffsetCommitValue.encode(v).finish());
}

/** The group's metadata record: its generation and members, as a coordinator restores them. */
export function groupMetadataRecord(ctx: GroupContext, now: number): OffsetsRecord {
  const value = wire.GroupMetadataValue.encode({
    protocolType: ctx.protocolType ?? '',
    generation: ctx.generation,
    protocol: ctx.protocol ?? '',
    leader: ctx.leader ?? '',
    currentStateTimestamp: now,
    members: Object.values(ctx.members).map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId ?? '',
      clientId: m.clientId,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      subscription: m.protocols.find((p) => p.name === ctx.protocol)?.metadata ?? new Uint8Array(0),
      assignment: m.assignment,
    })),
  }).finish();
  return { key: groupKey(ctx.groupId), value: Buffer.from(value) };
}

/** Applies one record of the partition to the offsets and group metadata being rebuilt. */
export function replayOffsetsRecord(
  key: Buffer,
  value: Buffer | null,
  offsets: GroupOffsets,
  metadata: Map<string, millrace.GroupMetadataValue>,
): void {
  const type = key.readInt16BE(0);
  if (type === OFFSET_KEY) {
    const k = wire.OffsetCommitKey.decode(key.subarray(2));
    let byGroup = offsets.get(k.group);
    if (!byGroup) offsets.set(k.group, (byGroup = new Map()));
    if (value === null) byGroup.delete(tpKey(k.topic, k.partition));
    else {
      const v = wire.OffsetCommitValue.decode(value);
      byGroup.set(tpKey(k.topic, k.partition), {
        offset: Number(v.offset),
        leaderEpoch: v.leaderEpoch,
        metadata: v.metadata,
        commitTimestamp: Number(v.commitTimestamp),
      });
    }
  } else if (type === GROUP_KEY) {
    const k = wire.GroupMetadataKey.decode(key.subarray(2));
    if (value === null) {
      metadata.delete(k.group);
      offsets.delete(k.group);
    } else metadata.set(k.group, wire.GroupMetadataValue.decode(value));
  }
}

/** Offsets by group, then by topic-partition key. */
export type GroupOffsets = Map<string, Map<string, CommittedOffset>>;

/** Applies offsets committed by a transaction once its commit marker is read or written. */
export function mergeOffsets(into: GroupOffsets, from: GroupOffsets): void {
  for (const [group, byPartition] of from) {
    let target = into.get(group);
    if (!target) into.set(group, (target = new Map()));
    for (const [k, v] of byPartition) target.set(k, v);
  }
}

/**
 * Replays a partition of the topic (last record per key wins) in chunks that yield to the event
 * loop; null when `stale()` says the partition moved meanwhile. Offsets committed in a
 * transaction (TxnOffsetCommit: transactional batches) count once their commit marker follows;
 * `pending` holds those of transactions still open, by producer id.
 */
export async function readOffsetsPartition(
  log: Log,
  stale: () => boolean,
): Promise<{
  offsets: GroupOffsets;
  metadata: Map<string, millrace.GroupMetadataValue>;
  pending: Map<number, GroupOffsets>;
} | null> {
  const offsets: GroupOffsets = new Map();
  const metadata = new Map<string, millrace.GroupMetadataValue>();
  const pending = new Map<number, GroupOffsets>();
  const ignored = new Map<string, millrace.GroupMetadataValue>();
  const done = await replayInternal(log, stale, (batch, from) => {
    const { header } = batch;
    if (isControlBatch(header)) {
      const open = pending.get(header.producerId);
      pending.delete(header.producerId);
      if (open && markerTypeOf(batch.records[0]?.key ?? null) === 'COMMIT') mergeOffsets(offsets, open);
      return;
    }
    let into = offsets;
    if (isTransactional(header)) {
      into = pending.get(header.producerId) ?? new Map();
      pending.set(header.producerId, into);
    }
    for (const r of batch.records) {
      if (r.offset < from || !r.key) continue;
      replayOffsetsRecord(r.key, r.value, into, into === offsets ? metadata : ignored);
    }
  });
  return done ? { offsets, metadata, pending } : null;
}
