import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeMarkerBatch, encodeRecordBatch } from '../../../protocol/records/index.js';
import { FetchedBatch, PartitionBuffer } from '../../../src/client/fetched.js';

const T0 = 1_700_000_000_000;

/** Batches of `sizes` records with values "v<offset>", from offset `base`, back to back. */
function batches(base: number, sizes: number[], compression: 'none' | 'lz4' = 'none'): Buffer {
  const out: Buffer[] = [];
  let offset = base;
  for (const n of sizes) {
    const records = Array.from({ length: n }, (_, i) => ({
      key: i % 2 ? Buffer.from(`k${offset + i}`) : null,
      value: Buffer.from(`v${offset + i}`),
      headers: i % 3 === 0 ? [{ key: 'h', value: Buffer.from(String(offset + i)) }] : [],
      timestamp: T0 + offset + i,
    }));
    out.push(encodeRecordBatch(records, { baseOffset: offset, compression }));
    offset += n;
  }
  return Buffer.concat(out);
}

const take = (buffer: PartitionBuffer, max: number) => {
  const t = buffer.take(max, 't-0');
  return new FetchedBatch('t', 0, 100n, t.runs, t.count, t.lastOffset);
};

describe('fetched records, read in place', () => {
  it('hands out every record once, in order, through the view and as messages alike', () => {
    const buffer = new PartitionBuffer();
    expect(buffer.add(batches(10, [3, 4, 2]), 10, 't-0')).toBe(19);
    const batch = take(buffer, 100);
    expect(buffer.isEmpty).toBe(true);
    expect(batch.recordCount).toBe(9);
    expect(batch.last).toBe(18);
    expect(batch.lastOffset()).toBe(18n);
    expect(batch.offsetLag()).toBe(81n);
    expect(batch.firstOffset()).toBe(batch.messages[0]!.offset);
    const seen: Array<[number, number, string, string | null, string | undefined]> = [];
    for (const r of batch.records())
      seen.push([r.offset, r.timestamp, r.value()!.toString(), r.key()?.toString() ?? null, r.headers().h?.toString()]);
    expect(seen.map((s) => s[0])).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18]);
    expect(seen[0]).toEqual([10, T0 + 10, 'v10', null, '10']);
    expect(seen[1]).toEqual([11, T0 + 11, 'v11', 'k11', undefined]);
    expect(batch.messages.map((m) => [Number(m.offset), m.timestamp, m.value!.toString()])).toEqual(
      seen.map((s) => [s[0], s[1], s[2]]),
    );
    expect(batch.messages).toBe(batch.messages); // made once
  });

  it('skips records before the fetch offset and splits batches across takes', () => {
    const buffer = new PartitionBuffer();
    buffer.add(batches(0, [5, 5], 'lz4'), 3, 't-0');
    const first = take(buffer, 4);
    expect(first.messages.map((m) => Number(m.offset))).toEqual([3, 4, 5, 6]);
    expect(first.last).toBe(6);
    const second = take(buffer, 1);
    expect([...second.records()].map((r) => r.offset)).toEqual([7]);
    expect(take(buffer, 10).messages.map((m) => Number(m.offset))).toEqual([8, 9]);
    expect(buffer.isEmpty).toBe(true);
    expect(buffer.bytes).toBe(0);
  });

  it('takes any split of any batches in order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.integer({ min: 1, max: 25 }), { minLength: 1, maxLength: 20 }),
        (sizes, skip, takes) => {
          const total = sizes.reduce((a, b) => a + b, 0);
          const from = Math.min(skip, total - 1);
          const buffer = new PartitionBuffer();
          buffer.add(batches(0, sizes), from, 't-0');
          const offsets: number[] = [];
          for (let i = 0; !buffer.isEmpty; i++) {
            const b = take(buffer, takes[i % takes.length]!);
            for (const r of b.records()) offsets.push(r.offset);
            expect(b.last).toBe(offsets.at(-1));
          }
          expect(offsets).toEqual(Array.from({ length: total - from }, (_, i) => from + i));
        },
      ),
    );
  });

  it('refuses a batch with a bad CRC and keeps a truncated last batch for the next fetch', () => {
    const data = batches(0, [2, 2]);
    const truncated = new PartitionBuffer();
    expect(truncated.add(data.subarray(0, data.length - 5), 0, 't-0')).toBe(2);
    expect(take(truncated, 10).recordCount).toBe(2);
    const bad = Buffer.from(data);
    bad[bad.length - 1]! ^= 0xff;
    expect(() => new PartitionBuffer().add(bad, 0, 't-0')).toThrow(/CORRUPT_MESSAGE: t-0 at byte \d+ .*CRC/);
  });

  it('never hands out markers, drops aborted transactions under read_committed, and finishes past a skipped tail', () => {
    const txn = (base: number, pid: number, values: string[]) =>
      encodeRecordBatch(
        values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: T0 })),
        { baseOffset: base, producerId: pid, producerEpoch: 0, baseSequence: 0, transactional: true },
      );
    const marker = (base: number, pid: number, type: 'COMMIT' | 'ABORT') => {
      const b = encodeMarkerBatch({ type, producerId: pid, producerEpoch: 0, coordinatorEpoch: 0, timestamp: T0 });
      b.writeBigInt64BE(BigInt(base), 0);
      return b;
    };
    // 0-1 producer 7 (aborted at 4), 2-3 producer 8 (committed at 5).
    const fetched = Buffer.concat([
      txn(0, 7, ['a0', 'a1']),
      txn(2, 8, ['c2', 'c3']),
      marker(4, 7, 'ABORT'),
      marker(5, 8, 'COMMIT'),
    ]);
    const committed = new PartitionBuffer();
    expect(committed.add(fetched, 0, 't-0', [{ producerId: 7, firstOffset: 0 }])).toBe(6);
    const values = take(committed, 100).messages.map((m) => m.value!.toString());
    expect(values).toEqual(['c2', 'c3']);
    // Finishing offset 3 finishes the two markers after it.
    expect(committed.after(3)).toBe(6);
    expect(committed.after(2)).toBe(3);
    const uncommitted = new PartitionBuffer();
    uncommitted.add(fetched, 0, 't-0');
    expect(take(uncommitted, 100).messages.map((m) => m.value!.toString())).toEqual(['a0', 'a1', 'c2', 'c3']);
    // A fetch of only a marker, after everything was finished: the position moves past it.
    const tail = new PartitionBuffer();
    tail.add(marker(6, 8, 'COMMIT'), 6, 't-0');
    expect(tail.skippedAt(6)).toBe(7);
    expect(tail.skippedAt(5)).toBe(5);
  });
});
