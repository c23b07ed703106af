import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTROL_MASK, TRANSACTIONAL_MASK, newBatchHeader } from '../../../protocol/records/index.js';
import {
  TXN_INDEX_ENTRY_BYTES,
  TransactionTracker,
  decodeTxnIndex,
  encodeTxnIndexEntry,
} from '../../../src/storage/txn-tracker.js';

const data = (producerId: number, baseOffset: number, count = 1, transactional = true) => ({
  ...newBatchHeader(),
  producerId,
  baseOffset,
  lastOffsetDelta: count - 1,
  attributes: transactional ? TRANSACTIONAL_MASK : 0,
});

describe('a partition’s transactions', () => {
  it('holds the last stable offset at the first open transaction, and remembers aborts for read_committed', () => {
    const t = new TransactionTracker();
    t.onBatch(data(7, 0, 3)); // producer 7 opens at 0
    t.onBatch(data(9, 3, 2, false)); // not transactional: no effect
    t.onBatch(data(8, 5, 2)); // producer 8 opens at 5
    t.onBatch(data(7, 7, 1)); // still 7's transaction, opened at 0
    expect(t.lastStableOffset(8)).toBe(0);
    expect(t.onMarker(7, 'COMMIT', 8)).toBeNull();
    expect(t.lastStableOffset(9)).toBe(5);
    // The high watermark bounds it too.
    expect(t.lastStableOffset(4)).toBe(4);
    expect(t.onMarker(8, 'ABORT', 9)).toEqual({ producerId: 8, firstOffset: 5, lastOffset: 9, lastStableOffset: 10 });
    expect(t.lastStableOffset(10)).toBe(10);
    expect(t.abortedIn(0, 10)).toEqual([{ producerId: 8, firstOffset: 5, lastOffset: 9, lastStableOffset: 10 }]);
    expect(t.abortedIn(10, 20)).toEqual([]);
    expect(t.abortedIn(0, 5)).toEqual([]);
    // A control batch is not data, and a marker with nothing open is ignored.
    t.onBatch({ ...data(8, 10), attributes: TRANSACTIONAL_MASK | CONTROL_MASK });
    expect(t.firstUnstableOffset()).toBeNull();
    expect(t.onMarker(8, 'ABORT', 10)).toBeNull();
  });

  it('forgets what truncation removes, and what lies below the log start', () => {
    const t = new TransactionTracker();
    t.onBatch(data(1, 0));
    t.onMarker(1, 'ABORT', 1);
    t.onBatch(data(2, 2));
    t.onBatch(data(3, 3));
    t.onMarker(3, 'ABORT', 4);
    t.truncateTo(3);
    expect(t.firstUnstableOffset()).toBe(2);
    expect(t.abortedIn(0, 10).map((a) => a.producerId)).toEqual([1]);
    t.dropBefore(2);
    expect(t.abortedIn(0, 10)).toEqual([]);
    t.restore([[5, 40]], [{ producerId: 4, firstOffset: 10, lastOffset: 20, lastStableOffset: 21 }]);
    expect(t.lastStableOffset(100)).toBe(40);
    expect(t.abortedIn(15, 16)).toHaveLength(1);
  });

  it('never puts the last stable offset above the high watermark or an open transaction', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ producer: fc.integer({ min: 1, max: 4 }), marker: fc.constantFrom(null, 'COMMIT', 'ABORT') }),
          {
            maxLength: 60,
          },
        ),
        fc.integer({ min: 0, max: 60 }),
        (steps, hwmBack) => {
          const t = new TransactionTracker();
          const open = new Map<number, number>();
          steps.forEach((s, offset) => {
            if (s.marker === null) {
              t.onBatch(data(s.producer, offset));
              if (!open.has(s.producer)) open.set(s.producer, offset);
            } else {
              t.onMarker(s.producer, s.marker as 'COMMIT' | 'ABORT', offset);
              open.delete(s.producer);
            }
          });
          const hwm = Math.max(0, steps.length - hwmBack);
          const lso = t.lastStableOffset(hwm);
          expect(lso).toBeLessThanOrEqual(hwm);
          for (const first of open.values()) expect(lso).toBeLessThanOrEqual(first);
          expect(lso).toBe(Math.min(hwm, ...open.values()));
        },
      ),
    );
  });

  it('writes and reads Kafka’s .txnindex entries, leaving out a torn last one', () => {
    const entries = [
      { producerId: 1, firstOffset: 0, lastOffset: 9, lastStableOffset: 10 },
      { producerId: 2 ** 40, firstOffset: 2 ** 35, lastOffset: 2 ** 35 + 7, lastStableOffset: 2 ** 35 + 8 },
    ];
    const file = Buffer.concat(entries.map(encodeTxnIndexEntry));
    expect(file.length).toBe(2 * TXN_INDEX_ENTRY_BYTES);
    expect(decodeTxnIndex(file)).toEqual(entries);
    expect(decodeTxnIndex(file.subarray(0, file.length - 5))).toEqual(entries.slice(0, 1));
  });
});
