import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MillraceError } from '../../../protocol/errors.js';
import { crc32c } from '../../../protocol/records/index.js';
import {
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  Log,
  MAX_TIMESTAMP_LOOKUP,
  logConfig,
  type LogConfigInput,
} from '../../../src/storage/index.js';
import { logFiles } from '../../../src/storage/file-handles.js';
import { batchOf, cleanedAfterEach, recordsIn, sequenceNumbers } from '../../harness/storage.js';

const T0 = 1_700_000_000_000;
const cleaned = cleanedAfterEach();

function openLog(config: LogConfigInput = {}, extra: Partial<Parameters<typeof Log.open>[0]> = {}, dir?: string): Log {
  const d = dir ?? cleaned.dir();
  return cleaned.log(Log.open({ dir: path.join(d, 'orders-0'), config: logConfig(config), ...extra }));
}

/** Appends `batches` batches of `perBatch` records numbered from 0; returns the records written. */
function fill(log: Log, batches: number, perBatch: number, valueBytes = 0, epoch = 0): number {
  let n = 0;
  for (let b = 0; b < batches; b++) {
    log.appendAsLeader(batchOf(n, perBatch, T0 + n, 'none', valueBytes), epoch);
    n += perBatch;
  }
  return n;
}

function readAll(log: Log, from = log.logStartOffset): number[] {
  const out: number[] = [];
  let offset = from;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset, 64 * 1024);
    const recs = recordsIn(records).filter((r) => r.offset >= offset);
    if (recs.length === 0) throw new Error(`no progress reading at ${offset}`);
    out.push(...sequenceNumbers(records).slice(-recs.length));
    offset = recs.at(-1)!.offset + 1;
  }
  return out;
}

