import { describe, expect, it } from 'vitest';
import {
  MAX_EPOCH,
  abortExpired,
  addPartitions,
  completeTransaction,
  endTxn,
  expiredIds,
  expiredTransactions,
  initProducerId,
  isInTransaction,
  transactionStatePartition,
  type Decision,
  type TxnMetadata,
} from '../../../src/broker/txn/txn-rules.js';

/** A coordinator's view of one transactional id over simulated time: applies what decisions write. */
class Coordinator {
  meta: TxnMetadata | undefined;
  now = 1_000;
  private nextId = 1000;
  readonly allocate = () => this.nextId++;

  apply<R>(d: Decision<R>): R {
    if (d.write) this.meta = d.write;
    if (d.reply instanceof Error) throw d.reply;
    return d.reply;
  }
  init(timeoutMs = 60_000, producerId = -1, producerEpoch = -1) {
    return this.apply(
      initProducerId(
        this.meta,
        { transactionalId: 'tx', txnTimeoutMs: timeoutMs, producerId, producerEpoch },
        this.now,
        this.allocate,
      ),
    );
  }
  /** The shell's marker step: markers written, the transaction completes. */
  markersWritten() {
    this.meta = completeTransaction(this.meta!, this.now);
  }
}

const tp = (topic: string, partition: number) => ({ topic, partition });

