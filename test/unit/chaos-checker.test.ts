import { describe, expect, it } from 'vitest';
import { check, summarize, type History } from '../../src/chaos/checker.js';

function history(partial: Partial<History>): History {
  return { topic: 't', sends: [], polls: [], rebalances: [], commits: [], finalReads: [], ...partial };
}

const ok = (producer: string, value: number, partition: number, offset: number) => ({
  producer,
  value,
  partition,
  status: 'ok' as const,
  offset,
  time: value,
});

describe('history checker', () => {
  it('accepts a clean history', () => {
    const v = check(
      history({
        sends: [
          ok('p', 1, 0, 0),
          ok('p', 2, 0, 1),
          { producer: 'p', value: 3, partition: 0, status: 'unknown', time: 3 },
        ],
        polls: [
          { consumer: 'c', partition: 0, offset: 0, value: 1, time: 10 },
          { consumer: 'c', partition: 0, offset: 1, value: 2, time: 11 },
        ],
        commits: [
          { group: 'g', partition: 0, offset: 1, time: 10 },
          { group: 'g', partition: 0, offset: 2, time: 11 },
        ],
        finalReads: [
          [
            {
              partition: 0,
              records: [
                { offset: 0, value: 1 },
                { offset: 1, value: 2 },
              ],
            },
          ],
        ],
      }),
    );
    expect(v.valid).toBe(true);
    expect(v.counts).toMatchObject({ acknowledged: 2, unknown: 1, stored: 2, lost: 0 });
    expect(summarize(v)).toMatch(/^VALID/);
  });

  it('finds lost writes, duplicates, order violations and inconsistent offsets', () => {
    const v = check(
      history({
        sends: [ok('p', 1, 0, 0), ok('p', 2, 0, 1), ok('p', 3, 0, 2), ok('p', 4, 0, 3)],
        finalReads: [
          [
            {
              partition: 0,
              records: [
                { offset: 0, value: 1 },
                { offset: 1, value: 3 },
                { offset: 2, value: 2 },
                { offset: 3, value: 2 },
              ],
            },
          ],
        ],
      }),
    );
    expect(v.valid).toBe(false);
    expect(v.counts).toMatchObject({ lost: 1, duplicates: 1, orderViolations: 2 });
    expect(v.counts.inconsistentOffsets).toBeGreaterThan(0);
    expect(v.examples.lost).toEqual([ok('p', 4, 0, 3)]);
    expect(summarize(v)).toMatch(/INVALID[\s\S]*lost: 1/);
  });

  it('tells offsets going back in a consumer apart from a rebalance, and finds commits going back', () => {
    const polls = [
      { consumer: 'c', partition: 0, offset: 5, value: 5, time: 1 },
      { consumer: 'c', partition: 0, offset: 3, value: 3, time: 2 },
      { consumer: 'd', partition: 0, offset: 5, value: 5, time: 1 },
      { consumer: 'd', partition: 0, offset: 3, value: 3, time: 3 },
    ];
    const v = check(
      history({
        polls,
        rebalances: [{ consumer: 'd', time: 2 }],
        commits: [
          { group: 'g', partition: 0, offset: 6, time: 1 },
          { group: 'g', partition: 0, offset: 4, time: 2 },
        ],
      }),
    );
    expect(v.counts.nonMonotonicReads).toBe(1);
    expect(v.examples.nonMonotonicReads).toEqual([{ consumer: 'c', partition: 0, from: 5, to: 3 }]);
    expect(v.counts.committedOffsetsBack).toBe(1);
  });

  it('finds acknowledged records no consumer ever polled', () => {
    const v = check(
      history({
        sends: [ok('p', 1, 0, 0), ok('p', 2, 0, 1)],
        polls: [{ consumer: 'c', partition: 0, offset: 0, value: 1, time: 5 }],
        finalReads: [
          [
            {
              partition: 0,
              records: [
                { offset: 0, value: 1 },
                { offset: 1, value: 2 },
              ],
            },
          ],
        ],
      }),
    );
    expect(v.counts.neverSeen).toBe(1);
    expect(v.counts.lost).toBe(0);
  });
});
