/**
 * A consumer's membership of its group (Kafka's classic protocol, client side): find the
 * coordinator, join (MEMBER_ID_REQUIRED first), let the leader run the assignor, sync, then
 * heartbeat on its own timer, never behind message handling. Eager assignors give everything up
 * before each join; cooperative ones keep consuming and give up only what moves, rejoining at
 * once so the partitions reach their new owner. Commits carry the generation; a member whose
 * handler runs past maxPollIntervalMs leaves the group and rejoins when the handler returns.
 */
import { ErrorCodes, MillraceError } from '../../protocol/errors.js';
import type { BrokerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import type { MessageType } from '../transport/rpc.js';
import {
  assignedPartitions,
  assignmentsOf,
  encodeSubscription,
  grouped,
  subscriptionsOf,
} from './consumer-protocol.js';
import { ASSIGNORS, keyOfTp, type Assignor, type TopicPartition } from './assignors.js';
import { GroupOffsets, type Position } from './group-offsets.js';
import type { ConsumerEvents, Instrumentation } from './instrumentation.js';
import { callBroker, type ClientContext } from './context.js';
import type { GroupOptions, IsolationLevel, RebalanceListener, TopicPartitionOffset } from './types.js';

/** What the member needs from its consumer. */
export interface GroupHost {
  /** Partitions without an offset start by the consumer's autoOffsetReset. */
  addPartitions(tps: TopicPartitionOffset[]): void;
  removePartitions(tps: TopicPartition[]): void;
  /** The next offset to commit per owned partition: after the last message the application finished. */
  positions(tps: TopicPartition[]): Array<TopicPartition & { offset: number }>;
  /** How long the application's handler has been running (0 when it is not). */
  busyForMs(): number;
  fail(err: Error): void;
}

/**
 * Cooperative-sticky first; the rest let members of other Kafka clients share the group: a
 * protocol every member offers is chosen (Java and librdkafka offer range, kafkajs RoundRobinAssigner).
 */
const DEFAULT_ASSIGNORS = ['cooperative-sticky', 'range', 'roundrobin', 'RoundRobinAssigner'];

/** The broker coordinating `groupId` (key type 1: a transactional id), through any live broker. */
export async function findCoordinator(ctx: ClientContext, groupId: string, keyType = 0): Promise<number> {
  const broker = await ctx.metadata.anyBroker('COORDINATOR_NOT_AVAILABLE');
  const res = await callBroker(
    ctx,
    broker,
    'find_coordinator',
    wire.FindCoordinatorRequest,
    { key: groupId, keyType },
    wire.FindCoordinatorResponse,
  );
  return res.nodeId;
}

export class GroupMember {
  memberId = '';
  generation = -1;
  protocol: string | null = null;
  private owned: TopicPartition[] = [];
  private coordinator = -1;
  private rejoinNeeded = true;
  private closed = false;
  private leftForPollTimeout = false;
  private topics: string[] = [];
  private partitionCounts = new Map<string, number>();
  private lastMetadataCheck = 0;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private autoCommitTimer: NodeJS.Timeout | null = null;
  private readonly offsets: GroupOffsets;
  private readonly assignors: Assignor[];
  private readonly opts: Required<Omit<GroupOptions, 'groupInstanceId' | 'assignors'>> & { groupInstanceId: string };

  constructor(
    private readonly ctx: ClientContext,
    private readonly host: GroupHost,
    options: GroupOptions & { isolationLevel?: IsolationLevel },
    private readonly subscription: Array<string | RegExp>,
    private readonly listener: RebalanceListener = {},
    private readonly events: Instrumentation<ConsumerEvents>,
  ) {
    const maxPollIntervalMs = options.maxPollIntervalMs ?? 300_000;
    this.opts = {
      groupId: options.groupId,
      groupInstanceId: options.groupInstanceId ?? '',
      sessionTimeoutMs: options.sessionTimeoutMs ?? 45_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3_000,
      maxPollIntervalMs,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? maxPollIntervalMs,
      autoCommit: options.autoCommit ?? true,
      autoCommitIntervalMs: options.autoCommitIntervalMs ?? 5_000,
      metadataMaxAgeMs: options.metadataMaxAgeMs ?? 300_000,
    };
    this.assignors = (options.assignors ?? DEFAULT_ASSIGNORS).map((a) => {
      if (typeof a !== 'string') return a;
      const found = ASSIGNORS[a];
      if (!found)
        throw new MillraceError('INVALID_CONFIG', `unknown assignor '${a}' (${Object.keys(ASSIGNORS).join(', ')})`);
      return found;
    });
    this.offsets = new GroupOffsets(ctx, this, events, options.isolationLevel === 'read_committed');
    if (this.assignors.length === 0) throw new MillraceError('INVALID_CONFIG', 'a group consumer needs an assignor');
    if (this.opts.heartbeatIntervalMs >= this.opts.sessionTimeoutMs)
      throw new MillraceError('INVALID_CONFIG', 'heartbeatIntervalMs must be below sessionTimeoutMs');
  }

  get groupId(): string {
    return this.opts.groupId;
  }

  get groupInstanceId(): string {
    return this.opts.groupInstanceId;
  }

  assignment(): TopicPartition[] {
    return [...this.owned];
  }

  start(): void {
    this.loop = this.run();
    if (this.opts.autoCommit) {
      this.autoCommitTimer = setInterval(() => {
        if (this.generation >= 0 && this.owned.length > 0) this.commit().catch(() => undefined); // the next interval, a revoke or close commits again
      }, this.opts.autoCommitIntervalMs);
      this.autoCommitTimer.unref();
    }
  }

  private async run(): Promise<void> {
    let backoffMs = 100;
    while (!this.closed) {
      try {
        if (this.host.busyForMs() > this.opts.maxPollIntervalMs) {
          if (!this.leftForPollTimeout) await this.leaveForPollTimeout();
          await this.pause(this.opts.heartbeatIntervalMs);
          continue;
        }
        if (this.leftForPollTimeout) {
          this.leftForPollTimeout = false;
          this.rejoinNeeded = true;
        }
        if (this.coordinator < 0) await this.findCoordinator();
        if (this.rejoinNeeded) await this.joinAndSync();
        else {
          await this.heartbeat();
          await this.checkMetadata();
          await this.pause(this.opts.heartbeatIntervalMs);
        }
        backoffMs = 100;
      } catch (err) {
        if (this.closed) return;
        const e = MillraceError.from(err);
        if (!this.recover(e)) {
          this.host.fail(e);
          return;
        }
        await this.pause(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 1_000);
      }
    }
  }

  /** Handles a group error; false when the member cannot go on. */
  private recover(e: MillraceError): boolean {
    switch (e.errorName) {
      case 'REBALANCE_IN_PROGRESS':
        this.rejoinNeeded = true;
        return true;
      case 'ILLEGAL_GENERATION':
        this.lose();
        return true;
      case 'UNKNOWN_MEMBER_ID':
        this.memberId = '';
        this.lose();
        return true;
      case 'FENCED_INSTANCE_ID':
        return false;
      case 'COORDINATOR_LOAD_IN_PROGRESS':
        return true;
      default:
        if (e.coordinatorMoved) {
          this.coordinator = -1;
          return true;
        }
        return e.retriable;
    }
  }

  /** Wakes the heartbeat loop (a rejoin is wanted). */
  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async findCoordinator(): Promise<void> {
    this.coordinator = await findCoordinator(this.ctx, this.opts.groupId);
  }

  /** A request to the coordinator; coordinator errors make the next call find it again. */
  async call<ReqI, Res>(
    api: BrokerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
    timeoutMs = this.ctx.requestTimeoutMs,
    raw = false,
  ): Promise<Res> {
    if (this.coordinator < 0) await this.findCoordinator();
    try {
      return await callBroker(this.ctx, this.coordinator, api, requestType, message, responseType, timeoutMs, raw);
    } catch (err) {
      if (err instanceof MillraceError && err.coordinatorMoved) this.coordinator = -1;
      throw err;
    }
  }

  private get cooperative(): boolean {
    return this.assignors.find((a) => a.name === this.protocol)?.cooperative ?? this.assignors[0]!.cooperative;
  }

  private async joinAndSync(): Promise<void> {
    const started = Date.now();
    this.events.emit('consumer.rebalancing', { groupId: this.opts.groupId, memberId: this.memberId });
    // Eager protocols give up everything before joining; cooperative ones keep consuming.
    if (this.owned.length > 0 && !this.cooperative) await this.revoke(this.owned);
    await this.resolveTopics();
    const subscription = { topics: this.topics, ownedPartitions: grouped(this.owned), generationId: this.generation };
    const join = async (memberId: string) => {
      const res = await this.call(
        'join_group',
        wire.JoinGroupRequest,
        {
          groupId: this.opts.groupId,
          sessionTimeoutMs: this.opts.sessionTimeoutMs,
          rebalanceTimeoutMs: this.opts.rebalanceTimeoutMs,
          memberId,
          groupInstanceId: this.opts.groupInstanceId,
          protocolType: 'consumer',
          protocols: this.assignors.map((a) => ({
            name: a.name,
            metadata: encodeSubscription({ ...subscription, userData: a.subscriptionUserData?.() ?? null }),
          })),
          clientId: this.ctx.clientId,
        },
        wire.JoinGroupResponse,
        this.opts.rebalanceTimeoutMs + 5_000,
        true,
      );
      // KIP-394: a new member is given its id with MEMBER_ID_REQUIRED, and joins again with it.
      if (res.errorCode === ErrorCodes.MEMBER_ID_REQUIRED.code && res.memberId) this.memberId = res.memberId;
      return res;
    };
    let res = await join(this.memberId);
    if (res.errorCode === ErrorCodes.MEMBER_ID_REQUIRED.code) res = await join(this.memberId);
    if (res.errorCode) throw MillraceError.fromCode(res.errorCode, res.errorMessage);
    this.memberId = res.memberId;
    this.generation = res.generationId;
    this.protocol = res.protocolName;
    const assignments = res.leader === res.memberId ? await this.assign(res.members) : [];
    const sync = await this.call(
      'sync_group',
      wire.SyncGroupRequest,
      {
        groupId: this.opts.groupId,
        generationId: this.generation,
        memberId: this.memberId,
        groupInstanceId: this.opts.groupInstanceId,
        assignments,
      },
      wire.SyncGroupResponse,
      this.opts.rebalanceTimeoutMs + 5_000,
    );
    this.rejoinNeeded = false;
    const { partitions: assigned, userData } = assignedPartitions(sync.assignment);
    this.assignors.find((a) => a.name === this.protocol)?.onAssignment?.(assigned, userData);
    this.ctx.metrics?.rebalances.inc({ client_id: this.ctx.clientId, group: this.opts.groupId });
    this.ctx.logger.info(
      { groupId: this.opts.groupId, memberId: this.memberId, generation: this.generation, partitions: assigned.length },
      'joined the group',
    );
    this.events.emit('consumer.group_join', {
      groupId: this.opts.groupId,
      memberId: this.memberId,
      leaderId: res.leader,
      isLeader: res.leader === res.memberId,
      groupProtocol: this.protocol ?? '',
      generationId: this.generation,
      memberAssignment: Object.fromEntries(grouped(assigned).map((g) => [g.topic, g.partitions])),
      duration: Date.now() - started,
    });
    await this.apply(assigned);
  }

  /** As leader: the chosen assignor over every member's subscription. */
  private async assign(members: Array<{ memberId: string; groupInstanceId: string; metadata: Uint8Array }>) {
    const assignor = this.assignors.find((a) => a.name === this.protocol);
    if (!assignor) throw new MillraceError('INCONSISTENT_GROUP_PROTOCOL', `no assignor named '${this.protocol}'`);
    const subs = subscriptionsOf(members);
    const counts = await this.partitionCountsOf([...new Set(subs.flatMap((s) => s.topics))]);
    return assignmentsOf(assignor.assign(subs, counts));
  }

  private async partitionCountsOf(topics: string[]): Promise<Map<string, number>> {
    if (topics.length > 0) await this.ctx.metadata.refresh(topics);
    const counts = new Map<string, number>();
    for (const t of topics) {
      const parts = this.ctx.metadata.partitions(t);
      if (parts) counts.set(t, parts.length);
    }
    return counts;
  }

  /** Names for the subscription: exact names, plus every topic a pattern matches (internal ones excluded). */
  private async resolveTopics(): Promise<void> {
    const names = this.subscription.filter((t): t is string => typeof t === 'string');
    const patterns = this.subscription.filter((t): t is RegExp => t instanceof RegExp);
    if (patterns.length > 0) {
      const all = (await this.ctx.metadata.refresh()).topics.filter((t) => !t.errorCode).map((t) => t.name);
      for (const name of all) if (!name.startsWith('__') && patterns.some((p) => p.test(name))) names.push(name);
    }
    this.topics = [...new Set(names)].sort();
    this.partitionCounts = await this.partitionCountsOf(this.topics);
    this.lastMetadataCheck = Date.now();
  }

  /** Every metadata.max.age: new topics matching a pattern, or more partitions, mean a rejoin. */
  private async checkMetadata(): Promise<void> {
    if (Date.now() - this.lastMetadataCheck < this.opts.metadataMaxAgeMs) return;
    const topics = this.topics;
    const counts = this.partitionCounts;
    await this.resolveTopics();
    const changed =
      topics.join('\u0000') !== this.topics.join('\u0000') ||
      [...this.partitionCounts].some(([t, n]) => counts.get(t) !== n);
    if (changed) this.rejoinNeeded = true;
  }

  /** Applies a new assignment: revoke what is gone, fetch committed offsets for what is new. */
  private async apply(assigned: TopicPartition[]): Promise<void> {
    const next = new Set(assigned.map(keyOfTp));
    const current = new Set(this.owned.map(keyOfTp));
    const revoked = this.owned.filter((tp) => !next.has(keyOfTp(tp)));
    const added = assigned.filter((tp) => !current.has(keyOfTp(tp)));
    if (revoked.length > 0) {
      await this.revoke(revoked);
      // Cooperative: the revoked partitions reach their new owner in a follow-up rebalance.
      if (this.cooperative) this.rejoinNeeded = true;
    }
    if (added.length > 0) {
      const committed = await this.offsets.fetch(added);
      // Without a committed offset a partition starts by the consumer's autoOffsetReset.
      this.host.addPartitions(
        added.map((tp) => {
          const offset = committed.get(keyOfTp(tp)) ?? -1;
          return offset >= 0 ? { ...tp, offset } : tp;
        }),
      );
      this.owned.push(...added);
      await this.listener.assigned?.(added);
    }
  }

  private async revoke(tps: TopicPartition[]): Promise<void> {
    const positions = this.host.positions(tps);
    this.host.removePartitions(tps);
    const gone = new Set(tps.map(keyOfTp));
    this.owned = this.owned.filter((tp) => !gone.has(keyOfTp(tp)));
    if (this.opts.autoCommit) await this.offsets.commit(positions).catch(() => undefined);
    this.offsets.forget(tps);
    await this.listener.revoked?.(tps);
  }

  /** Partitions now owned by others (the member fell out of the group): no commit, they are not ours. */
  private lose(): void {
    this.generation = -1;
    this.rejoinNeeded = true;
    if (this.owned.length === 0) return;
    const lost = this.owned;
    this.owned = [];
    this.offsets.forget(lost);
    this.host.removePartitions(lost);
    void Promise.resolve(this.listener.lost?.(lost)).catch(() => undefined);
  }

  /** Commits the given offsets, or the position of every owned partition. */
  async commit(offsets?: Position[]): Promise<void> {
    await this.offsets.commit(offsets ?? this.host.positions(this.owned));
  }

  /** Commits the owned partitions' positions if autoCommit is on and its interval has passed. */
  async commitIfDue(): Promise<void> {
    if (this.opts.autoCommit)
      await this.offsets.commitIfDue(this.host.positions(this.owned), this.opts.autoCommitIntervalMs);
  }

  /** Positions processed and not committed yet. */
  uncommitted(): Position[] {
    return this.offsets.uncommitted(this.host.positions(this.owned));
  }

  /** A heartbeat now (eachBatch's `heartbeat()`), between those of the member's own timer. */
  async heartbeatNow(): Promise<void> {
    if (this.generation >= 0 && !this.rejoinNeeded && !this.closed) await this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    await this.call(
      'heartbeat',
      wire.HeartbeatRequest,
      {
        groupId: this.opts.groupId,
        generationId: this.generation,
        memberId: this.memberId,
        groupInstanceId: this.opts.groupInstanceId,
      },
      wire.HeartbeatResponse,
      Math.min(this.ctx.requestTimeoutMs, this.opts.sessionTimeoutMs),
    );
    this.events.emit('consumer.heartbeat', {
      groupId: this.opts.groupId,
      memberId: this.memberId,
      groupGenerationId: this.generation,
    });
  }

  /** The handler ran past maxPollIntervalMs: leave, so the group moves on without this member. */
  private async leaveForPollTimeout(): Promise<void> {
    this.leftForPollTimeout = true;
    await this.leave(`the handler ran longer than maxPollIntervalMs (${this.opts.maxPollIntervalMs} ms)`);
    this.memberId = '';
    this.lose();
  }

  private async leave(reason: string): Promise<void> {
    if (!this.memberId || this.coordinator < 0) return;
    await this.call(
      'leave_group',
      wire.LeaveGroupRequest,
      {
        groupId: this.opts.groupId,
        members: [{ memberId: this.memberId, groupInstanceId: this.opts.groupInstanceId, reason }],
      },
      wire.LeaveGroupResponse,
    ).catch(() => undefined);
  }

  /** Commits and revokes what it owns, and leaves (a static member stays, to come back without a rebalance). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.autoCommitTimer) clearInterval(this.autoCommitTimer);
    this.poke();
    await this.loop;
    if (this.owned.length > 0 && this.generation >= 0) await this.revoke(this.owned).catch(() => undefined);
    if (!this.opts.groupInstanceId) await this.leave('the consumer is closing');
  }

  /** Called by the consumer when the application asks for messages again: a left member rejoins. */
  polled(): void {
    if (this.leftForPollTimeout) this.poke();
  }
}
