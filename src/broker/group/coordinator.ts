/**
 * The group coordinator, a shell around pure cores. Group G lives on the leader of
 * `__consumer_offsets` partition hash(G) mod N (Kafka's rule, Java's String.hashCode). Each group
 * is a consumer-group machine; for each request a core (group-rules, offset-rules) decides on the
 * group's snapshot what events the machine gets, what records are written and what the reply is.
 * This shell applies them: it holds JoinGroup and SyncGroup replies until the machine completes
 * the rebalance, and writes commits and group metadata as records of the partition at acks=all. A broker that becomes a partition's leader replays it (answering
 * COORDINATOR_LOAD_IN_PROGRESS meanwhile) and restores its groups; one that loses it answers
 * NOT_COORDINATOR.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { GroupContext, GroupState } from '../../../actors/consumer-group.js';
import { MillraceError, errorFields } from '../../../protocol/errors.js';
import { InternalTopicCreator, appendInternal } from '../internal-topics.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import type { ControllerClient } from '../../cluster/controller-client.js';
import type { MetadataImage } from '../../cluster/image.js';
import { AclOperation, ResourceType } from '../../../protocol/acl.js';
import { openAccess, type Access, type Caller } from '../authorizer.js';
import type { ReplicaManager } from '../replica-manager.js';
import { GroupLag } from './group-lag.js';
import { GroupOffsets } from './group-offsets.js';
import { GroupRuntime, OffsetsPartition, type GroupHooks } from './group-runtime.js';
import {
  absentGroup,
  decideHeartbeat,
  decideJoin,
  decideLeave,
  decideSync,
  describeGroup,
  joinResponse,
  refusal,
  type GroupView,
} from './group-rules.js';
import { groupRemovalRecords, offsetsExpired } from './offset-rules.js';
import {
  OFFSETS_TOPIC,
  groupMetadataRecord,
  offsetsPartitionFor,
  readOffsetsPartition,
  type CommittedOffset,
  type OffsetsRecord,
} from './offsets-topic.js';

export { OFFSETS_TOPIC };

export interface GroupCoordinatorSettings {
  brokerId: number;
  /** offsets.topic.num.partitions */
  offsetsTopicPartitions: number;
  /** offsets.topic.replication.factor (capped at the live brokers, with a warning) */
  offsetsTopicReplicationFactor: number;
  /** group.initial.rebalance.delay.ms */
  initialRebalanceDelayMs: number;
  /** group.min.session.timeout.ms / group.max.session.timeout.ms */
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  /** offsets.retention.ms: committed offsets of an empty group expire this long after it emptied */
  offsetsRetentionMs: number;
  /** offsets.retention.check.interval.ms */
  offsetsRetentionCheckIntervalMs: number;
  /** offset.metadata.max.bytes */
  offsetMetadataMaxBytes: number;
  /** offsets.commit.timeout.ms: how long a commit waits for the in-sync replicas */
  commitTimeoutMs: number;
  onRebalance?: (group: string) => void;
  /** High watermarks of partitions (from their leaders), for the lag of committed offsets. */
  endOffsets?: (partitions: Array<{ topic: string; partition: number }>) => Promise<Map<string, number>>;
  /** Authorization of each request (default: everything allowed). */
  access?: Access;
  /** Why this broker may not serve as a coordinator now (null: it may); see broker.ts. */
  serving?: () => string | null;
  logger: Logger;
  now?: () => number;
}

const newMemberId = (prefix: string): string => `${prefix}-${randomUUID()}`;

export class GroupCoordinator implements GroupHooks {
  private readonly partitions = new Map<number, OffsetsPartition>();
  private readonly now: () => number;
  private readonly logger: Logger;
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly lagTracker: GroupLag;
  private readonly offsetsTopic: InternalTopicCreator;
  private readonly access: Access;
  /** OffsetCommit, TxnOffsetCommit, OffsetDelete, OffsetFetch. */
  readonly offsets: GroupOffsets;

