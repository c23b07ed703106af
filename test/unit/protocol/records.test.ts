import fc from 'fast-check';
import { describe, expect, it, beforeAll } from 'vitest';
import { MillraceError } from '../../../protocol/errors.js';
import {
  CompressionType,
  RecordBatchBuilder,
  checkBatch,
  compress,
  compressionCode,
  crc32c,
  decodeRecordBatches,
  decompress,
  encodeRecordBatch,
  isCrcValid,
  newBatchHeader,
  readBatchHeader,
  stampBatch,
  type CompressionName,
} from '../../../protocol/records/index.js';
import { kafkaGzipBatch, kafkaZstdBatch, referenceCrc32c, singleRecordBatch, twoRecordBatch } from './vectors.js';
import { codecsReady } from '../../../protocol/records/compression.js';

// zstd's WebAssembly loads asynchronously, once.
beforeAll(() => codecsReady());

const T0 = 1_700_000_000_000;

describe('CRC-32C', () => {
  it('matches the standard check value and the bitwise reference', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff));
    expect(crc32c(data)).toBe(referenceCrc32c(data));
  });
});

describe('RecordBatch v2 encoding matches the hand-written vectors byte for byte', () => {
  it('single record, null key', () => {
    const encoded = encodeRecordBatch([{ key: null, value: Buffer.from('hello'), timestamp: T0 }]);
    expect(encoded.toString('hex')).toBe(singleRecordBatch.toString('hex'));
  });

  it('two records with a tombstone, a header, a two-byte varint and producer fields', () => {
    const encoded = encodeRecordBatch(
      [
        { key: Buffer.from('k'), value: null, headers: [{ key: 'h', value: Buffer.from('v') }], timestamp: T0 },
        { key: null, value: Buffer.alloc(200, 0xab), timestamp: T0 + 300 },
      ],
      { baseOffset: 42, partitionLeaderEpoch: 7, producerId: 1000, producerEpoch: 2, baseSequence: 5 },
    );
    expect(encoded.toString('hex')).toBe(twoRecordBatch.toString('hex'));
  });
});

describe('header view', () => {
  it('reads every header field without decoding records', () => {
    const h = readBatchHeader(twoRecordBatch, 0);
    expect(h).toEqual({
      baseOffset: 42,
      sizeInBytes: 283,
      partitionLeaderEpoch: 7,
      magic: 2,
      crc: twoRecordBatch.readUInt32BE(17),
      attributes: 0,
      lastOffsetDelta: 1,
      baseTimestamp: T0,
      maxTimestamp: T0 + 300,
      producerId: 1000,
      producerEpoch: 2,
      baseSequence: 5,
      recordCount: 2,
    });
    expect(isCrcValid(twoRecordBatch, 0, 283)).toBe(true);
  });

  it('stamps base offset and leader epoch in place and the CRC stays valid', () => {
    const b = Buffer.from(singleRecordBatch);
    stampBatch(b, 0, 2 ** 40 + 5, 12);
    const h = readBatchHeader(b, 0);
    expect(h.baseOffset).toBe(2 ** 40 + 5);
    expect(h.partitionLeaderEpoch).toBe(12);
    expect(checkBatch(b, 0, b.length, newBatchHeader())).toBeNull();
    expect(decodeRecordBatches(b).batches[0]!.records[0]!.offset).toBe(2 ** 40 + 5);
  });
});

