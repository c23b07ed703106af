import { describe, expect, it } from 'vitest';
import type { GroupContext, GroupMember } from '../../actors/consumer-group.js';
import type { GroupState } from '../../actors/consumer-group.js';
import { encodeSubscription } from '../../protocol/kafka/consumer-protocol.js';
import {
  absentGroup,
  checkGeneration,
  checkJoinProtocol,
  checkJoinRequest,
  decideHeartbeat,
  decideJoin,
  decideLeave,
  decideSync,
  describeGroup,
  joinResponse,
  memberOf,
} from '../../src/broker/group/group-rules.js';
import {
  admitCommit,
  groupRemovalRecords,
  offsetFetchResponse,
  offsetsExpired,
  planCommit,
  planOffsetDelete,
  subscribedTopics,
} from '../../src/broker/group/offset-rules.js';
import { groupKey, offsetKey } from '../../src/broker/group/offsets-topic.js';

const member = (memberId: string, groupInstanceId: string | null = null, protocols = ['range']): GroupMember => ({
  memberId,
  groupInstanceId,
  clientId: 'c',
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 10_000,
  protocols: protocols.map((name) => ({ name, metadata: new Uint8Array(0) })),
  assignment: new Uint8Array(0),
  joined: true,
});

const group = (members: GroupMember[], generation = 3): GroupContext => ({
  groupId: 'g',
  generation,
  protocolType: 'consumer',
  protocol: 'range',
  leader: members[0]?.memberId ?? null,
  members: Object.fromEntries(members.map((m) => [m.memberId, m])),
  initialRebalanceDelayMs: 0,
  delayingInitial: false,
});

const errorName = (f: () => unknown): string | null => {
  try {
    f();
    return null;
  } catch (err) {
    return (err as { errorName: string }).errorName;
  }
};

const view = (ctx: GroupContext, state: GroupState) => ({ ctx, state });

