import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecordBatches, encodeRecordBatch, type MarkerType } from '../../../protocol/records/index.js';
import { Log, LogCleaner, logConfig, type LogConfigInput } from '../../../src/storage/index.js';
import { cleanedAfterEach, errorNameOf } from '../../harness/storage.js';

const T0 = 1_700_000_000_000;
const cleaned = cleanedAfterEach();

function open(dir: string, config: LogConfigInput = {}, clean = true): Log {
  return cleaned.log(Log.open({ dir, config: logConfig(config), hadCleanShutdown: clean, now: () => T0 }));
}

const newDir = (): string => path.join(cleaned.dir(), 'payments-0');

/** A transactional batch of producer `pid`: keys `k<i>`, values `<pid>:<seq + i>`. */
function txnBatch(pid: number, epoch: number, seq: number, count = 2, keyOf = (i: number) => `k${i}`): Buffer {
  return encodeRecordBatch(
    Array.from({ length: count }, (_, i) => ({
      key: Buffer.from(keyOf(seq + i)),
      value: Buffer.from(`${pid}:${seq + i}`),
      timestamp: T0,
    })),
    { producerId: pid, producerEpoch: epoch, baseSequence: seq, transactional: true },
  );
}

const marker = (type: MarkerType, producerId: number, producerEpoch: number, coordinatorEpoch = 0) => ({
  type,
  producerId,
  producerEpoch,
  coordinatorEpoch,
});

/** Every batch of the log: offsets, producer, whether control, and the record values. */
function batches(log: Log): Array<{ base: number; pid: number; control: boolean; values: string[] }> {
  const out = [];
  for (let next = log.logStartOffset; next < log.logEndOffset;) {
    const { records } = log.read(next, 64 * 1024 * 1024);
    for (const b of decodeRecordBatches(records).batches) {
      out.push({
        base: b.header.baseOffset,
        pid: b.header.producerId,
        control: (b.header.attributes & 0x20) !== 0,
        values: b.records.map((r) => r.value?.toString() ?? ''),
      });
      next = b.header.baseOffset + b.header.lastOffsetDelta + 1;
    }
  }
  return out;
}