  constructor(
    private readonly settings: GroupCoordinatorSettings,
    private readonly replicas: ReplicaManager,
    private readonly controller: ControllerClient,
    private readonly image: () => MetadataImage,
  ) {
    this.now = settings.now ?? Date.now;
    this.access = settings.access ?? openAccess;
    this.logger = settings.logger.child({ component: 'group-coordinator' });
    this.expiryTimer = setInterval(() => this.expireOffsets(), settings.offsetsRetentionCheckIntervalMs);
    this.expiryTimer.unref();
    this.offsets = new GroupOffsets({
      access: this.access,
      settings,
      now: this.now,
      partitionOf: (group) => this.partitionOf(group),
      getOrCreate: (group) => this.getOrCreate(group),
      partition: (partition) => this.partitions.get(partition),
      append: (op, records) => this.append(op, records),
    });
    this.lagTracker = new GroupLag(() => this.snapshot(), settings.endOffsets, this.logger);
    this.offsetsTopic = new InternalTopicCreator(
      {
        name: OFFSETS_TOPIC,
        partitions: settings.offsetsTopicPartitions,
        replicationFactor: settings.offsetsTopicReplicationFactor,
      },
      controller,
      image,
      this.logger,
    );
  }

  /** Lag of each committed offset of the loaded groups: high watermark minus committed offset. */
  lag(): Array<{ group: string; topic: string; partition: number; lag: number }> {
    return this.lagTracker.lag(this.snapshot());
  }

  /** Loads partitions this broker now leads and unloads those it no longer does (after each metadata image). */
  sync(): void {
    const topic = this.image().topics.get(OFFSETS_TOPIC);
    for (const [p, op] of this.partitions) {
      if (!op.stale) continue;
      this.unload(p, op);
    }
    if (!topic) return;
    for (const { partition } of topic.partitions) {
      const hp = this.replicas.get(OFFSETS_TOPIC, partition);
      if (!hp?.isLeader || this.partitions.has(partition)) continue;
      const op = new OffsetsPartition(hp, hp.leaderEpoch);
      this.partitions.set(partition, op);
      void this.load(partition, op);
    }
  }

  private unload(partition: number, op: OffsetsPartition): void {
    this.partitions.delete(partition);
    for (const g of op.groups.values()) {
      g.failAll('NOT_COORDINATOR', `broker ${this.settings.brokerId} no longer coordinates ${g.groupId}`);
      g.actor.stop();
    }
    this.logger.info({ partition, groups: op.groups.size }, 'unloaded groups: leadership moved');
  }

  /** Replays the partition (offset commits and group metadata, last record per key wins), then restores the groups. */
  private async load(partition: number, op: OffsetsPartition): Promise<void> {
    const started = this.now();
    let read: Awaited<ReturnType<typeof readOffsetsPartition>>;
    try {
      read = await readOffsetsPartition(op.hp.log, () => op.stale);
    } catch (err) {
      this.logger.error({ err, partition }, 'cannot load __consumer_offsets partition');
      if (this.partitions.get(partition) === op) this.partitions.delete(partition);
      return;
    }
    if (!read) return;
    const { offsets, metadata, pending } = read;
    if (op.stale) return;
    const groupIds = new Set([...offsets.keys(), ...metadata.keys()]);
    for (const byGroup of pending.values()) for (const groupId of byGroup.keys()) groupIds.add(groupId);
    for (const groupId of groupIds) {
      const g = new GroupRuntime(groupId, op, this, this.settings.initialRebalanceDelayMs, this.now);
      g.restore(offsets.get(groupId), metadata.get(groupId), this.now());
      for (const [producerId, byGroup] of pending) {
        const open = byGroup.get(groupId);
        if (open) g.pendingTxnOffsets.set(producerId, open);
      }
      op.groups.set(groupId, g);
    }
    op.loading = false;
    this.logger.info({ partition, groups: op.groups.size, ms: this.now() - started }, 'loaded groups');
  }

