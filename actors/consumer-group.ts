/**
 * One consumer group on its coordinator, with Kafka's classic states: Empty, PreparingRebalance,
 * CompletingRebalance, Stable, Dead. The machine owns membership, generation, leader and protocol
 * and the timers (initial rebalance delay, rebalance timeout, a session actor per member); the
 * coordinator checks each request against the snapshot (unknown member, generation) before it
 * sends the event, and the injected actions answer the requests it holds (join and sync replies)
 * and persist the group.
 */
import { assign, enqueueActions, sendParent, sendTo, setup, stopChild } from 'xstate';

export interface GroupProtocol {
  name: string;
  metadata: Uint8Array;
}

export interface GroupMember {
  memberId: string;
  /** Static membership (KIP-345): null for a dynamic member. */
  groupInstanceId: string | null;
  clientId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: GroupProtocol[];
  assignment: Uint8Array;
  /** Rejoined during the current rebalance. */
  joined: boolean;
}

export interface GroupContext {
  groupId: string;
  generation: number;
  protocolType: string | null;
  protocol: string | null;
  leader: string | null;
  members: Record<string, GroupMember>;
  initialRebalanceDelayMs: number;
  /** The rebalance started from Empty: it waits the initial delay for more members. */
  delayingInitial: boolean;
}

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export type JoiningMember = Omit<GroupMember, 'assignment' | 'joined'>;

export type GroupEvent =
  | { type: 'JOIN'; member: JoiningMember; protocolType: string }
  | { type: 'SYNC_LEADER'; assignments: Record<string, Uint8Array> }
  | { type: 'HEARTBEAT'; memberId: string }
  | { type: 'LEAVE'; memberId: string }
  | { type: 'MEMBER_EXPIRED'; memberId: string }
  /** A static member came back under a new member id: it takes over the old one's place. */
  | { type: 'REPLACE_STATIC'; oldMemberId: string; member: JoiningMember }
  /** A group read back from __consumer_offsets by a new coordinator. */
  | {
      type: 'RESTORE';
      generation: number;
      protocolType: string;
      protocol: string;
      leader: string;
      members: GroupMember[];
    }
  | { type: 'DELETE' };

/** A member's session: every heartbeat restarts its timer; when it runs out the member is removed. */
export const memberSessionMachine = setup({
  types: {
    context: {} as { memberId: string; sessionTimeoutMs: number },
    input: {} as { memberId: string; sessionTimeoutMs: number },
    events: {} as { type: 'HEARTBEAT' },
  },
  delays: { SESSION_TIMEOUT: ({ context }) => context.sessionTimeoutMs },
}).createMachine({
  id: 'memberSession',
  context: ({ input }) => input,
  initial: 'Alive',
  states: {
    Alive: {
      after: { SESSION_TIMEOUT: 'Expired' },
      on: { HEARTBEAT: { target: 'Alive', reenter: true } },
    },
    Expired: {
      type: 'final',
      entry: sendParent(({ context }) => ({ type: 'MEMBER_EXPIRED', memberId: context.memberId })),
    },
  },
});

const sameProtocols = (a: GroupProtocol[], b: GroupProtocol[]): boolean =>
  a.length === b.length &&
  a.every(
    (p, i) =>
      p.name === b[i]!.name &&
      p.metadata.length === b[i]!.metadata.length &&
      p.metadata.every((byte, j) => byte === b[i]!.metadata[j]),
  );

/** A join that changes nothing: a known member with the same protocols (Kafka answers it without a rebalance). */
export function isRejoinUnchanged(ctx: GroupContext, m: JoiningMember): boolean {
  const known = ctx.members[m.memberId];
  return known !== undefined && sameProtocols(known.protocols, m.protocols);
}

/** The protocol every member supports that most members prefer (Kafka's vote). */
export function selectProtocol(members: GroupMember[]): string | null {
  if (members.length === 0) return null;
  const common = members[0]!.protocols
    .map((p) => p.name)
    .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
  if (common.length === 0) return null;
  const votes = new Map<string, number>();
  for (const m of members) {
    const choice = m.protocols.find((p) => common.includes(p.name))!.name;
    votes.set(choice, (votes.get(choice) ?? 0) + 1);
  }
  return [...votes].sort((a, b) => b[1] - a[1] || common.indexOf(a[0]) - common.indexOf(b[0]))[0]![0];
}

