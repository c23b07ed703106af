import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { wire } from '../../../protocol/wire.js';

describe('64-bit integers on the NATS door', () => {
  it('decode as numbers without changing protobufjs for anyone else in the process', () => {
    const before = protobuf.util.Long;
    const bytes = wire.ListOffsetsRequest.encode({
      replicaId: -1,
      topics: [{ name: 't', partitions: [{ partition: 0, timestamp: 2 ** 40 + 3 }] }],
    }).finish();
    const decoded = wire.ListOffsetsRequest.decode(bytes);
    expect(decoded.topics[0]!.partitions[0]!.timestamp).toBe(2 ** 40 + 3);
    expect(protobuf.util.Long).toBe(before);
  });

  it('still decode as numbers when another library has given protobufjs a Long class', () => {
    const before = protobuf.util.Long;
    class FakeLong {
      constructor(
        readonly low: number,
        readonly high: number,
        readonly unsigned: boolean,
      ) {}
      static fromBits(low: number, high: number, unsigned: boolean): FakeLong {
        return new FakeLong(low, high, unsigned);
      }
      toNumber(): number {
        return this.high * 2 ** 32 + (this.low >>> 0);
      }
    }
    protobuf.util.Long = FakeLong as unknown as typeof protobuf.util.Long;
    protobuf.configure();
    try {
      const bytes = wire.ListOffsetsRequest.encode({
        replicaId: -1,
        topics: [{ name: 't', partitions: [{ partition: 0, timestamp: 2 ** 40 + 3 }] }],
      }).finish();
      expect(wire.ListOffsetsRequest.decode(bytes).topics[0]!.partitions[0]!.timestamp).toBe(2 ** 40 + 3);
    } finally {
      protobuf.util.Long = before;
      protobuf.configure();
    }
  });
});
