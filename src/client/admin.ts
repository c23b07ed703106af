/** Admin: topics and cluster description, as kafkajs's admin client offers them. */
import { MillraceError, errorNameOf } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { subjects, type BrokerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { request, type MessageType } from '../transport/rpc.js';
import type { ClientContext } from './context.js';
import { EARLIEST, LATEST, listOffsets } from './offsets.js';
import { findCoordinator } from './group.js';
import type {
  ClusterDescription,
  ElectionOutcome,
  GroupDescription,
  GroupListing,
  NewTopic,
  TopicDescription,
} from './types.js';

function firstError(results: millrace.ITopicResult[], ignore: string[] = []): MillraceError | null {
  const failed = results.filter((r) => r.errorCode && !ignore.includes(errorNameOf(r.errorCode)));
  if (failed.length === 0) return null;
  const first = MillraceError.fromCode(
    failed[0]!.errorCode!,
    failed.map((r) => `${r.name}: ${r.errorMessage ?? ''}`).join('; '),
  );
  return first;
}

export class Admin {
  constructor(private readonly ctx: ClientContext) {}

  /** Sends an admin request to a live broker, which forwards it to the controller. */
  private call<ReqI, Res>(
    api: BrokerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
  ): Promise<Res> {
    return this.callAt(() => this.ctx.metadata.anyBroker(), api, requestType, message, responseType);
  }

  /** A request to the broker `target` names (found again on each retry), retried while retriable. */
  private callAt<ReqI, Res>(
    target: () => Promise<number>,
    api: BrokerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
  ): Promise<Res> {
    return this.ctx.retry(async () =>
      request(
        await this.ctx.connection(),
        subjects.brokerApi(this.ctx.cluster, await target(), api),
        requestType,
        message,
        responseType,
        this.ctx.requestTimeoutMs,
      ),
    );
  }

  /**
   * Creates topics and waits until every partition has a leader. Resolves false when a topic
   * already existed (as kafkajs does), true when all were created.
   */
  async createTopics(options: {
    topics: NewTopic[];
    validateOnly?: boolean;
    waitForLeaders?: boolean;
  }): Promise<boolean> {
    const res = await this.call(
      'create_topics',
      wire.CreateTopicsRequest,
      {
        validateOnly: options.validateOnly ?? false,
        topics: options.topics.map((t) => ({
          name: t.topic,
          numPartitions: t.numPartitions ?? -1,
          replicationFactor: t.replicationFactor ?? -1,
          configs: t.configs ?? {},
        })),
      },
      wire.CreateTopicsResponse,
    );
    const err = firstError(res.results, ['TOPIC_ALREADY_EXISTS']);
    if (err) throw err;
    if (!options.validateOnly && options.waitForLeaders !== false) {
      await this.waitForLeaders(options.topics.map((t) => t.topic));
    }
    return res.results.every((r) => !r.errorCode);
  }

  private async waitForLeaders(topics: string[]): Promise<void> {
    await this.ctx.retry(async () => {
      const md = await this.ctx.metadata.refresh(topics);
      for (const t of md.topics) {
        if (t.errorCode || (t.partitions ?? []).some((p) => (p.leader ?? -1) < 0)) {
          throw new MillraceError('LEADER_NOT_AVAILABLE', `topic '${t.name}' has no leader yet`);
        }
      }
    });
  }

  async deleteTopics(options: { topics: string[] }): Promise<void> {
    const res = await this.call(
      'delete_topics',
      wire.DeleteTopicsRequest,
      { topics: options.topics },
      wire.DeleteTopicsResponse,
    );
    for (const t of options.topics) this.ctx.metadata.forget(t);
    const err = firstError(res.results);
    if (err) throw err;
  }

  async createPartitions(options: {
    topicPartitions: Array<{ topic: string; count: number }>;
    validateOnly?: boolean;
  }): Promise<void> {
    const res = await this.call(
      'create_partitions',
      wire.CreatePartitionsRequest,
      {
        validateOnly: options.validateOnly ?? false,
        topics: options.topicPartitions.map((t) => ({ name: t.topic, count: t.count })),
      },
      wire.CreatePartitionsResponse,
    );
    const err = firstError(res.results);
    if (err) throw err;
    if (!options.validateOnly) await this.waitForLeaders(options.topicPartitions.map((t) => t.topic));
  }

  /**
   * Preferred leader election: each partition's leadership goes back to its first replica when
   * that replica is live and in sync. One result per partition considered.
   */
  async electLeaders(options: { topics?: string[] } = {}): Promise<ElectionOutcome[]> {
    const res = await this.call(
      'elect_leaders',
      wire.ElectLeadersRequest,
      { topics: options.topics ?? [] },
      wire.ElectLeadersResponse,
    );
    return res.results.map((r) => ({
      topic: r.topic,
      partition: r.partition,
      leader: r.leader,
      outcome: r.errorCode ? errorNameOf(r.errorCode) : 'ELECTED',
      detail: r.errorMessage,
    }));
  }

  /**
   * Moves partitions to new replica sets (KIP-455): the new replicas catch up and join the ISR,
   * then the old ones are removed (leadership moves when the leader leaves). Resolves once the
   * moves have started; `describeTopics` shows them complete.
   */
  async alterPartitionReassignments(options: {
    partitions: Array<{ topic: string; partition: number; replicas: number[] }>;
  }): Promise<void> {
    const res = await this.call(
      'alter_reassignments',
      wire.AlterReassignmentsRequest,
      { partitions: options.partitions },
      wire.AlterReassignmentsResponse,
    );
    const failed = res.results.filter((r) => r.errorCode);
    if (failed.length)
      throw MillraceError.fromCode(
        failed[0]!.errorCode,
        failed.map((r) => `${r.topic}-${r.partition}: ${r.errorMessage}`).join('; '),
      );
  }

  async listTopics(): Promise<string[]> {
    const md = await this.ctx.metadata.refresh();
    return md.topics.map((t) => t.name).sort();
  }

  async describeCluster(): Promise<ClusterDescription> {
    const md = await this.ctx.metadata.refresh();
    return {
      cluster: md.cluster,
      controllerId: md.controllerId,
      controllerEpoch: md.controllerEpoch,
      metadataVersion: md.metadataVersion,
      brokers: md.brokers.map((b) => ({
        id: b.id,
        rack: b.rack || null,
        fenced: b.fenced,
        kafkaEndpoint: b.kafkaEndpoint || null,
      })),
    };
  }

  /** Topics with partitions, leaders, replicas, ISR and earliest/latest offsets. */
  async describeTopics(topics?: string[]): Promise<TopicDescription[]> {
    const md = await this.ctx.metadata.refresh(topics ?? []);
    const out: TopicDescription[] = [];
    for (const t of md.topics) {
      if (t.errorCode) throw MillraceError.fromCode(t.errorCode, t.errorMessage || t.name);
      const partitions = (t.partitions ?? []).map((p) => ({
        partition: p.partition ?? 0,
        leader: p.leader ?? -1,
        leaderEpoch: p.leaderEpoch ?? -1,
        replicas: p.replicas ?? [],
        isr: p.isr ?? [],
      }));
      out.push({ name: t.name, id: t.topicId, configs: { ...t.configs }, partitions });
    }
    await Promise.all(
      out.map(async (t) => {
        const [earliest, latest] = await Promise.all([this.offsets(t.name, EARLIEST), this.offsets(t.name, LATEST)]);
        for (const p of t.partitions) {
          const e = earliest.get(p.partition);
          const l = latest.get(p.partition);
          if (typeof e === 'object') p.earliestOffset = e.offset;
          if (typeof l === 'object') {
            p.latestOffset = l.offset;
            p.logEndOffset = l.logEndOffset;
          }
          const err = typeof e === 'string' ? e : typeof l === 'string' ? l : undefined;
          if (err) (p as { error?: string }).error = err;
        }
      }),
    );
    return out;
  }

  /** Offsets of every partition of `topic` for a timestamp (-1 latest, -2 earliest, or ms). */
  async fetchTopicOffsets(
    topic: string,
    timestamp: number = LATEST,
  ): Promise<Array<{ partition: number; offset: bigint }>> {
    const offsets = await this.offsets(topic, timestamp);
    return [...offsets].map(([partition, o]) => {
      if (typeof o === 'string') throw new MillraceError('LEADER_NOT_AVAILABLE', o);
      return { partition, offset: o.offset };
    });
  }

  private async offsets(
    topic: string,
    timestamp: number,
  ): Promise<Map<number, { offset: bigint; logEndOffset: bigint } | string>> {
    const parts = await this.ctx.metadata.partitionsOf(topic);
    const byLeader = new Map<number, number[]>();
    for (const p of parts) byLeader.set(p.leader, [...(byLeader.get(p.leader) ?? []), p.partition]);
    const out = new Map<number, { offset: bigint; logEndOffset: bigint } | string>();
    await Promise.all(
      [...byLeader].map(async ([leader, partitions]) => {
        if (leader < 0) {
          for (const p of partitions) out.set(p, 'no leader');
          return;
        }
        try {
          for (const [p, o] of await listOffsets(this.ctx, leader, topic, partitions, timestamp)) {
            out.set(
              p,
              o instanceof MillraceError
                ? o.detail
                : { offset: BigInt(o.offset), logEndOffset: BigInt(o.logEndOffset) },
            );
          }
        } catch (err) {
          for (const p of partitions) out.set(p, (err as Error).message);
        }
      }),
    );
    return out;
  }

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
    const nc = await this.ctx.connection();
    const listings = await Promise.all(
      this.ctx.metadata
        .liveBrokers()
        .map((broker) =>
          request(
            nc,
            subjects.brokerApi(this.ctx.cluster, broker, 'list_groups'),
            wire.ListGroupsRequest,
            {},
            wire.ListGroupsResponse,
            this.ctx.requestTimeoutMs,
          ),
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
                ? wire.ConsumerAssignment.decode(m.assignment).partitions.flatMap((t) =>
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
   * Moves an empty group's offsets for a topic: to the earliest or latest offsets, to the first
   * offsets at or after a time, or by a shift (clamped to the log). Returns the offsets set.
   */
  async resetOffsets(options: {
    groupId: string;
    topic: string;
    to: 'earliest' | 'latest' | { datetime: Date } | { shiftBy: number };
  }): Promise<Array<{ partition: number; offset: bigint }>> {
    const [group] = await this.describeGroups([options.groupId]);
    if (group && group.state !== 'Empty' && group.state !== 'Dead')
      throw new MillraceError(
        'NON_EMPTY_GROUP',
        `group '${options.groupId}' is ${group.state} with ${group.members.length} members: stop them before resetting its offsets`,
      );
    const { to, topic } = options;
    const [earliest, latest] = await Promise.all([
      this.fetchTopicOffsets(topic, EARLIEST),
      this.fetchTopicOffsets(topic, LATEST),
    ]);
    let target: Array<{ partition: number; offset: bigint }>;
    if (to === 'earliest') target = earliest;
    else if (to === 'latest') target = latest;
    else if ('datetime' in to) {
      const at = to.datetime.getTime();
      if (!Number.isFinite(at)) throw new MillraceError('INVALID_REQUEST', 'the reset time is not a valid date');
      target = (await this.fetchTopicOffsets(topic, at)).map((o, i) => ({
        partition: o.partition,
        offset: o.offset < 0n ? latest[i]!.offset : o.offset,
      }));
    } else {
      const committed = new Map(
        (await this.fetchOffsets({ groupId: options.groupId, topics: [topic] })).map((c) => [c.partition, c.offset]),
      );
      target = latest.map((l, i) => {
        const from = committed.get(l.partition) ?? -1n;
        const base = from >= 0n ? from : l.offset;
        const moved = base + BigInt(to.shiftBy);
        const low = earliest[i]!.offset;
        return { partition: l.partition, offset: moved < low ? low : moved > l.offset ? l.offset : moved };
      });
    }
    await this.setOffsets({ groupId: options.groupId, topic, partitions: target });
    return target;
  }
}
