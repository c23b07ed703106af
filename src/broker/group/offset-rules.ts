/**
 * The group coordinator's offset decisions, as pure functions in the manner of Kafka's
 * OffsetMetadataManager: who may commit, what a commit writes, what a fetch answers, what
 * removing a group writes and which empty groups' offsets have expired. No I/O, no clock.
 */
import type { GroupState } from '../../../actors/consumer-group.js';
import { coordinatorWriteError } from '../internal-topics.js';
import { MillraceError, type ErrorName } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import { parseTpKey, tpKey } from '../../../protocol/topic-partition.js';
import { decodeSubscription } from '../../../protocol/kafka/consumer-protocol.js';
import { checkGeneration, memberOf, type GroupView } from './group-rules.js';
import { groupKey, offsetKey, offsetValue, type CommittedOffset, type OffsetsRecord } from './offsets-topic.js';

/**
 * Who may commit: with a generation, a member of the current generation outside the sync phase;
 * without one (an admin tool), only while the group has no members.
 */
export function admitCommit({ ctx, state }: GroupView, req: millrace.IOffsetCommitRequest): void {
  if ((req.generationId ?? -1) < 0 && !req.memberId) {
    if (Object.keys(ctx.members).length > 0)
      throw new MillraceError(
        'UNKNOWN_MEMBER_ID',
        `group '${ctx.groupId}' has members: only they commit its offsets (stop them first)`,
      );
    return;
  }
  memberOf(ctx, req.memberId ?? '', req.groupInstanceId ?? '');
  checkGeneration(ctx, req.generationId ?? -1);
  if (state === 'CompletingRebalance')
    throw new MillraceError('REBALANCE_IN_PROGRESS', `group '${ctx.groupId}' is completing a rebalance`);
}

export interface CommitPlan {
  /** Records for the group's __consumer_offsets partition. */
  records: OffsetsRecord[];
  /** The offsets to remember once the records are committed, by topic-partition key. */
  accepted: Array<{ key: string; value: CommittedOffset }>;
  response: millrace.IOffsetCommitResponse;
}

/** What a commit writes: one record per partition, refusing metadata over offset.metadata.max.bytes. */
export function planCommit(req: millrace.IOffsetCommitRequest, metadataMaxBytes: number, now: number): CommitPlan {
  const records: CommitPlan['records'] = [];
  const accepted: CommitPlan['accepted'] = [];
  const group = req.groupId ?? '';
  const topics = (req.topics ?? []).map((t) => ({
    name: t.name ?? '',
    partitions: (t.partitions ?? []).map((p) => {
      const partition = p.partition ?? 0;
      const metadata = p.metadata ?? '';
      if (Buffer.byteLength(metadata) > metadataMaxBytes) {
        const e = new MillraceError('OFFSET_METADATA_TOO_LARGE', `metadata exceeds ${metadataMaxBytes} bytes`);
        return { partition, errorCode: e.code, errorMessage: e.detail };
      }
      const value: CommittedOffset = {
        offset: Number(p.offset ?? -1),
        leaderEpoch: p.leaderEpoch ?? -1,
        metadata,
        commitTimestamp: now,
      };
      records.push({ key: offsetKey(group, t.name ?? '', partition), value: offsetValue(value) });
      accepted.push({ key: tpKey(t.name ?? '', partition), value });
      return { partition, errorCode: 0 };
    }),
  }));
  return { records, accepted, response: { topics } };
}

/** Topic-partition keys grouped by topic, as an OffsetFetch of every committed offset answers them. */
export function groupByTopic(keys: string[]): Array<{ name: string; partitions: number[] }> {
  const byTopic = new Map<string, number[]>();
  for (const k of keys) {
    const { topic, partition } = parseTpKey(k);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), Number(partition)]);
  }
  return [...byTopic].map(([name, partitions]) => ({ name, partitions }));
}

/** Kafka's mapping of append failures to what a committing client should do. */
export function commitError(err: unknown): { errorCode: number; errorMessage: string } {
  const e = coordinatorWriteError(err);
  const name: ErrorName = ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE'].includes(e.errorName)
    ? 'INVALID_COMMIT_OFFSET_SIZE'
    : e.errorName;
  return { errorCode: new MillraceError(name, e.detail).code, errorMessage: e.detail };
}

