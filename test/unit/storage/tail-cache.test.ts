import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../../protocol/records/index.js';
import { Log, logConfig } from '../../../src/storage/index.js';
import { TailCache } from '../../../src/storage/tail-cache.js';
import { batchOf, cleanedAfterEach, recordsIn } from '../../harness/storage.js';

const T0 = 1_700_000_000_000;
const cleaned = cleanedAfterEach();

function open(tailCache: TailCache | undefined, name = 'orders-0'): Log {
  return cleaned.log(
    Log.open({ dir: path.join(cleaned.dir(), name), config: logConfig({ segmentBytes: 16 * 1024 }), tailCache }),
  );
}

const offsetsIn = (buf: Buffer) => recordsIn(buf).map((r) => r.offset);

describe('tail cache', () => {
  it('serves the newest batches from memory, the same records the files hold, and counts hits and misses', () => {
    const cache = new TailCache(1 << 20);
    const log = open(cache);
    for (let n = 0; n < 200; n += 4) log.appendAsLeader(batchOf(n, 4, T0 + n, 'none', 50), 0);
    const fromMemory = log.read(120, 4096).records;
    expect(cache.hits).toBe(1);
    const plain = open(undefined, 'plain-0');
    for (let n = 0; n < 200; n += 4) plain.appendAsLeader(batchOf(n, 4, T0 + n, 'none', 50), 0);
    const fromFiles = plain.read(120, 4096).records;
    expect(offsetsIn(fromMemory)[0]).toBe(120);
    // The same whole batches (a file read stops at a segment's end, memory need not).
    const common = Math.min(fromMemory.length, fromFiles.length);
    expect(fromFiles.subarray(0, common).equals(fromMemory.subarray(0, common))).toBe(true);
    expect(log.read(200, 4096).records.length).toBe(0);
    expect(log.read(0, 100, 8).records.length).toBeGreaterThan(0);
    expect(cache.misses).toBe(0);
  });

  it('stays within its budget, dropping the oldest slabs of any log: older reads go to the files', () => {
    const cache = new TailCache(600 * 1024);
    const a = open(cache, 'a-0');
    const b = open(cache, 'b-0');
    for (let n = 0; n < 4000; n += 10) {
      a.appendAsLeader(batchOf(n, 10, T0 + n, 'none', 100), 0);
      b.appendAsLeader(batchOf(n, 10, T0 + n, 'none', 100), 0);
    }
    expect(cache.bytes).toBeLessThanOrEqual(600 * 1024);
    expect(offsetsIn(a.read(0, 4096).records)[0]).toBe(0);
    expect(cache.misses).toBe(1);
    expect(offsetsIn(b.read(3990, 4096).records)).toEqual(Array.from({ length: 10 }, (_, i) => 3990 + i));
    expect(cache.hits).toBe(1);
  });

  it('drops a truncated tail and caches what is appended after it', () => {
    const cache = new TailCache(1 << 20);
    const log = open(cache);
    for (let n = 0; n < 40; n += 4) log.appendAsLeader(batchOf(n, 4, T0 + n), 0);
    log.truncateTo(20);
    log.appendAsLeader(batchOf(20, 4, T0), 1);
    const records = log.read(20, 4096).records;
    expect(offsetsIn(records)).toEqual([20, 21, 22, 23]);
    expect(records.readInt32BE(12)).toBe(1); // the new batch, epoch 1
    log.truncateFullyAndStartAt(100);
    expect(cache.bytes).toBe(0);
  });

  it('forgets the batches of a range the cleaner rewrote, so readers see the cleaned segment', () => {
    const cache = new TailCache(1 << 20);
    const tail = cache.forLog()!;
    let n = 0;
    for (; n < 40; n += 4)
      tail.append(
        encodeRecordBatch(
          [0, 1, 2, 3].map((i) => ({ key: null, value: Buffer.from(`v${n + i}`), timestamp: T0 })),
          { baseOffset: n },
        ),
      );
    expect(tail.firstOffset).toBe(0);
    tail.dropBelow(20);
    expect(tail.firstOffset).toBe(20);
    expect(tail.read(12, 4096, 40, true)).toBeNull();
    expect(cache.misses).toBe(1);
    tail.dropBelow(100);
    expect(tail.firstOffset).toBeNull();
    expect(cache.bytes).toBe(0);
  });

  it('reads as the files do for any appends and reads (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 8192 })), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 4 * 1024, max: 2 << 20 }),
        (sizes, reads, budget) => {
          const cache = new TailCache(budget);
          const cachedLog = open(cache, 'c-0');
          const plain = open(undefined, 'p-0');
          let n = 0;
          for (const size of sizes) {
            cachedLog.appendAsLeader(batchOf(n, size, T0 + n, 'none', 20), 0);
            plain.appendAsLeader(batchOf(n, size, T0 + n, 'none', 20), 0);
            n += size;
          }
          for (const [at, maxBytes] of reads) {
            const offset = at % n;
            const fromCache = cachedLog.read(offset, maxBytes).records;
            const fromFiles = plain.read(offset, maxBytes).records;
            // The same whole batches from the same one; a read stops at a segment's end, memory need not.
            const common = Math.min(fromCache.length, fromFiles.length);
            expect(common).toBeGreaterThan(0);
            expect(fromFiles.subarray(0, common).equals(fromCache.subarray(0, common))).toBe(true);
          }
          expect(cache.bytes).toBeLessThanOrEqual(Math.max(budget, 256 * 1024));
        },
      ),
      { numRuns: 40 },
    );
  });
});
