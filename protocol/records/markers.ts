/**
 * Transaction markers: the control batches a transaction coordinator has written to each
 * partition of a transaction when it commits or aborts (Kafka's EndTransactionMarker). A marker
 * batch is transactional and control, carries the producer's id and epoch, no sequence, and one
 * record: key = version (int16, 0) and type (int16: 0 abort, 1 commit); value = version (int16,
 * 0) and the coordinator epoch (int32). Byte for byte what Kafka writes, so Kafka clients and
 * tools read Millrace's logs as their own.
 */
import { NO_SEQUENCE, type RecordBatchHeader } from './batch.js';
import { decodeBatchRecords, decodedRecord } from './decode.js';
import { encodeRecordBatch } from './encode.js';

export type MarkerType = 'ABORT' | 'COMMIT';

const CONTROL_VERSION = 0;
const TYPE_CODES: Record<MarkerType, number> = { ABORT: 0, COMMIT: 1 };

export interface TxnMarker {
  type: MarkerType;
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  timestamp: number;
}

/** A marker's control batch, ready to append (base offset 0: the log assigns it). */
export function encodeMarkerBatch(m: TxnMarker): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(CONTROL_VERSION, 0);
  key.writeInt16BE(TYPE_CODES[m.type], 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(CONTROL_VERSION, 0);
  value.writeInt32BE(m.coordinatorEpoch, 2);
  return encodeRecordBatch([{ key, value, timestamp: m.timestamp }], {
    producerId: m.producerId,
    producerEpoch: m.producerEpoch,
    baseSequence: NO_SEQUENCE,
    transactional: true,
    control: true,
  });
}

/**
 * The marker a control batch holds (the batch at `pos` of `buf`, already checked), or null for a
 * control record of another type (Kafka has leader-change and snapshot control records too).
 */
export function readMarker(
  buf: Uint8Array,
  pos: number,
  h: RecordBatchHeader,
): (TxnMarker & { offset: number }) | null {
  const [record] = decodeBatchRecords(buf, pos, h, decodedRecord);
  const type = markerTypeOf(record?.key ?? null);
  if (type === null) return null;
  if (!record!.value || record!.value.length < 6) throw new Error('a transaction marker needs a 6-byte value');
  return {
    type,
    producerId: h.producerId,
    producerEpoch: h.producerEpoch,
    coordinatorEpoch: record!.value.readInt32BE(2),
    timestamp: record!.timestamp,
    offset: record!.offset,
  };
}

/** The marker type a control record's key names, or null for a control record of another type. */
export function markerTypeOf(key: Buffer | null): MarkerType | null {
  if (!key || key.length < 4) throw new Error('a control record needs a 4-byte key');
  const type = key.readInt16BE(2);
  return type === TYPE_CODES.COMMIT ? 'COMMIT' : type === TYPE_CODES.ABORT ? 'ABORT' : null;
}
