import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cooperativeStickyAssignor,
  rangeAssignor,
  roundRobinAssignor,
  type AssignorMember,
  type TopicPartition,
} from '../../src/client/assignors.js';

const member = (memberId: string, topics: string[], owned: TopicPartition[] = [], generation = 1): AssignorMember => ({
  memberId,
  groupInstanceId: null,
  topics,
  owned,
  generation,
  userData: null,
});
const names = (tps: TopicPartition[] | undefined): string[] => (tps ?? []).map((tp) => `${tp.topic}-${tp.partition}`);

describe('assignors', () => {
  it('range gives consecutive ranges per topic, the first members one more', () => {
    const a = rangeAssignor.assign([member('b', ['t']), member('a', ['t'])], new Map([['t', 5]]));
    expect(names(a.get('a'))).toEqual(['t-0', 't-1', 't-2']);
    expect(names(a.get('b'))).toEqual(['t-3', 't-4']);
  });

  it('roundrobin deals partitions across members, skipping those not subscribed', () => {
    const a = roundRobinAssignor.assign(
      [member('a', ['t', 'u']), member('b', ['t'])],
      new Map([
        ['t', 3],
        ['u', 2],
      ]),
    );
    expect(names(a.get('a'))).toEqual(['t-0', 't-2', 'u-0', 'u-1']);
    expect(names(a.get('b'))).toEqual(['t-1']);
  });

  it('cooperative-sticky: twelve partitions over three members, four each', () => {
    const a = cooperativeStickyAssignor.assign(
      [member('a', ['t']), member('b', ['t']), member('c', ['t'])],
      new Map([['t', 12]]),
    );
    expect([...a.values()].map((tps) => tps.length)).toEqual([4, 4, 4]);
  });

  it('cooperative-sticky: a new member takes partitions only after their owners revoke them', () => {
    const all = Array.from({ length: 6 }, (_, partition) => ({ topic: 't', partition }));
    const first = cooperativeStickyAssignor.assign(
      [member('a', ['t'], all.slice(0, 3)), member('b', ['t'], all.slice(3)), member('c', ['t'])],
      new Map([['t', 6]]),
    );
    // a and b keep two each; the partitions they give up are assigned to nobody in this round.
    expect(first.get('a')!.length).toBe(2);
    expect(first.get('b')!.length).toBe(2);
    expect(first.get('c')).toEqual([]);
    const second = cooperativeStickyAssignor.assign(
      [member('a', ['t'], first.get('a')!, 2), member('b', ['t'], first.get('b')!, 2), member('c', ['t'], [], 2)],
      new Map([['t', 6]]),
    );
    expect(second.get('a')).toEqual(first.get('a'));
    expect(second.get('b')).toEqual(first.get('b'));
    expect(second.get('c')!.length).toBe(2);
  });

  it('cooperative-sticky: partitions of a departed member go straight to the others', () => {
    const all = Array.from({ length: 6 }, (_, partition) => ({ topic: 't', partition }));
    const a = cooperativeStickyAssignor.assign(
      [member('a', ['t'], all.slice(0, 2)), member('b', ['t'], all.slice(2, 4))],
      new Map([['t', 6]]),
    );
    expect(names(a.get('a'))).toEqual(['t-0', 't-1', 't-4']);
    expect(names(a.get('b'))).toEqual(['t-2', 't-3', 't-5']);
  });

  it('every assignor assigns each partition at most once, only to subscribers, and balanced when subscriptions match', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 30 }), fc.integer(), (m, n, seed) => {
        const members = Array.from({ length: m }, (_, i) => member(`m${(i * 7 + seed) % 97}-${i}`, ['t']));
        for (const assignor of [rangeAssignor, roundRobinAssignor, cooperativeStickyAssignor]) {
          const a = assignor.assign(members, new Map([['t', n]]));
          const assigned = [...a.values()].flat().map((tp) => tp.partition);
          expect(new Set(assigned).size).toBe(assigned.length);
          expect(assigned.length).toBe(n);
          const sizes = [...a.values()].map((tps) => tps.length);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        }
      }),
    );
  });
});