describe('the transaction coordinator’s decisions', () => {
  it('runs a transaction: init, add partitions, commit with the epoch bumped, markers, then the next one', () => {
    const c = new Coordinator();
    const { producerId, producerEpoch } = c.init();
    expect([producerId, producerEpoch]).toEqual([1000, 0]);
    expect(c.meta!.state).toBe('Empty');
    c.apply(addPartitions(c.meta, producerId, 0, [tp('b', 1), tp('a', 0)], c.now));
    c.apply(addPartitions(c.meta, producerId, 0, [tp('a', 0)], c.now + 5));
    expect(c.meta).toMatchObject({ state: 'Ongoing', partitions: [tp('a', 0), tp('b', 1)], txnStartTimestamp: 1_000 });
    expect(isInTransaction(c.meta, producerId, 0, tp('a', 0))).toBe(true);
    // KIP-890: data for a partition not added is refused by the leader's verification.
    expect(isInTransaction(c.meta, producerId, 0, tp('c', 0))).toBe(false);
    const end = endTxn(c.meta, producerId, 0, true, c.now);
    expect(end.markers).toEqual({ commit: true, partitions: [tp('a', 0), tp('b', 1)], producerId, producerEpoch: 1 });
    expect(c.apply(end)).toEqual({ producerId, producerEpoch: 1 });
    expect(c.meta!.state).toBe('PrepareCommit');
    // While markers are written, the transaction cannot change.
    expect(() => addPartitions(c.meta, producerId, 1, [tp('a', 0)], c.now)).toThrow(
      expect.objectContaining({ errorName: 'CONCURRENT_TRANSACTIONS', retriable: true }),
    );
    c.markersWritten();
    expect(c.meta).toMatchObject({ state: 'CompleteCommit', partitions: [], txnStartTimestamp: -1 });
    // The producer's old epoch is fenced now: a late write of the ended transaction cannot land.
    expect(() => addPartitions(c.meta, producerId, 0, [tp('a', 0)], c.now)).toThrow(
      expect.objectContaining({ errorName: 'PRODUCER_FENCED' }),
    );
    c.apply(addPartitions(c.meta, producerId, 1, [tp('a', 0)], c.now));
    expect(c.meta!.state).toBe('Ongoing');
  });

  it('answers a retried EndTxn as it did, and refuses the other outcome', () => {
    const c = new Coordinator();
    const { producerId } = c.init();
    c.apply(addPartitions(c.meta, producerId, 0, [tp('a', 0)], c.now));
    c.apply(endTxn(c.meta, producerId, 0, false, c.now));
    // The reply was lost: the producer retries with its old epoch.
    expect(c.apply(endTxn(c.meta, producerId, 0, false, c.now))).toEqual({ producerId, producerEpoch: 1 });
    c.markersWritten();
    expect(c.apply(endTxn(c.meta, producerId, 0, false, c.now))).toEqual({ producerId, producerEpoch: 1 });
    expect(() => endTxn(c.meta, producerId, 0, true, c.now)).toThrow(
      expect.objectContaining({ errorName: 'INVALID_TXN_STATE' }),
    );
    // Once the next transaction began, the old epoch is only a fenced producer.
    c.apply(addPartitions(c.meta, producerId, 1, [tp('b', 0)], c.now));
    expect(() => endTxn(c.meta, producerId, 0, false, c.now)).toThrow(
      expect.objectContaining({ errorName: 'PRODUCER_FENCED' }),
    );
  });

  it('keeps the epoch for clients before KIP-890 (EndTxn without an epoch bump), retries included', () => {
    const c = new Coordinator();
    const { producerId } = c.init();
    c.apply(addPartitions(c.meta, producerId, 0, [tp('a', 0)], c.now));
    const end = endTxn(c.meta, producerId, 0, true, c.now, false);
    expect(end.markers).toMatchObject({ commit: true, producerEpoch: 0 });
    expect(c.apply(end)).toEqual({ producerId, producerEpoch: 0 });
    expect(() => endTxn(c.meta, producerId, 0, true, c.now, false)).toThrow(
      expect.objectContaining({ errorName: 'CONCURRENT_TRANSACTIONS' }),
    );
    c.markersWritten();
    expect(c.apply(endTxn(c.meta, producerId, 0, true, c.now, false))).toEqual({ producerId, producerEpoch: 0 });
    expect(() => endTxn(c.meta, producerId, 0, false, c.now, false)).toThrow(
      expect.objectContaining({ errorName: 'INVALID_TXN_STATE' }),
    );
    c.apply(addPartitions(c.meta, producerId, 0, [tp('b', 0)], c.now));
    expect(c.meta!.state).toBe('Ongoing');
  });

  it('fences the previous producer of a transactional id, aborting its open transaction first', () => {
    const c = new Coordinator();
    const first = c.init();
    c.apply(addPartitions(c.meta, first.producerId, 0, [tp('a', 0), tp('a', 1)], c.now));
    // A new instance of the application starts with the same transactional id.
    const fencing = initProducerId(
      c.meta,
      { transactionalId: 'tx', txnTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 },
      c.now,
      c.allocate,
    );
    expect(fencing.markers).toEqual({
      commit: false,
      partitions: [tp('a', 0), tp('a', 1)],
      producerId: first.producerId,
      producerEpoch: 1,
    });
    expect(() => c.apply(fencing)).toThrow(expect.objectContaining({ errorName: 'CONCURRENT_TRANSACTIONS' }));
    expect(c.meta!.state).toBe('PrepareAbort');
    expect(() => c.init()).toThrow(expect.objectContaining({ errorName: 'CONCURRENT_TRANSACTIONS' }));
    c.markersWritten();
    const second = c.init();
    expect(second).toEqual({ producerId: first.producerId, producerEpoch: 2 });
    // The first producer is fenced for good.
    expect(() => endTxn(c.meta, first.producerId, 0, true, c.now)).toThrow(
      expect.objectContaining({ errorName: 'PRODUCER_FENCED' }),
    );
    expect(() => addPartitions(c.meta, first.producerId, 0, [tp('a', 0)], c.now)).toThrow(
      expect.objectContaining({ errorName: 'PRODUCER_FENCED' }),
    );
  });

  it('aborts a transaction open past its timeout on the simulated clock, fencing its producer', () => {
    const c = new Coordinator();
    const { producerId } = c.init(10_000);
    c.apply(addPartitions(c.meta, producerId, 0, [tp('a', 0)], c.now));
    c.now += 10_000;
    expect(expiredTransactions([c.meta!], c.now)).toEqual([]);
    c.now += 1;
    expect(expiredTransactions([c.meta!], c.now)).toEqual([c.meta]);
    const abort = abortExpired(c.meta!, c.now);
    expect(abort.markers).toMatchObject({ commit: false, producerEpoch: 1 });
    c.apply(abort);
    c.markersWritten();
    expect(c.meta!.state).toBe('CompleteAbort');
    // The timed-out producer's commit is not a retry of the abort: it was fenced.
    expect(() => endTxn(c.meta, producerId, 0, true, c.now)).toThrow(
      expect.objectContaining({ errorName: 'PRODUCER_FENCED' }),
    );
    // Idle long enough, the id expires.
    expect(expiredIds([c.meta!], c.now + 1_000, 5_000)).toEqual([]);
    expect(expiredIds([c.meta!], c.now + 5_001, 5_000)).toEqual([c.meta]);
  });

  it('moves to a new producer id when the epoch runs out, and checks what it is asked', () => {
    const c = new Coordinator();
    const { producerId } = c.init();
    c.meta = { ...c.meta!, producerEpoch: MAX_EPOCH };
    const next = c.init(60_000, producerId, MAX_EPOCH);
    expect(next).toEqual({ producerId: 1001, producerEpoch: 0 });
    expect(c.meta!.previousProducerId).toBe(producerId);
    expect(() => c.init(0)).toThrow(expect.objectContaining({ errorName: 'INVALID_TRANSACTION_TIMEOUT' }));
    expect(() => c.init(900_001)).toThrow(expect.objectContaining({ errorName: 'INVALID_TRANSACTION_TIMEOUT' }));
    expect(() => c.init(60_000, 1001, 7)).toThrow(expect.objectContaining({ errorName: 'PRODUCER_FENCED' }));
    expect(() => addPartitions(undefined, 1, 0, [tp('a', 0)], c.now)).toThrow(
      expect.objectContaining({ errorName: 'INVALID_PRODUCER_ID_MAPPING' }),
    );
    expect(() => addPartitions(c.meta, 999, 0, [tp('a', 0)], c.now)).toThrow(
      expect.objectContaining({ errorName: 'INVALID_PRODUCER_ID_MAPPING' }),
    );
  });

  it('places a transactional id as Kafka does (String.hashCode, made positive, mod the partition count)', () => {
    // "my-txn".hashCode() is -1061187895 in Java; Kafka's Utils.abs masks the sign bit.
    expect(transactionStatePartition('my-txn', 50)).toBe((-1_061_187_895 & 0x7fffffff) % 50);
    for (const id of ['a', 'tx-1', 'payments']) expect(transactionStatePartition(id, 50)).toBeLessThan(50);
  });
});
