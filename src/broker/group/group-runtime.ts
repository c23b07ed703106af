/**
 * One group on its coordinator: the consumer-group actor, the JoinGroup and SyncGroup replies it
 * holds until the actor completes a rebalance, and the committed offsets; and the groups of one
 * `__consumer_offsets` partition this broker leads.
 */
import { createActor, type Actor } from 'xstate';
import {
  consumerGroupMachine,
  type GroupContext,
  type GroupEvent,
  type GroupMember,
  type GroupState,
} from '../../../actors/consumer-group.js';
import type { ErrorName } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import type { HostedPartition } from '../hosted-partition.js';
import { joinResponse, refusal, type GroupView } from './group-rules.js';
import type { CommittedOffset } from './offsets-topic.js';

/** What a group's actor asks of its coordinator. */
export interface GroupHooks {
  rebalanceStarted(group: string): void;
  persistGroup(g: GroupRuntime, ctx: GroupContext): void;
}

type Resolve<T> = (value: T) => void;

export class GroupRuntime {
  readonly actor: Actor<typeof consumerGroupMachine>;
  readonly offsets = new Map<string, CommittedOffset>();
  /** Offsets committed in open transactions (TxnOffsetCommit), by producer id: they count at the commit marker. */
  readonly pendingTxnOffsets = new Map<number, Map<string, CommittedOffset>>();
  readonly pendingJoins = new Map<string, Resolve<millrace.IJoinGroupResponse>>();
  readonly pendingSyncs = new Map<string, Resolve<millrace.ISyncGroupResponse>>();
  /** When the group last became empty (offsets expire from then), or when restored empty. */
  emptySince: number;

  constructor(
    readonly groupId: string,
    readonly partition: OffsetsPartition,
    coordinator: GroupHooks,
    initialRebalanceDelayMs: number,
    now: () => number,
  ) {
    this.emptySince = now();
    this.actor = createActor(
      consumerGroupMachine.provide({
        actions: {
          joinCompleted: ({ context }) => this.answerJoins(context),
          syncCompleted: ({ context }) => this.answerSyncs(context),
          membersRemoved: ({ context }) => this.failRemoved(context),
          rebalanceStarted: ({ context }) => {
            coordinator.rebalanceStarted(context.groupId);
            this.failSyncs('REBALANCE_IN_PROGRESS', 'the group is rebalancing: join again');
          },
          persist: ({ context }) => coordinator.persistGroup(this, context),
        },
      }),
      { input: { groupId, initialRebalanceDelayMs } },
    );
    this.actor.subscribe((s) => {
      if (s.value === 'Empty' && Object.keys(s.context.members).length === 0 && this.emptySince < 0)
        this.emptySince = now();
      else if (s.value !== 'Empty') this.emptySince = -1;
    });
    this.actor.start();
  }

  /** Restores the group as its partition's records left it: offsets, and members (Stable) or when it emptied. */
  restore(
    offsets: ReadonlyMap<string, CommittedOffset> | undefined,
    meta: millrace.GroupMetadataValue | undefined,
    now: number,
  ): void {
    for (const [k, v] of offsets ?? []) this.offsets.set(k, v);
    if (meta && meta.members.length > 0) {
      this.actor.send({
        type: 'RESTORE',
        generation: meta.generation,
        protocolType: meta.protocolType,
        protocol: meta.protocol,
        leader: meta.leader,
        members: meta.members.map((m): GroupMember => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId || null,
          clientId: m.clientId,
          sessionTimeoutMs: m.sessionTimeoutMs,
          rebalanceTimeoutMs: m.rebalanceTimeoutMs,
          protocols: [{ name: meta.protocol, metadata: Buffer.from(m.subscription) }],
          assignment: Buffer.from(m.assignment),
          joined: true,
        })),
      });
    } else if (meta) this.emptySince = Number(meta.currentStateTimestamp) || now;
    else this.emptySince = Math.max(0, ...[...this.offsets.values()].map((o) => o.commitTimestamp));
  }

  get state(): GroupState {
    return this.actor.getSnapshot().value as GroupState;
  }

  get context(): GroupContext {
    return this.actor.getSnapshot().context;
  }

  get view(): GroupView {
    const snapshot = this.actor.getSnapshot();
    return { ctx: snapshot.context, state: snapshot.value as GroupState };
  }

  /** Gives the group's machine the events a decision returned, in order. */
  apply(events: readonly GroupEvent[]): void {
    for (const e of events) this.actor.send(e);
  }

  private answerJoins(ctx: GroupContext): void {
    for (const [memberId, resolve] of this.pendingJoins) {
      if (ctx.members[memberId]) resolve(joinResponse(ctx, memberId));
    }
    this.pendingJoins.clear();
  }

  private answerSyncs(ctx: GroupContext): void {
    for (const [memberId, resolve] of this.pendingSyncs)
      resolve({ assignment: ctx.members[memberId]?.assignment ?? new Uint8Array(0) });
    this.pendingSyncs.clear();
  }

  private failRemoved(ctx: GroupContext): void {
    const fail = refusal('UNKNOWN_MEMBER_ID', 'the member was removed from the group');
    for (const held of [this.pendingJoins, this.pendingSyncs] as Array<Map<string, Resolve<typeof fail>>>) {
      for (const [id, resolve] of held) {
        if (ctx.members[id]) continue;
        resolve(fail);
        held.delete(id);
      }
    }
  }

  failSyncs(name: ErrorName, message: string): void {
    for (const resolve of this.pendingSyncs.values()) resolve(refusal(name, message));
    this.pendingSyncs.clear();
  }

  failAll(name: ErrorName, message: string): void {
    for (const resolve of this.pendingJoins.values()) resolve(refusal(name, message));
    this.pendingJoins.clear();
    this.failSyncs(name, message);
  }
}

/** The groups of one __consumer_offsets partition this broker leads. */
export class OffsetsPartition {
  readonly groups = new Map<string, GroupRuntime>();
  loading = true;
  /** Dynamic members told MEMBER_ID_REQUIRED: they may join with that id until the deadline. */
  readonly pendingMembers = new Map<string, number>();

  constructor(
    readonly hp: HostedPartition,
    readonly leaderEpoch: number,
  ) {}

  get stale(): boolean {
    return !this.hp.isLeader || this.hp.leaderEpoch !== this.leaderEpoch;
  }
}
