/**
 * RecordBatch v2 (magic 2) header, byte for byte as Kafka lays it out:
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 |
 *   attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
 *   producerId int64 | producerEpoch int16 | baseSequence int32 | recordCount int32 | records...
 *
 * batchLength counts from partitionLeaderEpoch to the end; the CRC-32C covers attributes to the
 * end, so baseOffset and partitionLeaderEpoch can be stamped in place without recomputing it.
 * The functions here read the header only: the broker never decodes records.
 */
import { crc32c } from './crc32c.js';

export const BASE_OFFSET = 0;
export const BATCH_LENGTH = 8;
export const PARTITION_LEADER_EPOCH = 12;
export const MAGIC = 16;
export const CRC = 17;
export const ATTRIBUTES = 21;
export const LAST_OFFSET_DELTA = 23;
export const BASE_TIMESTAMP = 27;
export const MAX_TIMESTAMP = 35;
export const PRODUCER_ID = 43;
export const PRODUCER_EPOCH = 51;
export const BASE_SEQUENCE = 53;
export const RECORD_COUNT = 57;
/** Bytes before the first record. */
export const RECORD_BATCH_OVERHEAD = 61;
/** baseOffset and batchLength: the part not counted by batchLength. */
export const LOG_OVERHEAD = 12;
export const CURRENT_MAGIC = 2;

export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08;
export const TRANSACTIONAL_MASK = 0x10;
export const CONTROL_MASK = 0x20;
export const DELETE_HORIZON_MASK = 0x40;

export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
export const NO_PARTITION_LEADER_EPOCH = -1;

/** Reads a big-endian int64 as a number: exact for every value below 2^53 in magnitude. */
export function readInt64(buf: Uint8Array, pos: number): number {
  const view = buf as Buffer;
  return view.readInt32BE(pos) * 0x100000000 + view.readUInt32BE(pos + 4);
}

export function writeInt64(buf: Uint8Array, pos: number, value: number): void {
  const view = buf as Buffer;
  const hi = Math.floor(value / 0x100000000);
  view.writeInt32BE(hi, pos);
  view.writeUInt32BE(value - hi * 0x100000000, pos + 4);
}