describe('decoding', () => {
  it('decodes the hand-written vector', () => {
    const { batches, tail } = decodeRecordBatches(twoRecordBatch);
    expect(tail).toBeNull();
    const [r0, r1] = batches[0]!.records;
    expect(r0).toEqual({
      offset: 42,
      timestamp: T0,
      key: Buffer.from('k'),
      value: null,
      headers: [{ key: 'h', value: Buffer.from('v') }],
    });
    expect(r1!.offset).toBe(43);
    expect(r1!.timestamp).toBe(T0 + 300);
    expect(r1!.key).toBeNull();
    expect(r1!.value).toEqual(Buffer.alloc(200, 0xab));
  });

  it('decodes a gzip batch written by a Kafka broker with LogAppendTime', () => {
    const { batches, tail } = decodeRecordBatches(kafkaGzipBatch);
    expect(tail).toBeNull();
    const b = batches[0]!;
    expect(b.compression).toBe('gzip');
    expect(b.header.baseTimestamp).toBe(1597425188775);
    expect(b.header.maxTimestamp).toBe(1597425188809);
    expect(b.header.producerId).toBe(-1);
    expect(b.records).toHaveLength(1);
    // LogAppendTime: every record carries the batch's max timestamp.
    expect(b.records[0]!.timestamp).toBe(1597425188809);
    expect(b.records[0]!.key!.toString()).toBe('key-0');
  });

  it('inflates a Kafka-written zstd streaming frame that has no content size', () => {
    // The fixture's CRC is valid over its bytes; its records section is a zstd frame whose
    // frame header descriptor (byte 4) has no content-size flag.
    expect(isCrcValid(kafkaZstdBatch, 0, kafkaZstdBatch.length)).toBe(true);
    const frame = kafkaZstdBatch.subarray(61);
    expect(frame.readUInt32LE(0)).toBe(0xfd2fb528);
    expect(frame[4]! & 0xc0).toBe(0);
    const records = decompress(CompressionType.zstd, frame);
    expect(records.length).toBeGreaterThan(frame.length);
    // Relabel the batch as zstd, reseal it, and the whole batch decodes.
    const relabelled = Buffer.from(kafkaZstdBatch);
    relabelled.writeInt16BE(CompressionType.zstd, 21);
    relabelled.writeUInt32BE(referenceCrc32c(relabelled.subarray(21)), 17);
    const { batches, tail } = decodeRecordBatches(relabelled);
    expect(tail).toBeNull();
    expect(batches[0]!.records).toHaveLength(1);
    expect(batches[0]!.records[0]!.value!.length).toBeGreaterThan(0);
  });

  it('reports a truncated tail at every cut point and keeps the batches before it', () => {
    const both = Buffer.concat([singleRecordBatch, twoRecordBatch]);
    for (let cut = 0; cut < both.length; cut++) {
      const result = decodeRecordBatches(both.subarray(0, cut));
      const expected = cut >= singleRecordBatch.length ? 1 : 0;
      expect(result.batches).toHaveLength(expected);
      if (cut === 0 || cut === singleRecordBatch.length) expect(result.tail).toBeNull();
      else expect(result.tail).toMatchObject({ kind: 'truncated', position: expected ? singleRecordBatch.length : 0 });
    }
  });

  it('reports a flipped bit as corrupt at the damaged batch, keeping earlier ones', () => {
    const both = Buffer.concat([singleRecordBatch, twoRecordBatch, singleRecordBatch]);
    const at = singleRecordBatch.length + 100;
    both[at]! ^= 0x10;
    const result = decodeRecordBatches(both);
    expect(result.batches).toHaveLength(1);
    expect(result.validBytes).toBe(singleRecordBatch.length);
    expect(result.tail).toMatchObject({ kind: 'corrupt', position: singleRecordBatch.length });
    expect(result.tail!.message).toMatch(/CRC/);
  });

  it('reports garbage, a wrong magic and an absurd length as corrupt', () => {
    const garbage = Buffer.concat([
      singleRecordBatch,
      Buffer.from('this is not a record batch at all, not even close!!!!!!!!!!!!!!!!!!!'),
    ]);
    expect(decodeRecordBatches(garbage).tail!.kind).toBe('corrupt');
    const badMagic = Buffer.from(singleRecordBatch);
    badMagic[16] = 1;
    expect(decodeRecordBatches(badMagic).tail!.message).toMatch(/magic/);
    const badLength = Buffer.from(singleRecordBatch);
    badLength.writeInt32BE(3, 8);
    expect(decodeRecordBatches(badLength).tail!.kind).toBe('corrupt');
  });

  it('reports records that do not match a valid CRC as corrupt instead of throwing', () => {
    const b = Buffer.from(singleRecordBatch);
    b.writeInt32BE(2, 57); // claims two records, holds one
    b.writeUInt32BE(crc32c(b.subarray(21)), 17);
    const result = decodeRecordBatches(b);
    expect(result.batches).toHaveLength(0);
    expect(result.tail!.kind).toBe('corrupt');
  });
});