/** OffsetFetch: the partitions asked for, or every committed one; -1 for a partition never committed. */
export function offsetFetchResponse(
  committed: ReadonlyMap<string, CommittedOffset>,
  req: millrace.IOffsetFetchRequest,
  pending: ReadonlySet<string> = new Set(),
): millrace.IOffsetFetchResponse {
  const asked =
    (req.topics ?? []).length > 0
      ? req.topics!.map((t) => ({ name: t.name ?? '', partitions: (t.partitions ?? []).map((p) => p.partition ?? 0) }))
      : groupByTopic([...committed.keys()]);
  return {
    topics: asked.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((partition) => {
        const key = tpKey(t.name, partition);
        if (req.requireStable && pending.has(key)) {
          const e = new MillraceError(
            'UNSTABLE_OFFSET_COMMIT',
            `${t.name}-${partition} has offsets of an open transaction: retry once it ends`,
          );
          return { partition, offset: -1, errorCode: e.code, errorMessage: e.detail };
        }
        const c = committed.get(key);
        return { partition, offset: c?.offset ?? -1, leaderEpoch: c?.leaderEpoch ?? -1, metadata: c?.metadata ?? '' };
      }),
    })),
  };
}

/** Removing a group writes a tombstone for each of its offsets and for its metadata. */
export function groupRemovalRecords(groupId: string, offsetKeys: Iterable<string>): OffsetsRecord[] {
  const records: OffsetsRecord[] = [];
  for (const k of offsetKeys) {
    const { topic, partition } = parseTpKey(k);
    records.push({ key: offsetKey(groupId, topic, Number(partition)), value: null });
  }
  records.push({ key: groupKey(groupId), value: null });
  return records;
}

/** An empty group whose offsets outlived offsets.retention.ms since it emptied (KIP-211). */
export const offsetsExpired = (state: GroupState, emptySince: number, now: number, retentionMs: number): boolean =>
  state === 'Empty' && emptySince >= 0 && now - emptySince >= retentionMs;

/** The topics a group's members are subscribed to, from their consumer-protocol subscriptions. */
export function subscribedTopics({ ctx }: GroupView): Set<string> {
  const topics = new Set<string>();
  if (ctx.protocolType !== 'consumer') return topics;
  for (const m of Object.values(ctx.members)) {
    const metadata = m.protocols.find((p) => p.name === ctx.protocol)?.metadata ?? m.protocols[0]?.metadata;
    if (!metadata) continue;
    try {
      for (const t of decodeSubscription(metadata).topics) topics.add(t);
    } catch {
      // A subscription this broker cannot read protects nothing: the members own their offsets anyway.
    }
  }
  return topics;
}

/**
 * OffsetDelete (KIP-496): tombstones for the committed offsets asked, except of topics the group's
 * members are subscribed to (GROUP_SUBSCRIBED_TO_TOPIC); a partition without a committed offset
 * is answered without error, as Kafka does.
 */
export function planOffsetDelete(
  group: GroupView,
  committed: ReadonlyMap<string, CommittedOffset>,
  req: millrace.IOffsetDeleteRequest,
): { records: OffsetsRecord[]; deleted: string[]; response: millrace.IOffsetDeleteResponse } {
  const groupId = req.groupId ?? '';
  if (group.state === 'Dead' && committed.size === 0)
    throw new MillraceError('GROUP_ID_NOT_FOUND', `group '${groupId}' does not exist`);
  const subscribed = subscribedTopics(group);
  const records: OffsetsRecord[] = [];
  const deleted: string[] = [];
  const topics = (req.topics ?? []).map((t) => ({
    name: t.name ?? '',
    partitions: (t.partitions ?? []).map((p) => {
      const partition = p.partition ?? 0;
      if (subscribed.has(t.name ?? '')) {
        const e = new MillraceError('GROUP_SUBSCRIBED_TO_TOPIC', `group '${groupId}' consumes ${t.name}`);
        return { partition, errorCode: e.code, errorMessage: e.detail };
      }
      const key = tpKey(t.name ?? '', partition);
      if (committed.has(key)) {
        records.push({ key: offsetKey(groupId, t.name ?? '', partition), value: null });
        deleted.push(key);
      }
      return { partition, errorCode: 0 };
    }),
  }));
  return { records, deleted, response: { topics } };
}
