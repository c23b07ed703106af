import fc from 'fast-check';
import { describe, expect, it, beforeAll } from 'vitest';
import {
  decodeRecordBatches,
  encodeRecordBatch,
  type CompressionName,
  type RecordInput,
} from '../../../protocol/records/index.js';
import { codecsReady } from '../../../protocol/records/compression.js';

// zstd's WebAssembly loads asynchronously, once.
beforeAll(() => codecsReady());

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const record: fc.Arbitrary<RecordInput & { timestamp: number }> = fc.record({
  key: fc.option(bytes, { nil: null }),
  value: fc.option(bytes, { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 20 }), value: fc.option(bytes, { nil: null }) }), {
    maxLength: 4,
  }),
  // Kafka timestamps: any non-negative millisecond value; deltas may be negative.
  timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
});
const compression = fc.constantFrom<CompressionName>('none', 'gzip', 'snappy', 'lz4', 'zstd');
const batchSpec = fc.record({
  records: fc.array(record, { minLength: 1, maxLength: 30 }),
  compression,
  baseOffset: fc.integer({ min: 0, max: 2 ** 50 }),
  partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  producerId: fc.integer({ min: -1, max: 2 ** 50 }),
  producerEpoch: fc.integer({ min: -1, max: 32767 }),
  baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
});

describe('RecordBatch v2 properties', () => {
  it('round-trips arbitrary records through every codec', () => {
    fc.assert(
      fc.property(batchSpec, (spec) => {
        const batch = encodeRecordBatch(spec.records, spec);
        const { batches, tail, validBytes } = decodeRecordBatches(batch);
        expect(tail).toBeNull();
        expect(validBytes).toBe(batch.length);
        const b = batches[0]!;
        expect(b.header).toMatchObject({
          baseOffset: spec.baseOffset,
          partitionLeaderEpoch: spec.partitionLeaderEpoch,
          producerId: spec.producerId,
          producerEpoch: spec.producerEpoch,
          baseSequence: spec.baseSequence,
          recordCount: spec.records.length,
          lastOffsetDelta: spec.records.length - 1,
          baseTimestamp: spec.records[0]!.timestamp,
          maxTimestamp: Math.max(...spec.records.map((r) => r.timestamp)),
        });
        expect(b.records).toEqual(
          spec.records.map((r, i) => ({
            offset: spec.baseOffset + i,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers,
          })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('decodes a sequence of batches, and any prefix of it without throwing', () => {
    fc.assert(
      fc.property(fc.array(batchSpec, { minLength: 1, maxLength: 5 }), fc.nat(), (specs, cutSeed) => {
        const encoded = specs.map((s) => encodeRecordBatch(s.records, s));
        const all = Buffer.concat(encoded);
        expect(decodeRecordBatches(all).batches.map((b) => b.records.length)).toEqual(
          specs.map((s) => s.records.length),
        );
        const cut = cutSeed % (all.length + 1);
        const partial = decodeRecordBatches(all.subarray(0, cut));
        let whole = 0;
        let acc = 0;
        for (const e of encoded) {
          if (acc + e.length > cut) break;
          acc += e.length;
          whole++;
        }
        expect(partial.batches).toHaveLength(whole);
        expect(partial.validBytes).toBe(acc);
        if (cut !== acc) expect(partial.tail?.kind).toBe('truncated');
      }),
      { numRuns: 200 },
    );
  });
});
