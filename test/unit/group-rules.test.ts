import { describe, expect, it } from 'vitest';
import type { GroupContext, GroupMember } from '../../actors/consumer-group.js';
import {
  admitCommit,
  checkGeneration,
  checkJoinProtocol,
  checkJoinRequest,
  memberOf,
  planCommit,
} from '../../src/broker/group/group-rules.js';

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
    expect(errorName(() => admitCommit(g, 'Stable', commit))).toBeNull();
    expect(errorName(() => admitCommit(g, 'CompletingRebalance', commit))).toBe('REBALANCE_IN_PROGRESS');
    expect(errorName(() => admitCommit(g, 'Stable', { groupId: 'g', generationId: -1 }))).toBe('UNKNOWN_MEMBER_ID');
    expect(errorName(() => admitCommit(group([]), 'Empty', { groupId: 'g', generationId: -1 }))).toBeNull();
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
    expect(plan.response.topics![0]!.partitions!.map((p) => p.errorCode === 0)).toEqual([true, false]);
  });
});
