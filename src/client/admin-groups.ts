/** The admin client's consumer group part: list, describe, delete, and read or move committed offsets. */
import { MillraceError } from '../../protocol/errors.js';
import type { BrokerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import type { MessageType } from '../transport/rpc.js';
import { decodeAssignment } from '../../protocol/kafka/consumer-protocol.js';
import { AdminBase } from './admin-base.js';
import { findCoordinator } from './group.js';
import { EARLIEST, LATEST } from './offsets.js';
import type { GroupDescription, GroupListing } from './types.js';
import { callBroker } from './context.js';

/** Where resetOffsets moves a group's offsets (kafka-consumer-groups' --to-* and --by-duration / --shift-by). */
export type OffsetResetTarget =
  'earliest' | 'latest' | { offset: bigint | number } | { datetime: Date } | { duration: number } | { shiftBy: number };

export class GroupAdmin extends AdminBase {
  /** A request to the group's coordinator, found again after a coordinator move. */
  private coordinatorCall<ReqI, Res>(
    groupId: string,
    api: BrokerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
  ): Promise<Res> {
    return this.callAt(() => findCoordinator(this.ctx, groupId), api, requestType, message, responseType);
  }

  /** Every group of the cluster (each broker lists the groups it coordinates). */
  async listGroups(): Promise<GroupListing[]> {
    await this.ctx.metadata.refresh();
    const listings = await Promise.all(
      this.ctx.metadata
        .liveBrokers()
        .map((broker) =>
          callBroker(this.ctx, broker, 'list_groups', wire.ListGroupsRequest, {}, wire.ListGroupsResponse),
        ),
    );
    return listings
      .flatMap((l) => l.groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, state: g.state })))
      .sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  /** State, protocol and members (with their assigned partitions) of each group. */
  async describeGroups(groupIds: string[]): Promise<GroupDescription[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const res = await this.coordinatorCall(
          groupId,
          'describe_groups',
          wire.DescribeGroupsRequest,
          { groups: [groupId] },
          wire.DescribeGroupsResponse,
        );
        const g = res.groups[0]!;
        if (g.errorCode) throw MillraceError.fromCode(g.errorCode, `${groupId}: ${g.errorMessage}`);
        return {
          groupId,
          state: g.state,
          protocolType: g.protocolType,
          protocol: g.protocol,
          generation: g.generationId,
          members: g.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId || null,
            clientId: m.clientId,
            assignment:
              g.protocolType === 'consumer' && m.assignment.length > 0
                ? decodeAssignment(m.assignment).assignedPartitions.flatMap((t) =>
                    t.partitions.map((partition) => ({ topic: t.topic, partition })),
                  )
                : [],
          })),
        };
      }),
    );
  }

  /** Deletes empty groups and their committed offsets (NON_EMPTY_GROUP while a group has members). */
  async deleteGroups(groupIds: string[]): Promise<void> {
    for (const groupId of groupIds) {
      const res = await this.coordinatorCall(
        groupId,
        'delete_groups',
        wire.DeleteGroupsRequest,
        { groups: [groupId] },
        wire.DeleteGroupsResponse,
      );
      const r = res.results[0];
      if (r?.errorCode) throw MillraceError.fromCode(r.errorCode, `${groupId}: ${r.errorMessage}`);
    }
  }

  /** Committed offsets of a group (every partition it committed, or those of `topics`); -1n: none. */
  async fetchOffsets(options: {
    groupId: string;
    topics?: string[];
  }): Promise<Array<{ topic: string; partition: number; offset: bigint }>> {
    const topics = await Promise.all(
      (options.topics ?? []).map(async (name) => ({
        name,
        partitions: (await this.ctx.metadata.partitionsOf(name)).map((p) => ({ partition: p.partition })),
      })),
    );
    const res = await this.coordinatorCall(
      options.groupId,
      'offset_fetch',
      wire.OffsetFetchRequest,
      { groupId: options.groupId, topics },
      wire.OffsetFetchResponse,
    );
    return res.topics
      .flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, offset: BigInt(p.offset) })))
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  /** Sets a group's committed offsets from outside it: refused while the group has members. */
  async setOffsets(options: {
    groupId: string;
    topic: string;
    partitions: Array<{ partition: number; offset: bigint | number }>;
  }): Promise<void> {
    const res = await this.coordinatorCall(
      options.groupId,
      'offset_commit',
      wire.OffsetCommitRequest,
      {
        groupId: options.groupId,
        generationId: -1,
        memberId: '',
        topics: [
          {
            name: options.topic,
            partitions: options.partitions.map((p) => ({
              partition: p.partition,
              offset: Number(p.offset),
              leaderEpoch: -1,
              metadata: '',
            })),
          },
        ],
      },
      wire.OffsetCommitResponse,
    );
    for (const t of res.topics)
      for (const p of t.partitions)
        if (p.errorCode) throw MillraceError.fromCode(p.errorCode, `${t.name}-${p.partition}: ${p.errorMessage}`);
  }

  /**
   * Moves an empty group's offsets for a topic, as kafka-consumer-groups --reset-offsets: to the
   * earliest or latest offsets, to an offset, to the first offsets at or after a time (or a
   * duration ago), or by a shift; targets outside the log are clamped to it. Returns each
   * partition's current committed offset (null: none) and the new one; `dryRun` changes nothing.
   */
  async resetOffsets(options: {
    groupId: string;
    topic: string;
    to: OffsetResetTarget;
    dryRun?: boolean;
  }): Promise<Array<{ partition: number; offset: bigint; current: bigint | null }>> {
    const [group] = await this.describeGroups([options.groupId]);
    if (group && group.state !== 'Empty' && group.state !== 'Dead')
      throw new MillraceError(
        'NON_EMPTY_GROUP',
        `group '${options.groupId}' is ${group.state} with ${group.members.length} members: stop them before resetting its offsets`,
      );
    const { to, topic } = options;
    const [earliest, latest, committedList] = await Promise.all([
      this.fetchTopicOffsets(topic, EARLIEST),
      this.fetchTopicOffsets(topic, LATEST),
      this.fetchOffsets({ groupId: options.groupId, topics: [topic] }),
    ]);
    const committed = new Map(committedList.filter((c) => c.offset >= 0n).map((c) => [c.partition, c.offset]));
    const clamp = (i: number, offset: bigint): bigint => {
      const low = earliest[i]!.offset;
      const high = latest[i]!.offset;
      return offset < low ? low : offset > high ? high : offset;
    };
    let target: bigint[];
    if (to === 'earliest') target = earliest.map((e) => e.offset);
    else if (to === 'latest') target = latest.map((l) => l.offset);
    else if ('offset' in to) target = latest.map((_, i) => clamp(i, BigInt(to.offset)));
    else if ('datetime' in to || 'duration' in to) {
      const at = 'datetime' in to ? to.datetime.getTime() : Date.now() - to.duration;
      if (!Number.isFinite(at)) throw new MillraceError('INVALID_REQUEST', 'the reset time is not a valid date');
      target = (await this.fetchTopicOffsets(topic, at)).map((o, i) => (o.offset < 0n ? latest[i]!.offset : o.offset));
    } else target = latest.map((l, i) => clamp(i, (committed.get(l.partition) ?? l.offset) + BigInt(to.shiftBy)));
    const plan = latest.map((l, i) => ({
      partition: l.partition,
      offset: target[i]!,
      current: committed.get(l.partition) ?? null,
    }));
    if (!options.dryRun) await this.setOffsets({ groupId: options.groupId, topic, partitions: plan });
    return plan;
  }

  /**
   * Removes a group's committed offsets of a topic's partitions (all it has committed when none
   * are named). Refused (GROUP_SUBSCRIBED_TO_TOPIC) while the group's members consume the topic.
   */
  async deleteOffsets(options: { groupId: string; topic: string; partitions?: number[] }): Promise<void> {
    const partitions =
      options.partitions ??
      (await this.fetchOffsets({ groupId: options.groupId, topics: [options.topic] }))
        .filter((o) => o.offset >= 0n)
        .map((o) => o.partition);
    const res = await this.coordinatorCall(
      options.groupId,
      'offset_delete',
      wire.OffsetDeleteRequest,
      {
        groupId: options.groupId,
        topics: [{ name: options.topic, partitions: partitions.map((partition) => ({ partition })) }],
      },
      wire.OffsetDeleteResponse,
    );
    if (res.errorCode) throw MillraceError.fromCode(res.errorCode, res.errorMessage);
    for (const t of res.topics)
      for (const p of t.partitions)
        if (p.errorCode) throw MillraceError.fromCode(p.errorCode, `${t.name}-${p.partition}: ${p.errorMessage}`);
  }
}
