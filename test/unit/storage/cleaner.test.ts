import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../../protocol/records/index.js';
import { Log, LogCleaner, logConfig, type LogConfigInput } from '../../../src/storage/index.js';
import { cleanedAfterEach, recordsIn } from '../../harness/storage.js';

const T0 = 1_700_000_000_000;
const cleaned = cleanedAfterEach();

function compactedLog(config: LogConfigInput = {}, now = () => T0): Log {
  return cleaned.log(
    Log.open({
      dir: path.join(cleaned.dir(), 'accounts-0'),
      config: logConfig({ segmentBytes: 2048, cleanupPolicy: 'compact', minCleanableDirtyRatio: 0, ...config }),
      now,
    }),
  );
}

/** Appends one batch per update: [key, value] pairs, a null value being a tombstone. */
function write(log: Log, updates: Array<[string, string | null]>, timestamp = T0): void {
  for (const [key, value] of updates)
    log.appendAsLeader(
      encodeRecordBatch([{ key: Buffer.from(key), value: value === null ? null : Buffer.from(value), timestamp }]),
      0,
    );
}

function readAll(log: Log): Array<{ offset: number; key: string; value: string | null }> {
  const out: Array<{ offset: number; key: string; value: string | null }> = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset, 1024 * 1024);
    const batch = recordsIn(records);
    if (batch.length === 0) break;
    for (const r of batch)
      if (r.offset >= offset)
        out.push({ offset: r.offset, key: r.key!.toString(), value: r.value?.toString() ?? null });
    // Batches keep their offset range: go on after the last batch read, not after its last record.
    offset = lastOffsetOfBuffer(records) + 1;
  }
  return out;
}

/** The last offset covered by a buffer of whole batches (its last batch's base + last delta). */
function lastOffsetOfBuffer(buf: Buffer): number {
  let p = 0;
  let last = -1;
  while (p + 61 <= buf.length) {
    const base = Number(buf.readBigInt64BE(p));
    last = base + buf.readInt32BE(p + 23);
    p += buf.readInt32BE(p + 8) + 12;
  }
  return last;
}

const cleaner = (maxKeys = 1_000_000, now = () => T0) => new LogCleaner({ maxKeys, ioBytesPerSecond: Infinity, now });

