import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignTasks,
  decodeAssignmentInfo,
  decodeSubscriptionInfo,
  partitionsOfTask,
  streamsAssignor,
  type StreamsAssignmentInfo,
  type TaskMember,
} from '../../../src/streams/assignor.js';
import type { AssignmentWithData, AssignorMember } from '../../../src/client/index.js';

const member = (
  memberId: string,
  activeBefore: number[] = [],
  stateful: number[] = [],
  generation = 1,
): TaskMember => ({
  memberId,
  sortKey: memberId,
  activeBefore,
  generation,
  stateful,
});

describe('assignTasks', () => {
  it('deals tasks evenly to new members', () => {
    const out = assignTasks([member('a'), member('b'), member('c')], 7, 0);
    const counts = [...out.values()].map((a) => a.active.length).sort();
    expect(counts).toEqual([2, 2, 3]);
    expect([...out.values()].flatMap((a) => a.active).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('keeps tasks with their owners and holds back a task that moves until its owner revokes it', () => {
    // a ran everything; b joins: two tasks move, first revoked by a (pending for b).
    const out = assignTasks([member('a', [0, 1, 2, 3]), member('b')], 4, 0);
    expect(out.get('a')).toEqual({ active: [0, 1], pending: [], standby: [] });
    expect(out.get('b')).toEqual({ active: [], pending: [2, 3], standby: [] });
    // The follow-up round: a revoked them, so b gets them now.
    const next = assignTasks([member('a', [0, 1]), member('b')], 4, 0);
    expect(next.get('b')!.active).toEqual([2, 3]);
  });

  it('gives a task two members claim to the claim of the newer generation', () => {
    // a fell out of the group and rejoins still claiming task 0, which b ran since.
    const out = assignTasks([member('a', [0, 1], [], 3), member('b', [0], [], 5)], 2, 0);
    expect(out.get('b')!.active).toEqual([0]);
    expect(out.get('a')!.active).toEqual([1]);
  });

  it('gives an orphaned task to a least-loaded member that has its state', () => {
    // c left; its task 2 has a standby on b.
    const out = assignTasks([member('a', [0]), member('b', [1], [2])], 3, 0);
    expect(out.get('b')!.active).toEqual([1, 2]);
    expect(out.get('a')!.active).toEqual([0]);
  });

  it('places standbys on other members, those with the state first', () => {
    const out = assignTasks([member('a', [0]), member('b', [1]), member('c', [], [0])], 2, 1);
    expect(out.get('c')!.standby).toContain(0);
    for (const [id, a] of out) for (const t of a.standby) expect(out.get(id)!.active).not.toContain(t);
  });

  it('holds its invariants for any members, tasks and history', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 20 }),
        (memberCount, taskCount, standbys, history) => {
          const members = Array.from({ length: memberCount }, (_, i) =>
            member(
              `m${i}`,
              history.flatMap((owner, task) => (owner === i && task < taskCount ? [task] : [])),
            ),
          );
          const out = assignTasks(members, taskCount, standbys);
          const intended = [...out.values()].map((a) => [...a.active, ...a.pending]);
          // Every task once, balanced within one.
          expect(intended.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: taskCount }, (_, t) => t));
          const sizes = intended.map((ts) => ts.length);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
          for (const [id, a] of out) {
            // Pending only for a task another live member ran.
            for (const t of a.pending) expect(members.find((m) => m.activeBefore.includes(t))!.memberId).not.toBe(id);
            // Standbys: distinct, never the task's active member, as many as there are other members.
            expect(new Set(a.standby).size).toBe(a.standby.length);
            for (const t of a.standby) expect([...a.active, ...a.pending]).not.toContain(t);
          }
          for (let t = 0; t < taskCount; t++) {
            const replicas = [...out.values()].filter((a) => a.standby.includes(t)).length;
            expect(replicas).toBe(Math.min(standbys, memberCount - 1));
          }
        },
      ),
    );
  });
});

describe('streamsAssignor', () => {
  const counts = new Map([
    ['left', 3],
    ['right', 3],
    ['small', 1],
  ]);
  const sub = (memberId: string, userData: Buffer | null): AssignorMember => ({
    memberId,
    groupInstanceId: null,
    topics: [...counts.keys()],
    owned: [],
    generation: -1,
    userData,
  });

  it('assigns each task as partition p of every source topic, with endpoints for discovery', () => {
    const assignor = streamsAssignor(
      1,
      () => ({ processId: 'p', endpoint: null, stateful: [] }),
      () => undefined,
    );
    const info = (endpoint: string) => Buffer.from(JSON.stringify({ processId: endpoint, endpoint, stateful: [] }));
    const result = assignor.assign([sub('a', info('a:1')), sub('b', info('b:2'))], counts) as AssignmentWithData;
    const all = [...result.assignment.values()].flat();
    expect(all).toHaveLength(7);
    for (const tps of result.assignment.values()) {
      const tasks = new Set(tps.map((tp) => tp.partition));
      for (const t of tasks) expect(tps.filter((tp) => tp.partition === t).length).toBe(t === 0 ? 3 : 2);
    }
    const a = decodeAssignmentInfo(result.userData.get('a')!);
    expect(a.hosts.map((h) => h.endpoint).sort()).toEqual(['a:1', 'b:2']);
    expect([...a.active, ...a.standby].sort()).toEqual([0, 1, 2]);
  });

  it('hands the member its info when the assignment arrives', () => {
    let got: StreamsAssignmentInfo | null = null;
    const assignor = streamsAssignor(
      0,
      () => ({ processId: 'p', endpoint: 'h:1', stateful: [4] }),
      (i) => (got = i),
    );
    expect(JSON.parse(assignor.subscriptionUserData!()!.toString())).toEqual({
      processId: 'p',
      endpoint: 'h:1',
      stateful: [4],
    });
    assignor.onAssignment!([], Buffer.from(JSON.stringify({ active: [1], standby: [2], hosts: [] })));
    expect(got).toEqual({ active: [1], standby: [2], hosts: [] });
  });

  it('reads a member that sent nothing or garbage as holding no state', () => {
    expect(decodeSubscriptionInfo(sub('x', null))).toEqual({ processId: 'x', endpoint: null, stateful: [] });
    expect(decodeSubscriptionInfo(sub('x', Buffer.from('{nope')))).toEqual({
      processId: 'x',
      endpoint: null,
      stateful: [],
    });
    expect(decodeAssignmentInfo(Buffer.from('[1]'))).toEqual({ active: [], standby: [], hosts: [] });
    expect(partitionsOfTask(2, counts)).toEqual([
      { topic: 'left', partition: 2 },
      { topic: 'right', partition: 2 },
    ]);
  });
});
