import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor } from 'xstate';
import {
  consumerGroupMachine,
  selectProtocol,
  type GroupContext,
  type GroupMember,
  type JoiningMember,
} from '../../../actors/consumer-group.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function member(memberId: string, extra: Partial<JoiningMember> = {}): JoiningMember {
  return {
    memberId,
    groupInstanceId: null,
    clientId: 'c',
    sessionTimeoutMs: 1_000,
    rebalanceTimeoutMs: 5_000,
    protocols: [{ name: 'range', metadata: bytes(memberId) }],
    ...extra,
  };
}

function group(initialRebalanceDelayMs = 100) {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  let last: GroupContext | null = null;
  const record =
    (name: string) =>
    ({ context }: { context: GroupContext }): void => {
      calls.push(name);
      last = context;
    };
  const actor = createActor(
    consumerGroupMachine.provide({
      actions: {
        joinCompleted: record('joinCompleted'),
        syncCompleted: record('syncCompleted'),
        membersRemoved: record('membersRemoved'),
        rebalanceStarted: record('rebalanceStarted'),
        persist: record('persist'),
      },
    }),
    { input: { groupId: 'g', initialRebalanceDelayMs }, clock },
  ).start();
  const join = (m: JoiningMember) => actor.send({ type: 'JOIN', member: m, protocolType: 'consumer' });
  return { actor, clock, calls, join, last: () => last, state: () => actor.getSnapshot().value };
}

describe('consumer group', () => {
  it('waits the initial delay for members, then completes the join and the leader syncs', () => {
    const g = group();
    g.join(member('a'));
    expect(g.state()).toBe('PreparingRebalance');
    g.join(member('b'));
    g.clock.increment(99);
    expect(g.state()).toBe('PreparingRebalance');
    g.clock.increment(1);
    expect(g.state()).toBe('CompletingRebalance');
    const ctx = g.actor.getSnapshot().context;
    expect([ctx.generation, ctx.leader, ctx.protocol, ctx.protocolType]).toEqual([1, 'a', 'range', 'consumer']);
    expect(g.calls).toEqual(['rebalanceStarted', 'joinCompleted']);
    g.actor.send({ type: 'SYNC_LEADER', assignments: { a: bytes('p0'), b: bytes('p1') } });
    expect(g.state()).toBe('Stable');
    expect(g.calls.slice(-2)).toEqual(['syncCompleted', 'persist']);
    expect(g.last()!.members.b!.assignment).toEqual(bytes('p1'));
  });

  it('removes a member whose session runs out and rebalances the rest', () => {
    const g = group(0);
    g.join(member('a'));
    g.join(member('b'));
    // With no initial delay the first member completes the join alone; b's join starts another.
    g.actor.send({ type: 'SYNC_LEADER', assignments: {} });
    g.join(member('a'));
    expect(g.state()).toBe('CompletingRebalance');
    g.actor.send({ type: 'SYNC_LEADER', assignments: {} });
    expect(g.state()).toBe('Stable');
    for (let t = 0; t < 5; t++) {
      g.clock.increment(400);
      g.actor.send({ type: 'HEARTBEAT', memberId: 'a' });
    }
    expect(g.state()).toBe('PreparingRebalance');
    expect(Object.keys(g.actor.getSnapshot().context.members)).toEqual(['a']);
    expect(g.calls).toContain('membersRemoved');
    g.join(member('a'));
    expect(g.state()).toBe('CompletingRebalance');
  });

  it('drops members that do not rejoin within the rebalance timeout', () => {
    const g = group(0);
    const long = { sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 2_000 };
    g.join(member('a', long));
    g.join(member('b', long));
    g.actor.send({ type: 'SYNC_LEADER', assignments: {} });
    g.join(member('a', long));
    g.actor.send({ type: 'SYNC_LEADER', assignments: {} });
    // c arrives: a rejoins, b (alive, but busy) does not.
    g.join(member('c', long));
    g.join(member('a', long));
    g.clock.increment(1_999);
    expect(g.state()).toBe('PreparingRebalance');
    g.clock.increment(1);
    expect(g.state()).toBe('CompletingRebalance');
    expect(Object.keys(g.actor.getSnapshot().context.members).sort()).toEqual(['a', 'c']);
    expect(g.calls).toContain('membersRemoved');
  });

  it('lets a static member come back under a new id with its assignment and no rebalance', () => {
    const g = group(0);
    g.join(member('a', { groupInstanceId: 'i-a' }));
    g.actor.send({ type: 'SYNC_LEADER', assignments: { a: bytes('p0,p1') } });
    g.actor.send({ type: 'REPLACE_STATIC', oldMemberId: 'a', member: member('a2', { groupInstanceId: 'i-a' }) });
    const ctx = g.actor.getSnapshot().context;
    expect(g.state()).toBe('Stable');
    expect(Object.keys(ctx.members)).toEqual(['a2']);
    expect(ctx.members.a2!.assignment).toEqual(bytes('p0,p1'));
    expect(ctx.leader).toBe('a2');
    expect(g.calls.filter((c) => c === 'rebalanceStarted')).toHaveLength(1);
  });

  it('goes back to Empty when the last member leaves, and to Dead when deleted', () => {
    const g = group(0);
    g.join(member('a'));
    g.actor.send({ type: 'SYNC_LEADER', assignments: {} });
    g.actor.send({ type: 'LEAVE', memberId: 'a' });
    expect(g.state()).toBe('Empty');
    g.actor.send({ type: 'DELETE' });
    expect(g.state()).toBe('Dead');
  });

  it('restores a persisted group as Stable with its members', () => {
    const g = group();
    const m: GroupMember = { ...member('a'), assignment: bytes('p0'), joined: true };
    g.actor.send({
      type: 'RESTORE',
      generation: 7,
      protocolType: 'consumer',
      protocol: 'range',
      leader: 'a',
      members: [m],
    });
    expect(g.state()).toBe('Stable');
    expect(g.actor.getSnapshot().context.generation).toBe(7);
    g.clock.increment(1_000);
    expect(g.state()).toBe('Empty');
  });

  it('chooses the protocol every member supports that most prefer', () => {
    const m = (names: string[]): GroupMember => ({
      ...member('x'),
      protocols: names.map((name) => ({ name, metadata: new Uint8Array() })),
      assignment: new Uint8Array(),
      joined: true,
    });
    expect(selectProtocol([m(['cooperative-sticky', 'range']), m(['range']), m(['cooperative-sticky', 'range'])])).toBe(
      'range',
    );
    expect(selectProtocol([m(['cooperative-sticky', 'range']), m(['cooperative-sticky', 'range'])])).toBe(
      'cooperative-sticky',
    );
    expect(selectProtocol([m(['a']), m(['b'])])).toBeNull();
  });
});