export interface RecordBatchHeader {
  baseOffset: number;
  /** Bytes this batch takes, LOG_OVERHEAD included. */
  sizeInBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export function newBatchHeader(): RecordBatchHeader {
  return {
    baseOffset: 0,
    sizeInBytes: 0,
    partitionLeaderEpoch: 0,
    magic: 0,
    crc: 0,
    attributes: 0,
    lastOffsetDelta: 0,
    baseTimestamp: 0,
    maxTimestamp: 0,
    producerId: 0,
    producerEpoch: 0,
    baseSequence: 0,
    recordCount: 0,
  };
}

/**
 * Fills `out` from the 61-byte header at pos (the caller checks that 61 bytes are there), so a
 * scan over many batches reuses one object.
 */
export function readBatchHeader(
  buf: Uint8Array,
  pos: number,
  out: RecordBatchHeader = newBatchHeader(),
): RecordBatchHeader {
  const b = buf as Buffer;
  out.baseOffset = readInt64(b, pos + BASE_OFFSET);
  out.sizeInBytes = b.readInt32BE(pos + BATCH_LENGTH) + LOG_OVERHEAD;
  out.partitionLeaderEpoch = b.readInt32BE(pos + PARTITION_LEADER_EPOCH);
  out.magic = b.readInt8(pos + MAGIC);
  out.crc = b.readUInt32BE(pos + CRC);
  out.attributes = b.readInt16BE(pos + ATTRIBUTES);
  out.lastOffsetDelta = b.readInt32BE(pos + LAST_OFFSET_DELTA);
  out.baseTimestamp = readInt64(b, pos + BASE_TIMESTAMP);
  out.maxTimestamp = readInt64(b, pos + MAX_TIMESTAMP);
  out.producerId = readInt64(b, pos + PRODUCER_ID);
  out.producerEpoch = b.readInt16BE(pos + PRODUCER_EPOCH);
  out.baseSequence = b.readInt32BE(pos + BASE_SEQUENCE);
  out.recordCount = b.readInt32BE(pos + RECORD_COUNT);
  return out;
}

export const lastOffsetOf = (h: RecordBatchHeader): number => h.baseOffset + h.lastOffsetDelta;
export const compressionOf = (h: RecordBatchHeader): number => h.attributes & COMPRESSION_MASK;
export const isLogAppendTime = (h: RecordBatchHeader): boolean => (h.attributes & TIMESTAMP_TYPE_MASK) !== 0;
export const isTransactional = (h: RecordBatchHeader): boolean => (h.attributes & TRANSACTIONAL_MASK) !== 0;
export const isControlBatch = (h: RecordBatchHeader): boolean => (h.attributes & CONTROL_MASK) !== 0;

/** Whether the stored CRC matches CRC-32C over attributes..end of the batch at pos. */
export function isCrcValid(buf: Uint8Array, pos: number, sizeInBytes: number): boolean {
  const stored = (buf as Buffer).readUInt32BE(pos + CRC);
  return crc32c(buf.subarray(pos + ATTRIBUTES, pos + sizeInBytes)) === stored;
}

/** Stamps the fields outside the CRC; the batch stays valid. */
export function stampBatch(buf: Uint8Array, pos: number, baseOffset: number, partitionLeaderEpoch: number): void {
  writeInt64(buf, pos + BASE_OFFSET, baseOffset);
  (buf as Buffer).writeInt32BE(partitionLeaderEpoch, pos + PARTITION_LEADER_EPOCH);
}

/**
 * Sets the idempotent-producer fields of the batch at pos and recomputes its CRC-32C (they lie
 * inside it). A producer does this when it first sends a batch, and again when it must
 * re-sequence one under a new epoch.
 */
export function stampProducer(
  buf: Uint8Array,
  pos: number,
  producerId: number,
  producerEpoch: number,
  baseSequence: number,
): void {
  const b = buf as Buffer;
  writeInt64(b, pos + PRODUCER_ID, producerId);
  b.writeInt16BE(producerEpoch, pos + PRODUCER_EPOCH);
  b.writeInt32BE(baseSequence, pos + BASE_SEQUENCE);
  const end = pos + b.readInt32BE(pos + BATCH_LENGTH) + LOG_OVERHEAD;
  b.writeUInt32BE(crc32c(b.subarray(pos + ATTRIBUTES, end)), pos + CRC);
}

/** Why a stretch of bytes is not a whole valid batch. */
export type BatchProblem = { kind: 'truncated'; message: string } | { kind: 'corrupt'; message: string };

/**
 * Checks the batch at pos without decoding records: room for the header and the whole batch,
 * a sane length, magic 2, a record count that matches lastOffsetDelta, and the CRC-32C.
 * Returns null when valid. `header` is filled as far as it could be read.
 */
export function checkBatch(
  buf: Uint8Array,
  pos: number,
  end: number,
  header: RecordBatchHeader,
  maxBatchBytes = 0x7fffffff,
): BatchProblem | null {
  const avail = end - pos;
  if (avail < LOG_OVERHEAD)
    return { kind: 'truncated', message: `${avail} bytes left, fewer than a batch's 12-byte prefix` };
  const batchLength = (buf as Buffer).readInt32BE(pos + BATCH_LENGTH);
  const size = batchLength + LOG_OVERHEAD;
  if (size < RECORD_BATCH_OVERHEAD)
    return { kind: 'corrupt', message: `batch length ${batchLength} is smaller than a batch header` };
  if (size > maxBatchBytes)
    return { kind: 'corrupt', message: `batch of ${size} bytes exceeds the limit of ${maxBatchBytes}` };
  if (avail < RECORD_BATCH_OVERHEAD)
    return { kind: 'truncated', message: `${avail} bytes left, fewer than a batch header` };
  readBatchHeader(buf, pos, header);
  if (header.magic !== CURRENT_MAGIC)
    return { kind: 'corrupt', message: `magic ${header.magic}, expected ${CURRENT_MAGIC}` };
  if (avail < size) return { kind: 'truncated', message: `batch of ${size} bytes but only ${avail} bytes left` };
  if (header.recordCount < 0 || header.lastOffsetDelta < 0) {
    return {
      kind: 'corrupt',
      message: `negative record count ${header.recordCount} or last offset delta ${header.lastOffsetDelta}`,
    };
  }
  if (!isCrcValid(buf, pos, size)) {
    return { kind: 'corrupt', message: `CRC-32C mismatch (stored ${header.crc.toString(16).padStart(8, '0')})` };
  }
  return null;
}