  /** FindCoordinator: creates __consumer_offsets on first use. */
  async findCoordinator(
    req: millrace.FindCoordinatorRequest,
    caller: Caller,
  ): Promise<millrace.IFindCoordinatorResponse> {
    const group = req.key;
    if (!group) throw new MillraceError('INVALID_GROUP_ID', 'a group id must not be empty');
    this.access.requireGroup(caller, AclOperation.DESCRIBE, group);
    const topic = this.image().topics.get(OFFSETS_TOPIC);
    if (!topic) {
      await this.offsetsTopic.create();
      throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `${OFFSETS_TOPIC} is being created`);
    }
    const leader = topic.partitions[offsetsPartitionFor(group, topic.partitions.length)]!.leader;
    if (leader < 0)
      throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `the coordinator partition of '${group}' has no leader`);
    return { nodeId: leader };
  }

  /** The `__consumer_offsets` partition of `group` (the topic is created on first use: retry meanwhile). */
  async offsetsPartitionOf(group: string): Promise<number> {
    if (!group) throw new MillraceError('INVALID_GROUP_ID', 'a group id must not be empty');
    const topic = this.image().topics.get(OFFSETS_TOPIC);
    if (topic) return offsetsPartitionFor(group, topic.partitions.length);
    await this.offsetsTopic.create();
    throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `${OFFSETS_TOPIC} is being created`);
  }

  /** The partition coordinating `group` here, or NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS. */
  private partitionOf(group: string): OffsetsPartition {
    if (!group) throw new MillraceError('INVALID_GROUP_ID', 'a group id must not be empty');
    const topic = this.image().topics.get(OFFSETS_TOPIC);
    if (!topic) throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `${OFFSETS_TOPIC} does not exist yet`);
    const op = this.partitions.get(offsetsPartitionFor(group, topic.partitions.length));
    const notServing = this.settings.serving?.() ?? null;
    if (notServing !== null)
      throw new MillraceError(
        'NOT_COORDINATOR',
        `broker ${this.settings.brokerId} ${notServing}: find the coordinator again`,
      );
    if (!op || op.stale)
      throw new MillraceError(
        'NOT_COORDINATOR',
        `broker ${this.settings.brokerId} is not the coordinator of '${group}'`,
      );
    if (op.loading)
      throw new MillraceError('COORDINATOR_LOAD_IN_PROGRESS', `the offsets of '${group}' are still being loaded`);
    return op;
  }

  private existing(group: string): GroupRuntime | undefined {
    const g = this.partitionOf(group).groups.get(group);
    return g && g.state !== 'Dead' ? g : undefined;
  }

  private viewOf(group: string): { g: GroupRuntime | undefined; view: GroupView } {
    const g = this.existing(group);
    return { g, view: g?.view ?? absentGroup(group) };
  }

  private getOrCreate(group: string): GroupRuntime {
    const op = this.partitionOf(group);
    let g = op.groups.get(group);
    if (!g || g.state === 'Dead') {
      g = new GroupRuntime(group, op, this, this.settings.initialRebalanceDelayMs, this.now);
      op.groups.set(group, g);
    }
    return g;
  }

  async joinGroup(req: millrace.JoinGroupRequest, caller: Caller): Promise<millrace.IJoinGroupResponse> {
    this.access.requireGroup(caller, AclOperation.READ, req.groupId);
    const g = this.getOrCreate(req.groupId);
    const pending = g.partition.pendingMembers;
    const now = this.now();
    for (const [id, deadline] of pending) if (deadline < now) pending.delete(id);
    const decision = decideJoin(g.view, req, this.settings, pending, { now, newMemberId });
    switch (decision.kind) {
      case 'answer':
        pending.set(decision.pendingMember.memberId, decision.pendingMember.deadline);
        return decision.response;
      case 'current':
        g.apply(decision.events);
        return joinResponse(g.context, decision.memberId);
      case 'rebalance': {
        if (decision.admittedPending) pending.delete(decision.memberId);
        const id = decision.memberId;
        return new Promise((resolve) => {
          g.pendingJoins.get(id)?.(refusal('REBALANCE_IN_PROGRESS', 'replaced by a newer join of the same member'));
          g.pendingJoins.set(id, resolve);
          g.apply(decision.events);
        });
      }
    }
  }

  async syncGroup(req: millrace.SyncGroupRequest, caller: Caller): Promise<millrace.ISyncGroupResponse> {
    this.access.requireGroup(caller, AclOperation.READ, req.groupId);
    const { g, view } = this.viewOf(req.groupId);
    const { events, response } = decideSync(view, req);
    if (response) {
      g!.apply(events);
      return response;
    }
    // Held before the events: the leader's assignment completes the sync, answering every held one.
    return new Promise((resolve) => {
      g!.pendingSyncs.set(req.memberId, resolve);
      g!.apply(events);
    });
  }

  heartbeat(req: millrace.HeartbeatRequest, caller: Caller): millrace.IHeartbeatResponse {
    this.access.requireGroup(caller, AclOperation.READ, req.groupId);
    const { g, view } = this.viewOf(req.groupId);
    const { events, response } = decideHeartbeat(view, req);
    g!.apply(events);
    return response;
  }

  leaveGroup(req: millrace.LeaveGroupRequest, caller: Caller): millrace.ILeaveGroupResponse {
    this.access.requireGroup(caller, AclOperation.READ, req.groupId);
    const { g, view } = this.viewOf(req.groupId);
    const { events, left, response } = decideLeave(view, req);
    for (const m of left) this.logger.info({ group: req.groupId, member: m.memberId, reason: m.reason }, 'member left');
    g!.apply(events);
    return response;
  }

  /** Every group with DESCRIBE on the cluster; else the groups the caller may describe. */
  listGroups(caller: Caller): millrace.IListGroupsResponse {
    const all = this.access.clusterAllowed(caller, AclOperation.DESCRIBE);
    const groups: millrace.IListedGroup[] = [];
    for (const op of this.partitions.values()) {
      if (op.loading || op.stale) continue;
      for (const g of op.groups.values()) {
        if (g.state === 'Dead') continue;
        if (!all && !this.access.authorizer.allows(caller, AclOperation.DESCRIBE, ResourceType.GROUP, g.groupId))
          continue;
        groups.push({ groupId: g.groupId, protocolType: g.context.protocolType ?? '', state: g.state });
      }
    }
    return { groups };
  }

  describeGroups(req: millrace.DescribeGroupsRequest, caller: Caller): millrace.IDescribeGroupsResponse {
    return {
      groups: req.groups.map((groupId): millrace.IDescribedGroup => {
        try {
          this.access.requireGroup(caller, AclOperation.DESCRIBE, groupId);
          return describeGroup(this.viewOf(groupId).view);
        } catch (err) {
          return { groupId, ...errorFields(err) };
        }
      }),
    };
  }

  async deleteGroups(req: millrace.DeleteGroupsRequest, caller: Caller): Promise<millrace.IDeleteGroupsResponse> {
    const results: millrace.IDeletedGroup[] = [];
    for (const groupId of req.groups) {
      try {
        this.access.requireGroup(caller, AclOperation.DELETE, groupId);
        const g = this.existing(groupId);
        if (!g) throw new MillraceError('GROUP_ID_NOT_FOUND', `group '${groupId}' does not exist`);
        if (g.state !== 'Empty')
          throw new MillraceError('NON_EMPTY_GROUP', `group '${groupId}' has members (state ${g.state})`);
        await this.removeGroup(g);
        results.push({ groupId, errorCode: 0 });
      } catch (err) {
        results.push({ groupId, ...errorFields(err) });
      }
    }
    return { results };
  }

  /** Tombstones for the group's offsets and metadata, then the group is gone. */
  private async removeGroup(g: GroupRuntime): Promise<void> {
    await this.append(g.partition, groupRemovalRecords(g.groupId, g.offsets.keys()));
    g.apply([{ type: 'DELETE' }]);
    g.partition.groups.delete(g.groupId);
  }

  /** Removes the offsets of groups empty for longer than offsets.retention.ms (KIP-211). */
  expireOffsets(): void {
    const now = this.now();
    for (const op of this.partitions.values()) {
      if (op.loading || op.stale) continue;
      for (const g of [...op.groups.values()]) {
        if (!offsetsExpired(g.state, g.emptySince, now, this.settings.offsetsRetentionMs)) continue;
        this.logger.info({ group: g.groupId, offsets: g.offsets.size }, 'committed offsets expired');
        void this.removeGroup(g).catch((err: unknown) =>
          this.logger.warn({ err, group: g.groupId }, 'cannot expire offsets'),
        );
      }
    }
  }

  /** Writes the group's metadata record (fire and forget: a lost one costs members a rejoin). */
  persistGroup(g: GroupRuntime, ctx: GroupContext): void {
    if (g.partition.stale) return;
    this.append(g.partition, [groupMetadataRecord(ctx, this.now())]).catch((err: unknown) =>
      this.logger.warn({ err, group: ctx.groupId }, 'cannot persist group metadata'),
    );
  }

  rebalanceStarted(group: string): void {
    this.logger.info({ group }, 'rebalance started');
    this.settings.onRebalance?.(group);
  }

  /** Appends records to the coordinator partition and waits for the in-sync replicas (acks=all). */
  private async append(op: OffsetsPartition, records: OffsetsRecord[]): Promise<void> {
    if (op.stale) throw new MillraceError('NOT_COORDINATOR', 'the coordinator partition moved');
    await appendInternal(op.hp, records, this.now(), this.settings.commitTimeoutMs);
  }

  /** Committed offsets and states of the loaded groups, for the metrics. */
  snapshot(): Array<{ group: string; state: GroupState; members: number; offsets: Map<string, CommittedOffset> }> {
    const out = [];
    for (const op of this.partitions.values()) {
      if (op.loading || op.stale) continue;
      for (const g of op.groups.values())
        out.push({
          group: g.groupId,
          state: g.state,
          members: Object.keys(g.context.members).length,
          offsets: g.offsets,
        });
    }
    return out;
  }

  stop(): void {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.lagTracker.stop();
    for (const [p, op] of this.partitions) this.unload(p, op);
  }
}
