import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignReplicas, rackAlternatedBrokers } from '../../../src/cluster/assignment.js';

const fixed = (v: number) => () => v;

describe('replica assignment', () => {
  it('matches Kafka for 5 brokers, 10 partitions, RF 3 (start index 0, shift 0)', () => {
    const brokers = [0, 1, 2, 3, 4].map((id) => ({ id, rack: null }));
    // Kafka's AdminUtils javadoc example: brokers 0-4, 10 partitions, 3 replicas.
    expect(assignReplicas(brokers, 10, 3, 0, fixed(0))).toEqual([
      [0, 1, 2],
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 0],
      [4, 0, 1],
      [0, 2, 3],
      [1, 3, 4],
      [2, 4, 0],
      [3, 0, 1],
      [4, 1, 2],
    ]);
  });

  it('alternates racks in the broker list', () => {
    const brokers = [
      { id: 0, rack: 'a' },
      { id: 1, rack: 'a' },
      { id: 2, rack: 'b' },
      { id: 3, rack: 'c' },
      { id: 4, rack: 'c' },
      { id: 5, rack: 'b' },
    ];
    expect(rackAlternatedBrokers(brokers)).toEqual([0, 2, 3, 1, 5, 4]);
  });

  it('puts replicas on distinct brokers and, with racks, on as many racks as it can', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.boolean(),
        (n, racks, partitions, seed, withRacks) => {
          const brokers = Array.from({ length: n }, (_, i) => ({
            id: i * 10,
            rack: withRacks ? `r${i % racks}` : null,
          }));
          const rf = 1 + (seed % n);
          const assignment = assignReplicas(brokers, partitions, rf, 0, (bound) => seed % bound);
          for (const replicas of assignment) {
            expect(new Set(replicas).size).toBe(rf);
            if (withRacks) {
              const used = new Set(replicas.map((id) => brokers.find((b) => b.id === id)!.rack));
              expect(used.size).toBe(Math.min(rf, Math.min(racks, n)));
            }
          }
          // Leaders spread evenly: no broker leads more than ceil(partitions / n).
          const leads = new Map<number, number>();
          for (const r of assignment) leads.set(r[0]!, (leads.get(r[0]!) ?? 0) + 1);
          expect(Math.max(...leads.values())).toBeLessThanOrEqual(Math.ceil(partitions / n));
        },
      ),
    );
  });

  it('refuses a replication factor above the live brokers', () => {
    expect(() => assignReplicas([{ id: 1, rack: null }], 3, 2)).toThrow(/INVALID_REPLICATION_FACTOR/);
    expect(() => assignReplicas([{ id: 1, rack: null }], 0, 1)).toThrow(/INVALID_PARTITIONS/);
  });
});
