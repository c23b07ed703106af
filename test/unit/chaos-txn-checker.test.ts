import { describe, expect, it } from 'vitest';
import { checkTransactions, type TxnHistory, type TxnRecord } from '../../src/chaos/txn-checker.js';

const txn = (values: number[], outcome: TxnRecord['outcome'], commitAt: number | null = 100): TxnRecord => ({
  writer: 'w0',
  values,
  partitions: values.map((_, i) => i),
  outcome,
  commitAt,
});

const history = (h: Partial<TxnHistory>): TxnHistory => ({ txns: [], polls: [], finalRead: [], copy: null, ...h });

describe('the transaction checker', () => {
  it('accepts a history where committed transactions are whole and aborted ones absent', () => {
    const v = checkTransactions(
      history({
        txns: [txn([1, 2, 3], 'committed'), txn([4, 5], 'aborted', null), txn([6, 7], 'unknown')],
        polls: [{ value: 1, partition: 0, time: 150 }],
        finalRead: [
          { partition: 0, values: [1] },
          { partition: 1, values: [2] },
          { partition: 2, values: [3] },
        ],
        copy: { input: [{ partition: 0, values: [10, 11] }], output: [{ partition: 0, values: [10, 11] }] },
      }),
    );
    expect(v.examples).toEqual({});
    expect(v.valid).toBe(true);
    expect(v.counts).toMatchObject({ committed: 1, aborted: 1, unknown: 1, visibleRecords: 3, copied: 2 });
  });

  it('finds partial transactions, lost commits, aborted and open reads, and duplicates', () => {
    const v = checkTransactions(
      history({
        txns: [txn([1, 2], 'committed'), txn([3, 4], 'aborted', null), txn([5, 6], 'unknown', 500)],
        polls: [
          { value: 3, partition: 0, time: 50 },
          { value: 5, partition: 0, time: 400 },
        ],
        finalRead: [
          { partition: 0, values: [1, 5, 5] },
          { partition: 1, values: [4] },
        ],
      }),
    );
    expect(v.valid).toBe(false);
    expect(v.counts).toMatchObject({ partial: 3, lostCommits: 1, abortedReads: 2, openReads: 1, duplicates: 1 });
  });

  it('finds a copy pipeline that lost, repeated or invented records', () => {
    const v = checkTransactions(
      history({
        copy: {
          input: [{ partition: 0, values: [1, 2, 3] }],
          output: [{ partition: 0, values: [1, 1, 3, 9] }],
        },
      }),
    );
    expect(v.counts).toMatchObject({ copyMissing: 1, copyDuplicates: 1, copyExtra: 1 });
    expect(v.valid).toBe(false);
  });
});