describe('log compaction', () => {
  it('keeps the latest record of every key at its offset, in order, and leaves the active segment alone', async () => {
    const log = compactedLog();
    const updates: Array<[string, string]> = Array.from({ length: 200 }, (_, i) => [`k${i % 10}`, `v${i}`]);
    write(log, updates);
    const activeBase = log.segmentBaseOffsets.at(-1)!;
    const before = readAll(log).filter((r) => r.offset >= activeBase);
    const result = await cleaner().clean(log);
    expect(result!.recordsRemoved).toBeGreaterThan(100);
    const after = readAll(log);
    // Every key's latest value is there; offsets only ever increase; the active segment is unchanged.
    const lastByKey = new Map(updates.map(([k, v], offset) => [k, { v, offset }]));
    for (const [k, { v, offset }] of lastByKey) expect(after).toContainEqual({ offset, key: k, value: v });
    expect(after.map((r) => r.offset)).toEqual([...after.map((r) => r.offset)].sort((a, b) => a - b));
    expect(after.filter((r) => r.offset >= activeBase)).toEqual(before);
    expect(log.logEndOffset).toBe(200);
  });

  it('keeps tombstones for delete.retention.ms, then removes them', async () => {
    let now = T0;
    const log = compactedLog({ deleteRetentionMs: 60_000 }, () => now);
    write(log, [
      ['a', '1'],
      ['b', '1'],
      ['a', null],
    ]);
    write(
      log,
      Array.from({ length: 40 }, (_, i): [string, string] => [`filler${i}`, 'x'.repeat(40)]),
    );
    await cleaner(1_000_000, () => now).clean(log);
    expect(readAll(log).filter((r) => r.key === 'a')).toEqual([{ offset: 2, key: 'a', value: null }]);
    now = T0 + 61_000;
    log.writeFirstDirtyOffset(0);
    await cleaner(1_000_000, () => now).clean(log);
    expect(readAll(log).filter((r) => r.key === 'a')).toEqual([]);
    expect(readAll(log).filter((r) => r.key === 'b')).toEqual([{ offset: 1, key: 'b', value: '1' }]);
  });

  it('cleans in several passes when the key map is bounded, with the same result', async () => {
    const log = compactedLog();
    const updates: Array<[string, string]> = Array.from({ length: 400 }, (_, i) => [`k${(i * 7) % 50}`, `v${i}`]);
    write(log, updates);
    const small = cleaner(10);
    let passes = 0;
    while (await small.clean(log)) passes++;
    expect(passes).toBeGreaterThan(1);
    const after = readAll(log);
    const lastByKey = new Map(updates.map(([k, v], offset) => [k, { v, offset }]));
    for (const [k, { v, offset }] of lastByKey) expect(after).toContainEqual({ offset, key: k, value: v });
  });

  it('survives a restart: cleaned segments reopen with valid indexes, and a leftover staging directory is ignored', async () => {
    const log = compactedLog();
    write(
      log,
      Array.from({ length: 100 }, (_, i): [string, string] => [`k${i % 5}`, `v${i}`]),
    );
    await cleaner().clean(log);
    const expected = readAll(log);
    fs.mkdirSync(path.join(log.dir, '.cleaner'));
    fs.writeFileSync(path.join(log.dir, '.cleaner', '00000000000000000000.log'), 'half a cleaning');
    await log.close();
    const reopened = cleaned.log(Log.open({ dir: log.dir, config: log.config, hadCleanShutdown: false }));
    expect(readAll(reopened)).toEqual(expected);
    expect(fs.existsSync(path.join(log.dir, '.cleaner'))).toBe(false);
  });

  it('refuses records without a key on a compacted topic', () => {
    const log = compactedLog();
    expect(() =>
      log.appendAsLeader(encodeRecordBatch([{ key: null, value: Buffer.from('x'), timestamp: T0 }]), 0),
    ).toThrow(/without a key/);
  });

  it('with compact,delete also applies retention; with compact alone it does not', () => {
    for (const [policy, survives] of [
      ['compact', true],
      ['compact,delete', false],
    ] as const) {
      let now = T0;
      const log = compactedLog({ cleanupPolicy: policy, retentionMs: 1_000 }, () => now);
      write(
        log,
        Array.from({ length: 60 }, (_, i): [string, string] => [`k${i}`, 'x'.repeat(40)]),
      );
      now = T0 + 10_000;
      log.deleteOldSegments();
      expect(log.logStartOffset === 0).toBe(survives);
    }
  });

  it('keeps the latest value of every key for any sequence of updates (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.option(fc.string({ maxLength: 30 }), { freq: 5 })), {
          minLength: 1,
          maxLength: 150,
        }),
        fc.integer({ min: 1, max: 20 }),
        async (ops, maxKeys) => {
          const log = compactedLog({ segmentBytes: 1024, deleteRetentionMs: 1_000_000 });
          const updates = ops.map(([k, v]): [string, string | null] => [`key${k}`, v]);
          write(log, updates);
          const c = cleaner(maxKeys);
          while (await c.clean(log));
          const after = readAll(log);
          const lastByKey = new Map(updates.map(([k, v], offset) => [k, { v, offset }]));
          for (const [k, { v, offset }] of lastByKey) expect(after).toContainEqual({ offset, key: k, value: v });
          for (const r of after) expect(updates[r.offset]).toEqual([r.key, r.value]);
          expect(log.logEndOffset).toBe(updates.length);
        },
      ),
      { numRuns: 40 },
    );
  });
});
