/**
 * The group coordinator's decisions, as pure functions of a group's state and a request, in the
 * manner of Kafka's GroupMetadataManager and OffsetMetadataManager: who may join, who is a
 * member, which generation is current, and what a commit writes. No I/O, no clock (the caller
 * passes the time); the coordinator runtime applies what they return.
 */
import type { GroupContext, GroupMember, GroupState } from '../../../actors/consumer-group.js';
import { MillraceError, type ErrorName } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import { parseTpKey, tpKey } from '../../../protocol/topic-partition.js';
import { offsetKey, offsetValue, type CommittedOffset } from './offsets-topic.js';

export interface SessionBounds {
  /** group.min.session.timeout.ms / group.max.session.timeout.ms */
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
}

/** A join's own checks: a session timeout within the broker's bounds, a protocol type and at least one protocol. */
export function checkJoinRequest(req: millrace.IJoinGroupRequest, bounds: SessionBounds): void {
  const sessionTimeoutMs = req.sessionTimeoutMs ?? 0;
  if (sessionTimeoutMs < bounds.minSessionTimeoutMs || sessionTimeoutMs > bounds.maxSessionTimeoutMs)
    throw new MillraceError(
      'INVALID_SESSION_TIMEOUT',
      `session timeout ${sessionTimeoutMs} ms is outside [${bounds.minSessionTimeoutMs}, ${bounds.maxSessionTimeoutMs}]`,
    );
  if (!req.protocolType || (req.protocols ?? []).length === 0)
    throw new MillraceError('INCONSISTENT_GROUP_PROTOCOL', 'a join needs a protocol type and at least one protocol');
}

/** In a group with members: the group's protocol type, and a protocol every member supports. */
export function checkJoinProtocol(ctx: GroupContext, req: millrace.IJoinGroupRequest): void {
  const members = Object.values(ctx.members);
  if (
    members.length > 0 &&
    (ctx.protocolType !== req.protocolType ||
      !(req.protocols ?? []).some((p) => members.every((m) => m.protocols.some((q) => q.name === p.name))))
  )
    throw new MillraceError(
      'INCONSISTENT_GROUP_PROTOCOL',
      `group '${ctx.groupId}' uses ${ctx.protocolType} with protocols no member of it shares with this one`,
    );
}

/** The member a request names: its static instance must still be its own (KIP-345), and it must be in the group. */
export function memberOf(ctx: GroupContext, memberId: string, instanceId: string): GroupMember {
  if (instanceId) {
    const holder = Object.values(ctx.members).find((x) => x.groupInstanceId === instanceId);
    if (holder && holder.memberId !== memberId)
      throw new MillraceError('FENCED_INSTANCE_ID', `instance '${instanceId}' is now member ${holder.memberId}`);
  }
  const m = ctx.members[memberId];
  if (!m) throw new MillraceError('UNKNOWN_MEMBER_ID', `member '${memberId}' is not in group '${ctx.groupId}'`);
  return m;
}

export function checkGeneration(ctx: GroupContext, generation: number): void {
  if (generation !== ctx.generation)
    throw new MillraceError(
      'ILLEGAL_GENERATION',
      `generation ${generation} is not the current ${ctx.generation} of '${ctx.groupId}'`,
    );
}

/**
 * Who may commit: with a generation, a member of the current generation outside the sync phase;
 * without one (an admin tool), only while the group has no members.
 */
export function admitCommit(ctx: GroupContext, state: GroupState, req: millrace.IOffsetCommitRequest): void {
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
  records: Array<{ key: Buffer; value: Buffer | null }>;
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
  const e = MillraceError.from(err);
  const name: ErrorName = ['NOT_ENOUGH_REPLICAS', 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'REQUEST_TIMED_OUT'].includes(
    e.errorName,
  )
    ? 'COORDINATOR_NOT_AVAILABLE'
    : ['NOT_LEADER_OR_FOLLOWER', 'KAFKA_STORAGE_ERROR'].includes(e.errorName)
      ? 'NOT_COORDINATOR'
      : ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE'].includes(e.errorName)
        ? 'INVALID_COMMIT_OFFSET_SIZE'
        : e.errorName;
  return { errorCode: new MillraceError(name, e.detail).code, errorMessage: e.detail };
}
