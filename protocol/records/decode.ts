import {
  type BatchProblem,
  type RecordBatchHeader,
  RECORD_BATCH_OVERHEAD,
  checkBatch,
  compressionOf,
  isLogAppendTime,
  newBatchHeader,
} from './batch.js';
import { compressionName, decompress, type CompressionName } from './compression.js';
import type { DecodedRecord, RecordHeader } from './types.js';
import { Cursor } from './varint.js';

export interface DecodedBatch {
  header: RecordBatchHeader;
  compression: CompressionName;
  records: DecodedRecord[];
}

/** What stopped decoding before the end of the buffer. */
export type DecodeTail = BatchProblem & {
  /** Byte position of the first batch that could not be decoded. */
  position: number;
};

export interface DecodeResult {
  batches: DecodedBatch[];
  /** Bytes of whole valid batches from the start of the buffer. */
  validBytes: number;
  /** null when the buffer held only whole valid batches. */
  tail: DecodeTail | null;
}

/** Shared by every record without headers: one allocation fewer per record. Never mutated. */
const NO_HEADERS: RecordHeader[] = Object.freeze([]) as unknown as RecordHeader[];

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * Decodes every whole batch in `buf`. It never throws on bad bytes: a truncated last batch
 * (normal at the end of a fetch) or a corrupt one ends decoding and is reported in `tail`,
 * with every batch before it returned.
 */
export function decodeRecordBatches(buf: Uint8Array): DecodeResult {
  const batches: DecodedBatch[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const header = newBatchHeader();
    const problem = checkBatch(buf, pos, buf.length, header);
    if (problem !== null) return { batches, validBytes: pos, tail: { ...problem, position: pos } };
    try {
      batches.push(decodeValidBatch(buf, pos, header));
    } catch (err) {
      return { batches, validBytes: pos, tail: { kind: 'corrupt', message: (err as Error).message, position: pos } };
    }
    pos += header.sizeInBytes;
  }
  return { batches, validBytes: pos, tail: null };
}

/** Builds one record object from decoded fields: lets a caller skip an intermediate object. */
export type RecordFactory<T> = (
  offset: number,
  timestamp: number,
  key: Buffer | null,
  value: Buffer | null,
  headers: RecordHeader[],
) => T;

export const decodedRecord: RecordFactory<DecodedRecord> = (offset, timestamp, key, value, headers) => ({
  offset,
  timestamp,
  key,
  value,
  headers,
});

/** Decodes the records of a batch whose header and CRC were already checked; throws on malformed records. */
export function decodeValidBatch(buf: Uint8Array, pos: number, header: RecordBatchHeader): DecodedBatch {
  return {
    header,
    compression: compressionName(compressionOf(header)),
    records: decodeBatchRecords(buf, pos, header, decodedRecord),
  };
}

/** The records of a checked batch, each built by `make`, in offset order. */
export function decodeBatchRecords<T>(
  buf: Uint8Array,
  pos: number,
  header: RecordBatchHeader,
  make: RecordFactory<T>,
): T[] {
  const code = compressionOf(header);
  const section = buf.subarray(pos + RECORD_BATCH_OVERHEAD, pos + header.sizeInBytes);
  const data = asBuffer(code === 0 ? section : decompress(code, section));
  const cursor = new Cursor(data, 0, data.length);
  const logAppendTime = isLogAppendTime(header);
  const records: T[] = new Array<T>(header.recordCount);
  for (let i = 0; i < header.recordCount; i++) {
    const length = cursor.readVarint();
    const end = cursor.pos + length;
    if (length < 0 || end > data.length)
      throw new Error(`record ${i} of ${length} bytes runs past the end of its batch`);
    cursor.readInt8(); // record attributes: unused
    const timestampDelta = cursor.readVarint();
    const offsetDelta = cursor.readVarint();
    const key = readNullableBytes(cursor, data);
    const value = readNullableBytes(cursor, data);
    const headerCount = cursor.readVarint();
    if (headerCount < 0) throw new Error(`record ${i} has a negative header count`);
    const headers: RecordHeader[] = headerCount === 0 ? NO_HEADERS : [];
    for (let h = 0; h < headerCount; h++) {
      const keyLen = cursor.readVarint();
      const hkey = cursor.readBytes(keyLen);
      headers.push({ key: asBuffer(hkey).toString('utf8'), value: readNullableBytes(cursor, data) });
    }
    if (cursor.pos !== end)
      throw new Error(`record ${i} declares ${length} bytes but its fields take ${cursor.pos - end + length}`);
    records[i] = make(
      header.baseOffset + offsetDelta,
      logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    );
  }
  if (cursor.pos !== data.length)
    throw new Error(`${data.length - cursor.pos} bytes follow the last record of the batch`);
  return records;
}

function readNullableBytes(cursor: Cursor, data: Buffer): Buffer | null {
  const len = cursor.readVarint();
  if (len === -1) return null;
  const start = cursor.pos;
  cursor.readBytes(len);
  return data.subarray(start, start + len);
}
