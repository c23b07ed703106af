import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Log, LogManager, logConfig } from '../../../src/storage/index.js';
import { batchOf, recordsIn, sequenceNumbers, tempDir } from '../../harness/storage.js';

const T0 = 1_700_000_000_000;
const tp = { topic: 't', partition: 0 };

function readAll(log: Log): number[] {
  const out: number[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const seqs = sequenceNumbers(log.read(offset, 3000).records).filter((n) => n >= offset);
    out.push(...seqs);
    offset = seqs.at(-1)! + 1;
  }
  return out;
}

const scenario = fc.record({
  batches: fc.array(
    fc.record({
      count: fc.integer({ min: 1, max: 20 }),
      pad: fc.integer({ min: 0, max: 400 }),
      compression: fc.constantFrom('none' as const, 'lz4' as const),
    }),
    { minLength: 1, maxLength: 60 },
  ),
  segmentBytes: fc.integer({ min: 9_000, max: 32_768 }), // the largest generated batch is about 8.5 KB
  indexIntervalBytes: fc.integer({ min: 0, max: 4096 }),
  truncateAt: fc.nat(),
  probe: fc.nat(),
});

describe('Log properties', () => {
  it('reads back every appended sequence, across reopen (clean and unclean) and truncation', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const dir = tempDir();
        try {
          const config = logConfig({
            segmentBytes: s.segmentBytes,
            indexIntervalBytes: s.indexIntervalBytes,
            retentionMs: -1,
          });
          const m1 = LogManager.open({ dataDir: dir, configFor: () => config });
          const log = m1.getOrCreate(tp);
          let n = 0;
          for (const b of s.batches) {
            log.appendAsLeader(batchOf(n, b.count, T0 + n, b.compression, b.pad), 0);
            n += b.count;
          }
          const expected = Array.from({ length: n }, (_, i) => i);
          expect(readAll(log)).toEqual(expected);
          const probe = s.probe % n;
          const hit = recordsIn(log.read(probe, 1).records);
          expect(hit[0]!.offset).toBeLessThanOrEqual(probe);
          expect(hit.at(-1)!.offset).toBeGreaterThanOrEqual(probe);

          // Unclean: the first manager is abandoned without closing.
          const m2 = LogManager.open({ dataDir: dir, configFor: () => config });
          expect(m2.hadCleanShutdown).toBe(false);
          expect(readAll(m2.get(tp)!)).toEqual(expected);
          await m2.close();

          const m3 = LogManager.open({ dataDir: dir, configFor: () => config });
          expect(m3.hadCleanShutdown).toBe(true);
          const reopened = m3.get(tp)!;
          expect(readAll(reopened)).toEqual(expected);
          const cut = s.truncateAt % (n + 1);
          reopened.truncateTo(cut);
          expect(reopened.logEndOffset).toBeLessThanOrEqual(cut);
          expect(readAll(reopened)).toEqual(expected.slice(0, reopened.logEndOffset));
          await m3.close();
          expect(fs.existsSync(path.join(dir, 't-0'))).toBe(true);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  });
});