const memberList = (ctx: GroupContext): GroupMember[] => Object.values(ctx.members);

const memberGone = {
  target: 'PreparingRebalance',
  actions: ['removeMember', 'membersRemoved', 'resetJoined', 'rebalanceStarted'],
} as const;
/** In a settled group (completing or stable), a member joining, leaving or expiring starts a rebalance. */
const membershipChanges = {
  JOIN: { target: 'PreparingRebalance', actions: ['resetJoined', 'addMember', 'rebalanceStarted'] },
  LEAVE: memberGone,
  MEMBER_EXPIRED: memberGone,
} as const;
const allJoined = (ctx: GroupContext): boolean => memberList(ctx).every((m) => m.joined);

export const consumerGroupMachine = setup({
  types: {
    context: {} as GroupContext,
    input: {} as { groupId: string; initialRebalanceDelayMs: number },
    events: {} as GroupEvent,
    children: {} as Record<string, 'memberSession'>,
  },
  actors: { memberSession: memberSessionMachine },
  actions: {
    // Injected by the coordinator. They read the context as it is when they run (after the assigns before them).
    /** Answers every held JoinGroup: the rebalance has a new generation. */
    joinCompleted: () => undefined,
    /** Answers every held SyncGroup with its assignment. */
    syncCompleted: () => undefined,
    /** Fails the held requests of members no longer in the group (it runs after their removal). */
    membersRemoved: () => undefined,
    rebalanceStarted: () => undefined,
    /** Persists the group's metadata record. */
    persist: () => undefined,
    /** Every member must rejoin. */
    resetJoined: assign({
      members: ({ context }) =>
        Object.fromEntries(memberList(context).map((m) => [m.memberId, { ...m, joined: false }])),
    }),
    addMember: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'JOIN') return;
      const m = event.member;
      const existing = context.members[m.memberId];
      enqueue.assign({
        protocolType: context.protocolType ?? event.protocolType,
        members: {
          ...context.members,
          [m.memberId]: { ...m, assignment: existing?.assignment ?? new Uint8Array(0), joined: true },
        },
      });
      if (existing) enqueue.sendTo(m.memberId, { type: 'HEARTBEAT' });
      else
        enqueue.spawnChild('memberSession', {
          id: m.memberId,
          input: { memberId: m.memberId, sessionTimeoutMs: m.sessionTimeoutMs },
        });
    }),
    removeMember: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'LEAVE' && event.type !== 'MEMBER_EXPIRED') return;
      if (!context.members[event.memberId]) return;
      const members = { ...context.members };
      delete members[event.memberId];
      enqueue.assign({ members, leader: context.leader === event.memberId ? null : context.leader });
      enqueue.stopChild(event.memberId);
    }),
    removeUnjoined: enqueueActions(({ context, enqueue }) => {
      const members: Record<string, GroupMember> = {};
      for (const m of memberList(context)) {
        if (m.joined) members[m.memberId] = m;
        else enqueue.stopChild(m.memberId);
      }
      enqueue.assign({
        members,
        leader: context.leader !== null && members[context.leader] ? context.leader : null,
      });
    }),
    /** New generation: protocol by vote, the leader kept if it is still a member. */
    completeJoin: enqueueActions(({ context, enqueue }) => {
      const members = memberList(context);
      const leader = context.leader !== null && context.members[context.leader] ? context.leader : members[0]!.memberId;
      const next: GroupContext = {
        ...context,
        generation: context.generation + 1,
        protocol: selectProtocol(members),
        leader,
      };
      enqueue.assign(next);
      for (const m of members) enqueue.sendTo(m.memberId, { type: 'HEARTBEAT' });
    }),
    completeSync: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SYNC_LEADER') return;
      const members = Object.fromEntries(
        memberList(context).map((m) => [
          m.memberId,
          { ...m, assignment: event.assignments[m.memberId] ?? new Uint8Array(0) },
        ]),
      );
      enqueue.assign({ members });
    }),
    restore: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'RESTORE') return;
      enqueue.assign({
        generation: event.generation,
        protocolType: event.protocolType,
        protocol: event.protocol,
        leader: event.leader,
        members: Object.fromEntries(event.members.map((m) => [m.memberId, m])),
      });
      for (const m of event.members)
        enqueue.spawnChild('memberSession', {
          id: m.memberId,
          input: { memberId: m.memberId, sessionTimeoutMs: m.sessionTimeoutMs },
        });
    }),
  },
  guards: {
    allJoined: ({ context }) => !context.delayingInitial && allJoined(context),
    noMembers: ({ context }) => memberList(context).length === 0,
  },
  delays: {
    INITIAL_REBALANCE_DELAY: ({ context }) => context.initialRebalanceDelayMs,
    /** Kafka waits the largest rebalance timeout of the members. */
    REBALANCE_TIMEOUT: ({ context }) => Math.max(1, ...memberList(context).map((m) => m.rebalanceTimeoutMs)),
  },
}).createMachine({
  id: 'consumerGroup',
  context: ({ input }) => ({
    groupId: input.groupId,
    generation: 0,
    protocolType: null,
    protocol: null,
    leader: null,
    members: {},
    initialRebalanceDelayMs: input.initialRebalanceDelayMs,
    delayingInitial: false,
  }),
  initial: 'Empty',
  on: {
    HEARTBEAT: { actions: sendTo(({ event }) => event.memberId, { type: 'HEARTBEAT' }) },
    REPLACE_STATIC: {
      actions: [
        stopChild(({ event }) => event.oldMemberId),
        assign(({ context, event }) => {
          const old = context.members[event.oldMemberId]!;
          const members = { ...context.members };
          delete members[event.oldMemberId];
          members[event.member.memberId] = { ...old, ...event.member, joined: old.joined };
          return { members, leader: context.leader === event.oldMemberId ? event.member.memberId : context.leader };
        }),
        'membersRemoved',
        enqueueActions(({ event, enqueue }) => {
          enqueue.spawnChild('memberSession', {
            id: event.member.memberId,
            input: { memberId: event.member.memberId, sessionTimeoutMs: event.member.sessionTimeoutMs },
          });
        }),
        'persist',
      ],
    },
  },
  states: {
    Empty: {
      on: {
        JOIN: {
          target: 'PreparingRebalance',
          actions: [
            'resetJoined',
            'addMember',
            assign({ delayingInitial: ({ context }) => context.initialRebalanceDelayMs > 0 }),
            'rebalanceStarted',
          ],
        },
        RESTORE: { target: 'Stable', actions: 'restore' },
        DELETE: 'Dead',
      },
    },
    PreparingRebalance: {
      after: {
        INITIAL_REBALANCE_DELAY: { actions: assign({ delayingInitial: false }) },
        // Members that did not rejoin in time are dropped; the rebalance completes without them.
        REBALANCE_TIMEOUT: { actions: ['removeUnjoined', 'membersRemoved', assign({ delayingInitial: false })] },
      },
      always: [
        { guard: 'noMembers', target: 'Empty', actions: 'persist' },
        { guard: 'allJoined', target: 'CompletingRebalance', actions: ['completeJoin', 'joinCompleted'] },
      ],
      on: {
        JOIN: { actions: 'addMember' },
        LEAVE: { actions: ['removeMember', 'membersRemoved'] },
        MEMBER_EXPIRED: { actions: ['removeMember', 'membersRemoved'] },
      },
    },
    CompletingRebalance: {
      // The leader never sent its assignment: everyone joins again.
      after: { REBALANCE_TIMEOUT: { target: 'PreparingRebalance', actions: ['resetJoined', 'rebalanceStarted'] } },
      on: {
        SYNC_LEADER: { target: 'Stable', actions: ['completeSync', 'syncCompleted', 'persist'] },
        ...membershipChanges,
      },
    },
    Stable: { on: membershipChanges },
    Dead: { type: 'final' },
  },
});
