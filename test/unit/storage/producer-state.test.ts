import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkBatch, encodeRecordBatch, newBatchHeader, stampProducer } from '../../../protocol/records/index.js';
import { Log, logConfig, type LogConfigInput } from '../../../src/storage/index.js';
import { SNAPSHOT_SUFFIX } from '../../../src/storage/producer-state.js';
import { cleanedAfterEach, errorNameOf } from '../../harness/storage.js';

const T0 = 1_700_000_000_000;
const cleaned = cleanedAfterEach();

function logIn(dir: string, config: LogConfigInput = {}, clean = true, now?: () => number): Log {
  return cleaned.log(Log.open({ dir, config: logConfig(config), hadCleanShutdown: clean, ...(now ? { now } : {}) }));
}

function newDir(): string {
  return path.join(cleaned.dir(), 'orders-0');
}

/** A batch of `count` records from producer `pid` at `epoch` starting at sequence `seq`. */
function idempotentBatch(pid: number, epoch: number, seq: number, count = 3, timestamp = T0): Buffer {
  return encodeRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`p${pid}-${seq + i}`), timestamp })),
    { producerId: pid, producerEpoch: epoch, baseSequence: seq },
  );
}

describe('idempotent producer state', () => {
  it('answers a retried batch with its original offsets and appends nothing', () => {
    const log = logIn(newDir());
    const first = log.appendAsLeader(idempotentBatch(7, 0, 0), 0);
    log.appendAsLeader(idempotentBatch(7, 0, 3), 0);
    const end = log.logEndOffset;
    const again = log.appendAsLeader(idempotentBatch(7, 0, 0), 0);
    expect(again.duplicate).toBe(true);
    expect([again.firstOffset, again.lastOffset]).toEqual([first.firstOffset, first.lastOffset]);
    expect(log.logEndOffset).toBe(end);
  });

  it('refuses gaps, old epochs and unknown producers with Kafka errors', () => {
    const log = logIn(newDir());
    log.appendAsLeader(idempotentBatch(7, 1, 0), 0);
    expect(errorNameOf(() => log.appendAsLeader(idempotentBatch(7, 1, 5), 0))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(errorNameOf(() => log.appendAsLeader(idempotentBatch(7, 0, 3), 0))).toBe('INVALID_PRODUCER_EPOCH');
    expect(errorNameOf(() => log.appendAsLeader(idempotentBatch(7, 2, 3), 0))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(errorNameOf(() => log.appendAsLeader(idempotentBatch(8, 0, 9), 0))).toBe('UNKNOWN_PRODUCER_ID');
    expect(log.logEndOffset).toBe(3);
    // A new epoch starts again at sequence 0.
    expect(log.appendAsLeader(idempotentBatch(7, 2, 0), 0).firstOffset).toBe(3);
  });

  it('remembers the last five batches of a producer, as in-flight retries need', () => {
    const log = logIn(newDir());
    for (let i = 0; i < 7; i++) log.appendAsLeader(idempotentBatch(3, 0, i * 3), 0);
    expect(log.producerState.entry(3)!.batches.map((b) => b.firstSeq)).toEqual([6, 9, 12, 15, 18]);
    expect(log.appendAsLeader(idempotentBatch(3, 0, 6), 0).duplicate).toBe(true);
    expect(errorNameOf(() => log.appendAsLeader(idempotentBatch(3, 0, 3), 0))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
  });

  it('checks several batches of one request in order, and writes none when one fails', () => {
    const log = logIn(newDir());
    const ok = Buffer.concat([idempotentBatch(1, 0, 0), idempotentBatch(1, 0, 3)]);
    expect(log.appendAsLeader(ok, 0).lastOffset).toBe(5);
    const gap = Buffer.concat([idempotentBatch(1, 0, 6), idempotentBatch(1, 0, 10)]);
    expect(errorNameOf(() => log.appendAsLeader(gap, 0))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(log.logEndOffset).toBe(6);
    expect(log.appendAsLeader(idempotentBatch(1, 0, 6), 0).firstOffset).toBe(6);
  });

  it('survives a clean restart from its snapshot and an unclean one from the log', async () => {
    for (const clean of [true, false]) {
      const dir = newDir();
      const log = logIn(dir, { segmentBytes: 1024 });
      for (let i = 0; i < 20; i++) log.appendAsLeader(idempotentBatch(5, 0, i * 3), 0);
      expect(log.segmentCount).toBeGreaterThan(1);
      if (clean) await log.close();
      const reopened = logIn(dir, { segmentBytes: 1024 }, clean);
      expect(reopened.producerState.entry(5)!.batches.at(-1)!.lastSeq).toBe(59);
      expect(reopened.appendAsLeader(idempotentBatch(5, 0, 57), 0).duplicate).toBe(true);
      expect(reopened.appendAsLeader(idempotentBatch(5, 0, 60), 0).firstOffset).toBe(60);
    }
  });

  it('falls back past a corrupt snapshot to an older one plus the log', async () => {
    const dir = newDir();
    const log = logIn(dir, { segmentBytes: 1024 });
    for (let i = 0; i < 20; i++) log.appendAsLeader(idempotentBatch(5, 0, i * 3), 0);
    await log.close();
    const snapshots = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith(SNAPSHOT_SUFFIX))
      .sort();
    fs.writeFileSync(path.join(dir, snapshots.at(-1)!), 'not a snapshot');
    const reopened = logIn(dir, { segmentBytes: 1024 }, false);
    expect(reopened.producerState.entry(5)!.batches.at(-1)!.lastSeq).toBe(59);
    expect(fs.readdirSync(dir)).not.toContain(snapshots.at(-1));
  });

  it('forgets batches that a truncation removed', () => {
    const log = logIn(newDir(), { segmentBytes: 1024 });
    for (let i = 0; i < 20; i++) log.appendAsLeader(idempotentBatch(5, 0, i * 3), 0);
    log.truncateTo(30);
    expect(log.producerState.entry(5)!.batches.at(-1)!.lastSeq).toBe(29);
    expect(log.appendAsLeader(idempotentBatch(5, 0, 30), 0).firstOffset).toBe(30);
  });

  it('builds the same state on a follower as on the leader', () => {
    const leader = logIn(newDir());
    const follower = logIn(newDir());
    for (let i = 0; i < 4; i++) {
      const batch = idempotentBatch(9, 0, i * 3);
      leader.appendAsLeader(batch, 2);
      follower.appendAsFollower(batch);
    }
    expect(follower.producerState.entry(9)).toEqual(leader.producerState.entry(9));
    expect(follower.appendAsLeader(idempotentBatch(9, 0, 9), 3).duplicate).toBe(true);
  });

  it('expires idle producers after producer.id.expiration.ms', () => {
    let now = T0;
    const log = logIn(newDir(), {}, true, () => now);
    log.appendAsLeader(idempotentBatch(4, 0, 0, 3, T0), 0);
    now = T0 + 1_000;
    expect(log.removeExpiredProducers(5_000)).toBe(0);
    now = T0 + 6_000;
    expect(log.removeExpiredProducers(5_000)).toBe(1);
    expect(errorNameOf(() => log.appendAsLeader(idempotentBatch(4, 0, 3), 0))).toBe('UNKNOWN_PRODUCER_ID');
  });

  it('stamps producer fields with a valid CRC', () => {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('x'), timestamp: T0 }]);
    stampProducer(batch, 0, 42, 3, 0);
    expect(checkBatch(batch, 0, batch.length, newBatchHeader())).toBeNull();
    const log = logIn(newDir());
    log.appendAsLeader(batch, 0);
    expect(log.producerState.entry(42)).toMatchObject({ producerEpoch: 3, batches: [{ firstSeq: 0, lastSeq: 0 }] });
  });
});
