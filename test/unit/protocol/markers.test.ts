import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  CONTROL_MASK,
  TRANSACTIONAL_MASK,
  checkBatch,
  encodeMarkerBatch,
  newBatchHeader,
  readMarker,
  stampBatch,
} from '../../../protocol/records/index.js';

const require = createRequire(import.meta.url);
// kafkajs's own record batch decoder: an independent reader of the bytes.
const KafkaDecoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
const decodeKafkaBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{
  inTransaction: boolean;
  isControlBatch: boolean;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  records: Array<{ key: Buffer; value: Buffer; offset: string }>;
}>;

describe('transaction markers', () => {
  it('encode as Kafka’s control batches, which kafkajs reads, and read back', async () => {
    for (const type of ['COMMIT', 'ABORT'] as const) {
      const batch = encodeMarkerBatch({
        type,
        producerId: 4242,
        producerEpoch: 7,
        coordinatorEpoch: 3,
        timestamp: 1_700_000_000_000,
      });
      stampBatch(batch, 0, 120, 5);
      const h = newBatchHeader();
      expect(checkBatch(batch, 0, batch.length, h)).toBeNull();
      expect(h.attributes & (CONTROL_MASK | TRANSACTIONAL_MASK)).toBe(CONTROL_MASK | TRANSACTIONAL_MASK);
      expect([h.producerId, h.producerEpoch, h.baseSequence, h.recordCount]).toEqual([4242, 7, -1, 1]);
      expect(readMarker(batch, 0, h)).toEqual({
        type,
        producerId: 4242,
        producerEpoch: 7,
        coordinatorEpoch: 3,
        timestamp: 1_700_000_000_000,
        offset: 120,
      });
      const read = await decodeKafkaBatch(new KafkaDecoder(batch));
      expect(read).toMatchObject({
        inTransaction: true,
        isControlBatch: true,
        producerId: '4242',
        producerEpoch: 7,
        firstSequence: -1,
      });
      // EndTransactionMarker: key version 0 and type (0 abort, 1 commit); value version 0 and coordinator epoch.
      expect(read.records[0]!.key).toEqual(Buffer.from([0, 0, 0, type === 'COMMIT' ? 1 : 0]));
      expect(read.records[0]!.value).toEqual(Buffer.from([0, 0, 0, 0, 0, 3]));
      expect(read.records[0]!.offset).toBe('120');
    }
  });
});