describe('Log append and read', () => {
  it('assigns contiguous offsets and stamps the leader epoch', () => {
    const log = openLog();
    const a = log.appendAsLeader(batchOf(0, 3), 5);
    const b = log.appendAsLeader(batchOf(3, 2), 5);
    expect([a.firstOffset, a.lastOffset, b.firstOffset, b.lastOffset]).toEqual([0, 2, 3, 4]);
    expect(log.logEndOffset).toBe(5);
    const recs = recordsIn(log.read(0, 1 << 20).records);
    expect(recs.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    const second = log.read(3, 1 << 20).records;
    expect(second.readInt32BE(12)).toBe(5); // partitionLeaderEpoch
    expect(log.leaderEpochCache.all).toEqual([{ epoch: 5, startOffset: 0 }]);
  });

  it('rolls segments by size and reads any offset across them', () => {
    const log = openLog({ segmentBytes: 4096, indexIntervalBytes: 256 });
    const total = fill(log, 200, 5, 20);
    expect(log.segmentCount).toBeGreaterThan(10);
    expect(readAll(log)).toEqual(Array.from({ length: total }, (_, i) => i));
    for (let offset = 0; offset < total; offset += 7) {
      const recs = recordsIn(log.read(offset, 1).records);
      // minOneBatch: one whole batch, the one that holds the offset.
      expect(recs[0]!.offset).toBeLessThanOrEqual(offset);
      expect(recs.at(-1)!.offset).toBeGreaterThanOrEqual(offset);
    }
  });

  it('rolls by time from the first batch timestamp (segment.ms)', () => {
    const log = openLog({ segmentMs: 60_000 });
    log.appendAsLeader(batchOf(0, 1, T0), 0);
    log.appendAsLeader(batchOf(1, 1, T0 + 30_000), 0);
    expect(log.segmentCount).toBe(1);
    log.appendAsLeader(batchOf(2, 1, T0 + 61_000), 0);
    expect(log.segmentBaseOffsets).toEqual([0, 2]);
  });

  it('respects maxBytes, minOneBatch and the upper bound', () => {
    const log = openLog();
    fill(log, 10, 10, 100);
    const threeBatches = [0, 10, 20].reduce((sum, offset) => sum + log.read(offset, 1).records.length, 0);
    expect(recordsIn(log.read(0, threeBatches).records)).toHaveLength(30);
    expect(recordsIn(log.read(0, threeBatches - 1).records)).toHaveLength(20);
    expect(log.read(0, 10, undefined, false).records.length).toBe(0);
    expect(recordsIn(log.read(0, 1 << 20, 50).records).at(-1)!.offset).toBe(49);
    expect(log.read(50, 1 << 20, 50).records.length).toBe(0);
    expect(log.read(100, 1 << 20).records.length).toBe(0);
  });

  it('answers OFFSET_OUT_OF_RANGE outside the log', () => {
    const log = openLog();
    fill(log, 1, 5);
    expect(() => log.read(6, 100)).toThrow(/OFFSET_OUT_OF_RANGE/);
    expect(() => log.read(-1, 100)).toThrow(MillraceError);
  });

  it('finds offsets by timestamp', () => {
    const log = openLog({ segmentBytes: 2048, indexIntervalBytes: 128 });
    for (let i = 0; i < 100; i++) log.appendAsLeader(batchOf(i * 2, 2, T0 + i * 1000), 0);
    expect(log.offsetForTimestamp(T0)).toEqual({ offset: 0, timestamp: T0 });
    expect(log.offsetForTimestamp(T0 + 50_000)).toEqual({ offset: 100, timestamp: T0 + 50_000 });
    expect(log.offsetForTimestamp(T0 + 50_001)).toEqual({ offset: 101, timestamp: T0 + 50_001 });
    expect(log.offsetForTimestamp(T0 + 50_002)).toEqual({ offset: 102, timestamp: T0 + 51_000 });
    expect(log.offsetForTimestamp(T0 + 10_000_000)).toBeNull();
    expect(log.offsetForTimestamp(EARLIEST_TIMESTAMP)!.offset).toBe(0);
    expect(log.offsetForTimestamp(LATEST_TIMESTAMP)!.offset).toBe(200);
    expect(log.offsetForTimestamp(MAX_TIMESTAMP_LOOKUP)).toEqual({ offset: 199, timestamp: T0 + 99_001 });
  });

  it('stamps LogAppendTime when the topic asks for it, keeping the CRC valid', () => {
    let now = T0 + 5;
    const log = openLog({ messageTimestampType: 'LogAppendTime' }, { now: () => now });
    const info = log.appendAsLeader(batchOf(0, 3, 1000), 0);
    expect(info.logAppendTime).toBe(T0 + 5);
    now += 1;
    expect(recordsIn(log.read(0, 1 << 20).records).map((r) => r.timestamp)).toEqual([T0 + 5, T0 + 5, T0 + 5]);
  });
});

describe('Log append validation loses nothing and writes nothing bad', () => {
  it('rejects a CRC mismatch, a wrong count, an oversize batch and empty input', () => {
    const log = openLog({ maxMessageBytes: 2000 });
    log.appendAsLeader(batchOf(0, 2), 0);
    const bad = batchOf(2, 2);
    bad[bad.length - 1]! ^= 1;
    expect(() => log.appendAsLeader(bad, 0)).toThrow(/CORRUPT_MESSAGE/);
    const miscounted = batchOf(2, 2);
    miscounted.writeInt32BE(5, 23);
    miscounted.writeUInt32BE(crc32c(miscounted.subarray(21)), 17);
    expect(() => log.appendAsLeader(miscounted, 0)).toThrow(/INVALID_RECORD/);
    expect(() => log.appendAsLeader(batchOf(2, 10, T0, 'none', 300), 0)).toThrow(/MESSAGE_TOO_LARGE/);
    expect(() => log.appendAsLeader(Buffer.alloc(0), 0)).toThrow(/INVALID_RECORD/);
    // A request with a good batch followed by a bad one appends neither.
    expect(() => log.appendAsLeader(Buffer.concat([batchOf(2, 1), bad]), 0)).toThrow(/CORRUPT_MESSAGE/);
    expect(log.logEndOffset).toBe(2);
    log.appendAsLeader(batchOf(2, 2), 0);
    expect(readAll(log)).toEqual([0, 1, 2, 3]);
  });

  it('appends a follower batch at the offsets the leader gave it, recording new epochs', () => {
    const leader = openLog();
    leader.appendAsLeader(batchOf(0, 3), 1);
    leader.appendAsLeader(batchOf(3, 3), 2);
    const follower = openLog();
    follower.appendAsFollower(Buffer.from(leader.read(0, 1 << 20).records));
    expect(follower.logEndOffset).toBe(6);
    expect(follower.leaderEpochCache.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 3 },
    ]);
    expect(() => follower.appendAsFollower(Buffer.from(leader.read(3, 1 << 20).records))).toThrow(/INVALID_RECORD/);
  });
});