describe('group coordinator rules', () => {
  const bounds = { minSessionTimeoutMs: 6_000, maxSessionTimeoutMs: 60_000 };
  const join = { groupId: 'g', sessionTimeoutMs: 10_000, protocolType: 'consumer', protocols: [{ name: 'range' }] };

  it('admits a join only within the session bounds and with a protocol the members share', () => {
    expect(errorName(() => checkJoinRequest(join, bounds))).toBeNull();
    expect(errorName(() => checkJoinRequest({ ...join, sessionTimeoutMs: 100 }, bounds))).toBe(
      'INVALID_SESSION_TIMEOUT',
    );
    expect(errorName(() => checkJoinRequest({ ...join, protocols: [] }, bounds))).toBe('INCONSISTENT_GROUP_PROTOCOL');
    const g = group([member('a', null, ['range', 'roundrobin']), member('b', null, ['range'])]);
    expect(errorName(() => checkJoinProtocol(g, join))).toBeNull();
    expect(errorName(() => checkJoinProtocol(g, { ...join, protocols: [{ name: 'roundrobin' }] }))).toBe(
      'INCONSISTENT_GROUP_PROTOCOL',
    );
    expect(errorName(() => checkJoinProtocol(g, { ...join, protocolType: 'connect' }))).toBe(
      'INCONSISTENT_GROUP_PROTOCOL',
    );
    expect(errorName(() => checkJoinProtocol(group([]), { ...join, protocolType: 'connect' }))).toBeNull();
  });

  it('names members, fences a static instance taken over, and checks the generation', () => {
    const g = group([member('a', 'i-1'), member('b')]);
    expect(memberOf(g, 'a', 'i-1').memberId).toBe('a');
    expect(errorName(() => memberOf(g, 'x', ''))).toBe('UNKNOWN_MEMBER_ID');
    expect(errorName(() => memberOf(g, 'b', 'i-1'))).toBe('FENCED_INSTANCE_ID');
    expect(errorName(() => checkGeneration(g, 2))).toBe('ILLEGAL_GENERATION');
    expect(errorName(() => checkGeneration(g, 3))).toBeNull();
  });

  it('lets members of the generation commit outside the sync phase, and an admin only an empty group', () => {
    const g = group([member('a')]);
    const commit = { groupId: 'g', memberId: 'a', generationId: 3, groupInstanceId: '' };
    expect(errorName(() => admitCommit(view(g, 'Stable'), commit))).toBeNull();
    expect(errorName(() => admitCommit(view(g, 'CompletingRebalance'), commit))).toBe('REBALANCE_IN_PROGRESS');
    expect(errorName(() => admitCommit(view(g, 'Stable'), { groupId: 'g', generationId: -1 }))).toBe(
      'UNKNOWN_MEMBER_ID',
    );
    expect(errorName(() => admitCommit(view(group([]), 'Empty'), { groupId: 'g', generationId: -1 }))).toBeNull();
  });

  it('plans one record per committed partition and refuses oversized metadata', () => {
    const plan = planCommit(
      {
        groupId: 'g',
        topics: [
          {
            name: 't',
            partitions: [
              { partition: 0, offset: 42, leaderEpoch: 1, metadata: 'ok' },
              { partition: 1, offset: 7, leaderEpoch: 1, metadata: 'x'.repeat(10) },
            ],
          },
        ],
      },
      4,
      1_000,
    );
    expect(plan.records).toHaveLength(1);
    expect(plan.accepted).toEqual([
      { key: 't\u00000', value: { offset: 42, leaderEpoch: 1, metadata: 'ok', commitTimestamp: 1_000 } },
    ]);
    expect(plan.response.topics![0]!.partitions!.map((p: { errorCode?: number | null }) => p.errorCode === 0)).toEqual([
      true,
      false,
    ]);
  });

  describe('join decisions', () => {
    let ids = 0;
    const env = { now: 1_000, newMemberId: (prefix: string) => `${prefix}-${++ids}` };
    const none = new Map<string, number>();

    it('gives a new dynamic member its id first and admits it with that id until the deadline', () => {
      const first = decideJoin(absentGroup('g'), { ...join, memberId: '', clientId: 'app' }, bounds, none, env);
      expect(first.kind).toBe('answer');
      if (first.kind !== 'answer') return;
      expect(first.response.errorCode).toBe(79); // MEMBER_ID_REQUIRED
      expect(first.pendingMember).toEqual({ memberId: first.response.memberId, deadline: 11_000 });
      const pending = new Map([[first.pendingMember.memberId, first.pendingMember.deadline]]);
      const second = decideJoin(
        absentGroup('g'),
        { ...join, memberId: first.pendingMember.memberId },
        bounds,
        pending,
        env,
      );
      expect(second).toMatchObject({
        kind: 'rebalance',
        admittedPending: true,
        memberId: first.pendingMember.memberId,
      });
      if (second.kind === 'rebalance') expect(second.events.map((e) => e.type)).toEqual(['JOIN']);
    });

    it('answers an unchanged follower with the current generation, and a changed one or the leader with a rebalance', () => {
      const g = group([member('a'), member('b')]);
      const follower = decideJoin(view(g, 'Stable'), { ...join, memberId: 'b' }, bounds, none, env);
      expect(follower).toEqual({ kind: 'current', memberId: 'b', events: [{ type: 'HEARTBEAT', memberId: 'b' }] });
      expect(decideJoin(view(g, 'Stable'), { ...join, memberId: 'a' }, bounds, none, env).kind).toBe('rebalance');
      const changed = { ...join, memberId: 'b', protocols: [{ name: 'range' }, { name: 'sticky' }] };
      expect(decideJoin(view(g, 'Stable'), changed, bounds, none, env).kind).toBe('rebalance');
      expect(errorName(() => decideJoin(view(g, 'Stable'), { ...join, memberId: 'x' }, bounds, none, env))).toBe(
        'UNKNOWN_MEMBER_ID',
      );
    });

    it('lets a static member back under a new id take its old place, rebalancing only if it changed (KIP-345)', () => {
      const g = group([member('a', 'i-1'), member('b')]);
      const back = decideJoin(view(g, 'Stable'), { ...join, groupInstanceId: 'i-1' }, bounds, none, env);
      expect(back.kind).toBe('current');
      if (back.kind !== 'current') return;
      expect(back.events).toMatchObject([
        { type: 'REPLACE_STATIC', oldMemberId: 'a', member: { memberId: back.memberId } },
      ]);
      const midRebalance = decideJoin(
        view(g, 'PreparingRebalance'),
        { ...join, groupInstanceId: 'i-1' },
        bounds,
        none,
        env,
      );
      expect(midRebalance.kind).toBe('rebalance');
      if (midRebalance.kind === 'rebalance')
        expect(midRebalance.events.map((e) => e.type)).toEqual(['REPLACE_STATIC', 'JOIN']);
      const fresh = decideJoin(view(g, 'Stable'), { ...join, groupInstanceId: 'i-2' }, bounds, none, env);
      expect(fresh.kind === 'rebalance' && fresh.events.map((e) => e.type)).toEqual(['JOIN']);
    });
  });

  it('answers a sync at once when stable, holds it otherwise, and passes on the leader assignment', () => {
    const g = group([member('a'), member('b')]);
    const sync = { groupId: 'g', memberId: 'b', generationId: 3, groupInstanceId: '', assignments: [] };
    expect(decideSync(view(g, 'Stable'), sync).response).toEqual({ assignment: new Uint8Array(0) });
    expect(decideSync(view(g, 'CompletingRebalance'), sync)).toEqual({
      events: [{ type: 'HEARTBEAT', memberId: 'b' }],
      response: null,
    });
    const leader = decideSync(view(g, 'CompletingRebalance'), {
      ...sync,
      memberId: 'a',
      assignments: [{ memberId: 'b', assignment: new Uint8Array([1]) }],
    });
    expect(leader.events[1]).toEqual({ type: 'SYNC_LEADER', assignments: { b: Buffer.from([1]) } });
    expect(errorName(() => decideSync(view(g, 'PreparingRebalance'), sync))).toBe('REBALANCE_IN_PROGRESS');
    expect(errorName(() => decideSync(absentGroup('g'), sync))).toBe('UNKNOWN_MEMBER_ID');
    expect(errorName(() => decideSync(view(g, 'Stable'), { ...sync, generationId: 2 }))).toBe('ILLEGAL_GENERATION');
  });

  it('tells a heartbeating member of a rebalance, and lets known members leave by id or instance', () => {
    const g = group([member('a', 'i-1'), member('b')]);
    const beat = { groupId: 'g', memberId: 'b', generationId: 3, groupInstanceId: '' };
    expect(decideHeartbeat(view(g, 'Stable'), beat).response).toEqual({});
    expect(decideHeartbeat(view(g, 'PreparingRebalance'), beat).response.errorCode).toBe(27);
    const leave = decideLeave(view(g, 'Stable'), {
      groupId: 'g',
      members: [{ groupInstanceId: 'i-1', reason: 'shutdown' }, { memberId: 'b' }, { memberId: 'x' }],
    });
    expect(leave.events).toEqual([
      { type: 'LEAVE', memberId: 'a' },
      { type: 'LEAVE', memberId: 'b' },
    ]);
    expect(leave.response.errorCode).toBe(25); // UNKNOWN_MEMBER_ID for the one not found
    expect(leave.response.members!.map((m) => [m.memberId || m.groupInstanceId, m.errorCode])).toEqual([
      ['i-1', 0],
      ['b', 0],
      ['x', 25],
    ]);
  });

  it('describes a group with the subscriptions of its protocol, and an absent one as Dead', () => {
    const g = group([member('a'), member('b')]);
    expect(describeGroup(view(g, 'Stable'))).toMatchObject({ state: 'Stable', generationId: 3, protocol: 'range' });
    expect(describeGroup(view(g, 'Stable')).members).toHaveLength(2);
    expect(describeGroup(absentGroup('g'))).toEqual({ groupId: 'g', state: 'Dead', members: [] });
    expect(joinResponse(g, 'a').members).toHaveLength(2);
    expect(joinResponse(g, 'b').members).toHaveLength(0);
  });

  it('fetches committed offsets (-1 for none), tombstones a removed group and expires only empty groups', () => {
    const committed = new Map([['t\u00001', { offset: 5, leaderEpoch: 2, metadata: 'm', commitTimestamp: 0 }]]);
    expect(offsetFetchResponse(committed, { groupId: 'g', topics: [] }).topics).toEqual([
      { name: 't', partitions: [{ partition: 1, offset: 5, leaderEpoch: 2, metadata: 'm' }] },
    ]);
    const asked = offsetFetchResponse(committed, {
      groupId: 'g',
      topics: [{ name: 't', partitions: [{ partition: 0 }] }],
    });
    expect(asked.topics![0]!.partitions![0]!.offset).toBe(-1);
    expect(groupRemovalRecords('g', committed.keys())).toEqual([
      { key: offsetKey('g', 't', 1), value: null },
      { key: groupKey('g'), value: null },
    ]);
    expect(offsetsExpired('Empty', 0, 100, 100)).toBe(true);
    expect(offsetsExpired('Empty', 0, 99, 100)).toBe(false);
    expect(offsetsExpired('Stable', 0, 1_000, 100)).toBe(false);
    expect(offsetsExpired('Empty', -1, 1_000, 100)).toBe(false);
  });
});