describe('transactions in a partition log', () => {
  it('holds the last stable offset at an open transaction and indexes aborts', () => {
    const log = open(newDir());
    log.appendAsLeader(txnBatch(1, 0, 0), 0); // 0-1
    log.appendAsLeader(encodeRecordBatch([{ key: null, value: Buffer.from('plain'), timestamp: T0 }]), 0); // 2
    log.appendAsLeader(txnBatch(2, 0, 0), 0); // 3-4
    expect(log.lastStableOffset(log.logEndOffset)).toBe(0);
    expect(log.appendMarker(marker('COMMIT', 1, 1), 0)).toBe(5);
    expect(log.lastStableOffset(log.logEndOffset)).toBe(3);
    expect(log.appendMarker(marker('ABORT', 2, 1), 0)).toBe(6);
    expect(log.lastStableOffset(log.logEndOffset)).toBe(7);
    expect(log.abortedTransactions(0, 7)).toEqual([
      { producerId: 2, firstOffset: 3, lastOffset: 6, lastStableOffset: 7 },
    ]);
    expect(
      batches(log)
        .filter((b) => b.control)
        .map((b) => b.base),
    ).toEqual([5, 6]);
    // KIP-890: the marker bumped the epoch; the old epoch is fenced, the new one starts at 0.
    expect(errorNameOf(() => log.appendAsLeader(txnBatch(1, 0, 2), 0))).toBe('INVALID_PRODUCER_EPOCH');
    expect(errorNameOf(() => log.appendAsLeader(txnBatch(1, 1, 2), 0))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(log.appendAsLeader(txnBatch(1, 1, 0), 0).firstOffset).toBe(7);
    // A late marker of an older epoch is refused.
    expect(errorNameOf(() => log.appendMarker(marker('ABORT', 1, 0), 0))).toBe('INVALID_PRODUCER_EPOCH');
  });

  it('keeps sequences across transactions when the marker carries the same epoch (clients before KIP-890)', () => {
    const log = open(newDir());
    log.appendAsLeader(txnBatch(4, 3, 0), 0);
    log.appendMarker(marker('COMMIT', 4, 3), 0);
    expect(log.appendAsLeader(txnBatch(4, 3, 2), 0).firstOffset).toBe(3);
    expect(errorNameOf(() => log.appendAsLeader(txnBatch(4, 3, 9), 0))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
  });

  it('refuses a marker from an older coordinator than the partition has seen (a zombie’s)', () => {
    const log = open(newDir());
    log.appendAsLeader(txnBatch(3, 0, 0), 0);
    log.appendMarker(marker('COMMIT', 3, 1, 5), 0);
    log.appendAsLeader(txnBatch(3, 1, 0), 0);
    expect(errorNameOf(() => log.appendMarker(marker('ABORT', 3, 2, 4), 0))).toBe('TRANSACTION_COORDINATOR_FENCED');
    expect(log.lastStableOffset(log.logEndOffset)).toBe(3);
    log.appendMarker(marker('COMMIT', 3, 2, 5), 0);
    expect(log.lastStableOffset(log.logEndOffset)).toBe(log.logEndOffset);
  });

  it('keeps the coordinator epoch fence through a restart from its snapshot', async () => {
    const dir = newDir();
    const log = open(dir);
    log.appendAsLeader(txnBatch(3, 0, 0), 0);
    log.appendMarker(marker('COMMIT', 3, 1, 5), 0);
    log.appendAsLeader(txnBatch(3, 1, 0), 0);
    await log.close();
    const reopened = open(dir);
    expect(errorNameOf(() => reopened.appendMarker(marker('ABORT', 3, 2, 4), 0))).toBe(
      'TRANSACTION_COORDINATOR_FENCED',
    );
    expect(reopened.appendMarker(marker('ABORT', 3, 2, 5), 0)).toBe(5);
  });

  it('refuses control batches from producers', () => {
    const log = open(newDir());
    const control = encodeRecordBatch([{ key: Buffer.alloc(4), value: Buffer.alloc(6), timestamp: T0 }], {
      producerId: 1,
      producerEpoch: 0,
      transactional: true,
      control: true,
    });
    expect(errorNameOf(() => log.appendAsLeader(control, 0))).toBe('INVALID_RECORD');
    expect(log.logEndOffset).toBe(0);
  });

  it('keeps open transactions and aborts across clean and unclean restarts and segment rolls', async () => {
    const dir = newDir();
    const config = {};
    let log = open(dir, config);
    for (let i = 0; i < 6; i++) {
      log.appendAsLeader(txnBatch(10 + i, 0, 0), 0);
      if (i % 2 === 0) log.appendMarker(marker('ABORT', 10 + i, 1), 0);
      log.roll();
    }
    log.appendAsLeader(txnBatch(11, 0, 2), 0);
    const lso = log.lastStableOffset(log.logEndOffset);
    const aborted = log.abortedTransactions(0, log.logEndOffset);
    expect(aborted.map((a) => a.producerId)).toEqual([10, 12, 14]);
    expect(log.segmentCount).toBeGreaterThan(2);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.txnindex')).length).toBeGreaterThan(0);
    await log.close();
    log = open(dir, config);
    expect(log.lastStableOffset(log.logEndOffset)).toBe(lso);
    expect(log.abortedTransactions(0, log.logEndOffset)).toEqual(aborted);
    // Unclean: snapshots gone, state rebuilt from the log and the .txnindex files.
    await log.close();
    for (const n of fs.readdirSync(dir).filter((f) => f.endsWith('.snapshot'))) fs.rmSync(path.join(dir, n));
    log = open(dir, config, false);
    expect(log.lastStableOffset(log.logEndOffset)).toBe(lso);
    expect(log.abortedTransactions(0, log.logEndOffset)).toEqual(aborted);
    // Commit the rest: nothing is open, and the producers' new epochs are known.
    for (const pid of [11, 13, 15]) log.appendMarker(marker('COMMIT', pid, 1), 0);
    expect(log.lastStableOffset(log.logEndOffset)).toBe(log.logEndOffset);
  });

  it('forgets aborts and open transactions that truncation removes', () => {
    const log = open(newDir());
    log.appendAsLeader(txnBatch(1, 0, 0), 0); // 0-1
    log.appendMarker(marker('ABORT', 1, 1), 0); // 2
    log.appendAsLeader(txnBatch(2, 0, 0), 0); // 3-4
    log.appendMarker(marker('ABORT', 2, 1), 0); // 5
    log.appendAsLeader(txnBatch(3, 0, 0), 0); // 6-7
    log.truncateTo(5);
    expect(log.abortedTransactions(0, 10).map((a) => a.producerId)).toEqual([1]);
    expect(log.lastStableOffset(5)).toBe(3);
    log.truncateTo(3);
    expect(log.lastStableOffset(3)).toBe(3);
  });

  it('replicates markers to a follower, which tracks the same state', () => {
    const leader = open(newDir());
    const follower = open(path.join(cleaned.dir(), 'payments-0-follower'));
    leader.appendAsLeader(txnBatch(1, 0, 0), 0);
    leader.appendAsLeader(txnBatch(2, 0, 0), 0);
    leader.appendMarker(marker('ABORT', 1, 1), 0);
    follower.appendAsFollower(leader.read(0, 1024 * 1024).records);
    expect(follower.lastStableOffset(follower.logEndOffset)).toBe(2);
    expect(follower.abortedTransactions(0, 10)).toEqual(leader.abortedTransactions(0, 10));
    expect(follower.producerState.entry(1)!.producerEpoch).toBe(1);
  });

  it('compaction drops aborted records, keeps markers, and stops at an open transaction', async () => {
    const log = open(newDir(), { cleanupPolicy: 'compact', minCleanableDirtyRatio: 0 });
    const key = () => 'same';
    log.appendAsLeader(txnBatch(1, 0, 0, 1, key), 0); // committed "1:0"
    log.appendMarker(marker('COMMIT', 1, 1), 0);
    log.appendAsLeader(txnBatch(2, 0, 0, 1, key), 0); // aborted "2:0": must not supersede "1:0"
    log.appendMarker(marker('ABORT', 2, 1), 0);
    log.roll();
    for (let i = 0; i < 6; i++)
      log.appendAsLeader(encodeRecordBatch([{ key: Buffer.from(`o${i}`), value: Buffer.from('x'), timestamp: T0 }]), 0);
    log.roll();
    log.appendAsLeader(txnBatch(3, 0, 0, 1, key), 0); // open: nothing from here is cleaned
    log.roll();
    for (let i = 0; i < 6; i++)
      log.appendAsLeader(encodeRecordBatch([{ key: Buffer.from(`p${i}`), value: Buffer.from('y'), timestamp: T0 }]), 0);
    log.roll();
    const result = await new LogCleaner({ maxKeys: 1000, ioBytesPerSecond: Infinity, now: () => T0 }).clean(log);
    expect(result).not.toBeNull();
    const all = batches(log);
    expect(all.flatMap((b) => b.values)).toContain('1:0');
    expect(all.flatMap((b) => b.values)).not.toContain('2:0');
    expect(all.filter((b) => b.control).map((b) => b.base)).toEqual([1, 3]);
    expect(all.flatMap((b) => b.values)).toContain('3:0');
    expect(result!.cleanedTo).toBeLessThanOrEqual(log.producerState.txns.firstUnstableOffset()!);
  });
});