describe('compression', () => {
  const names: CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
  const records = Array.from({ length: 300 }, (_, i) => ({
    key: Buffer.from(`key-${i % 7}`),
    value: Buffer.from(`value ${i} `.repeat(20)),
    headers: i % 3 === 0 ? [{ key: 'trace', value: Buffer.from(String(i)) }] : [],
    timestamp: T0 + i,
  }));

  for (const name of names) {
    it(`${name} round-trips a batch and marks it in the attributes`, () => {
      const batch = encodeRecordBatch(records, { compression: name });
      const { batches, tail } = decodeRecordBatches(batch);
      expect(tail).toBeNull();
      expect(batches[0]!.compression).toBe(name);
      expect(batches[0]!.header.attributes & 7).toBe(CompressionType[name]);
      expect(batches[0]!.records.map((r) => r.value!.toString())).toEqual(records.map((r) => r.value.toString()));
      if (name !== 'none') expect(batch.length).toBeLessThan(encodeRecordBatch(records).length / 4);
    });
  }

  it('writes snappy in the xerial framing the Java client uses', () => {
    const framed = compress(CompressionType.snappy, Buffer.alloc(100_000, 1));
    expect(framed.subarray(0, 8)).toEqual(Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0]));
    expect(framed.readInt32BE(8)).toBe(1);
    expect(decompress(CompressionType.snappy, framed)).toEqual(Buffer.alloc(100_000, 1));
  });

  it('writes lz4 in the LZ4 frame format', () => {
    expect(compress(CompressionType.lz4, Buffer.alloc(1000, 2)).readUInt32LE(0)).toBe(0x184d2204);
  });

  it('rejects an unknown codec with UNSUPPORTED_COMPRESSION_TYPE', () => {
    expect(() => compressionCode('brotli')).toThrow(MillraceError);
    try {
      compressionCode('brotli');
    } catch (err) {
      expect((err as MillraceError).errorName).toBe('UNSUPPORTED_COMPRESSION_TYPE');
      expect((err as MillraceError).retriable).toBe(false);
    }
    const b = encodeRecordBatch([{ value: Buffer.from('x') }]);
    b.writeInt16BE(6, 21);
    b.writeUInt32BE(crc32c(b.subarray(21)), 17);
    const result = decodeRecordBatches(b);
    expect(result.tail).toMatchObject({ kind: 'corrupt' });
    expect(result.tail!.message).toMatch(/UNSUPPORTED_COMPRESSION_TYPE/);
  });

  it('reports damaged compressed data as corrupt', () => {
    const b = encodeRecordBatch(records, { compression: 'gzip' });
    b.fill(0, 80, 120);
    b.writeUInt32BE(crc32c(b.subarray(21)), 17);
    expect(decodeRecordBatches(b).tail).toMatchObject({ kind: 'corrupt' });
  });
});

describe('builder', () => {
  it('writes a string value as the UTF-8 bytes a Buffer of it would hold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.string({ unit: 'binary' }), { nil: null }), { minLength: 1, maxLength: 20 }),
        (values) => {
          const asText = new RecordBatchBuilder();
          const asBytes = new RecordBatchBuilder();
          values.forEach((v, i) => {
            expect(asText.estimateRecordSize({ value: v }, T0 + i)).toBe(
              asBytes.estimateRecordSize({ value: v === null ? null : Buffer.from(v, 'utf8') }, T0 + i),
            );
            asText.append({ value: v }, T0 + i);
            asBytes.append({ value: v === null ? null : Buffer.from(v, 'utf8') }, T0 + i);
          });
          expect(asText.build().equals(asBytes.build())).toBe(true);
        },
      ),
    );
  });

  it('predicts the size a record adds', () => {
    const builder = new RecordBatchBuilder();
    for (let i = 0; i < 50; i++) {
      const rec = {
        key: i % 2 ? null : Buffer.from(`k${i}`),
        value: Buffer.alloc(i * 10),
        headers: [{ key: 'a', value: null }],
      };
      const before = builder.sizeInBytes;
      const predicted = builder.estimateRecordSize(rec, T0 + i);
      builder.append(rec, T0 + i);
      expect(builder.sizeInBytes - before).toBe(predicted);
    }
    expect(builder.build().length).toBe(builder.sizeInBytes);
  });
});

describe('RecordBatchBuilder', () => {
  it('builds one batch: its buffer is handed out, so appending after build() is refused', () => {
    const builder = new RecordBatchBuilder({ initialCapacity: 4096 });
    builder.append({ key: Buffer.from('k'), value: Buffer.from('v') }, 1_000);
    const built = builder.build();
    expect(decodeRecordBatches(built).batches[0]!.records.map((r) => r.value?.toString())).toEqual(['v']);
    expect(() => builder.append({ key: null, value: Buffer.from('w') }, 1_001)).toThrow(/a builder builds one batch/);
  });
});