describe('offset deletion', () => {
  const subscribing = (memberId: string, topics: string[]): GroupMember => ({
    ...member(memberId),
    protocols: [{ name: 'range', metadata: encodeSubscription({ topics, ownedPartitions: [], generationId: 1 }) }],
  });

  it('tombstones committed offsets of topics the members do not consume, and refuses those they do (KIP-496)', () => {
    const committed = new Map([
      ['old\u00000', { offset: 5, leaderEpoch: 0, metadata: '', commitTimestamp: 0 }],
      ['live\u00000', { offset: 9, leaderEpoch: 0, metadata: '', commitTimestamp: 0 }],
    ]);
    const g = view(group([subscribing('a', ['live'])]), 'Stable');
    expect([...subscribedTopics(g)]).toEqual(['live']);
    const plan = planOffsetDelete(g, committed, {
      groupId: 'g',
      topics: [
        { name: 'old', partitions: [{ partition: 0 }, { partition: 1 }] },
        { name: 'live', partitions: [{ partition: 0 }] },
      ],
    });
    expect(plan.records).toEqual([{ key: offsetKey('g', 'old', 0), value: null }]);
    expect(plan.deleted).toEqual(['old\u00000']);
    expect(plan.response.topics!.map((t) => t.partitions!.map((p) => p.errorCode))).toEqual([[0, 0], [86]]);
    expect(errorName(() => planOffsetDelete(absentGroup('g'), new Map(), { groupId: 'g', topics: [] }))).toBe(
      'GROUP_ID_NOT_FOUND',
    );
  });
});