describe('truncation and the leader-epoch cache', () => {
  it('truncates inside a segment and across segments, dropping epochs past the cut', () => {
    const log = openLog({ segmentBytes: 2048 });
    fill(log, 20, 5, 20, 1);
    fill(log, 0, 0);
    for (let i = 0; i < 20; i++) log.appendAsLeader(batchOf(100 + i * 5, 5, T0 + 100 + i * 5, 'none', 20), 2);
    expect(log.leaderEpochCache.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 100 },
    ]);
    expect(log.leaderEpochCache.endOffsetFor(1, log.logEndOffset)).toEqual({ epoch: 1, endOffset: 100 });
    log.truncateTo(150);
    expect(log.logEndOffset).toBe(150);
    expect(readAll(log)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    log.truncateTo(42); // mid-batch: the batch holding 42 goes whole
    expect(log.logEndOffset).toBe(40);
    expect(log.leaderEpochCache.all).toEqual([{ epoch: 1, startOffset: 0 }]);
    log.appendAsLeader(batchOf(40, 5), 3);
    expect(readAll(log)).toEqual(Array.from({ length: 45 }, (_, i) => i));
    expect(log.leaderEpochCache.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 40 },
    ]);
  });

  it('truncates fully and starts again at an offset', () => {
    const log = openLog();
    fill(log, 5, 5, 0, 1);
    log.truncateFullyAndStartAt(1000);
    expect([log.logStartOffset, log.logEndOffset]).toEqual([1000, 1000]);
    expect(log.leaderEpochCache.all).toEqual([]);
    expect(log.appendAsLeader(batchOf(0, 1), 4).firstOffset).toBe(1000);
  });
});

describe('retention', () => {
  it('deletes closed segments past retention.ms by their largest timestamp, never the active one', () => {
    let now = T0;
    const log = openLog({ segmentBytes: 1024, retentionMs: 60_000 }, { now: () => now });
    for (let i = 0; i < 30; i++) log.appendAsLeader(batchOf(i * 5, 5, T0 + i * 10_000, 'none', 20), 0);
    const segments = log.segmentCount;
    now = T0 + 200_000;
    const deleted = log.deleteOldSegments();
    expect(deleted).toBeGreaterThan(0);
    expect(log.segmentCount).toBe(segments - deleted);
    expect(log.logStartOffset).toBe(log.segmentBaseOffsets[0]);
    expect(readAll(log)[0]).toBe(log.logStartOffset);
    now = T0 + 10_000_000;
    log.deleteOldSegments();
    expect(log.segmentCount).toBe(1);
    expect(log.logEndOffset).toBe(150);
  });

  it('deletes the oldest segments beyond retention.bytes', () => {
    const log = openLog({ segmentBytes: 1024, retentionBytes: 3000, retentionMs: -1 });
    fill(log, 40, 5, 20);
    log.deleteOldSegments();
    expect(log.size).toBeLessThanOrEqual(3000 + 1024);
    expect(log.size).toBeGreaterThan(3000 - 1024);
    expect(readAll(log).at(-1)).toBe(199);
  });

  it('deletes segments below a moved log start offset', () => {
    const log = openLog({ segmentBytes: 1024, retentionMs: -1 });
    fill(log, 40, 5, 20);
    log.maybeIncrementLogStartOffset(120);
    expect(() => log.read(119, 10)).toThrow(/OFFSET_OUT_OF_RANGE/);
    log.deleteOldSegments();
    expect(log.segmentBaseOffsets[0]).toBeLessThanOrEqual(120);
    expect(log.segmentBaseOffsets[1]).toBeGreaterThan(120);
    expect(log.logStartOffset).toBe(120);
  });
});

describe('flush policy', () => {
  it('flushes after flush.messages and advances the recovery point', async () => {
    const log = openLog({ flushMessages: 10 });
    fill(log, 1, 5);
    await log.flushIfDue();
    expect(log.recoveryPoint).toBe(0);
    fill(log, 1, 5);
    await log.flushIfDue();
    expect(log.recoveryPoint).toBe(10);
  });

  it('flushes when flush.ms has passed', async () => {
    let now = T0;
    const log = openLog({ flushMs: 1000 }, { now: () => now });
    fill(log, 1, 5);
    await log.flushIfDue();
    expect(log.recoveryPoint).toBe(0);
    now += 1000;
    await log.flushIfDue();
    expect(log.recoveryPoint).toBe(5);
  });

  it('by default never flushes on its own: replication is the durability, as in Kafka', async () => {
    const log = openLog();
    fill(log, 100, 5);
    await log.flushIfDue();
    expect(log.recoveryPoint).toBe(0);
  });
});

describe('Log with a small open-file pool', () => {
  it('appends, reads and reopens correctly when the pool holds fewer files than the logs use', () => {
    const before = logFiles.maxOpen;
    logFiles.maxOpen = 2;
    try {
      const dir = cleaned.dir();
      const logs = [0, 1, 2, 3].map((p) =>
        cleaned.log(Log.open({ dir: path.join(dir, `orders-${p}`), config: logConfig({ segmentBytes: 4096 }) })),
      );
      const written = logs.map((log) => fill(log, 20, 5, 50));
      expect(logFiles.size).toBeLessThanOrEqual(2);
      expect(logFiles.evictions).toBeGreaterThan(0);
      logs.forEach((log, i) => {
        expect(log.segmentCount).toBeGreaterThan(1);
        expect(readAll(log)).toEqual(Array.from({ length: written[i]! }, (_, n) => n));
      });
    } finally {
      logFiles.maxOpen = before;
    }
  });
});
