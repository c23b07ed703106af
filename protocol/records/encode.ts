import {
  ATTRIBUTES,
  BASE_SEQUENCE,
  BASE_TIMESTAMP,
  BATCH_LENGTH,
  COMPRESSION_MASK,
  CONTROL_MASK,
  CRC,
  CURRENT_MAGIC,
  LAST_OFFSET_DELTA,
  LOG_OVERHEAD,
  MAGIC,
  MAX_TIMESTAMP,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  PRODUCER_EPOCH,
  PRODUCER_ID,
  RECORD_BATCH_OVERHEAD,
  RECORD_COUNT,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_MASK,
  stampBatch,
  writeInt64,
} from './batch.js';
import { compress, compressionCode, type CompressionCode, type CompressionName } from './compression.js';
import { crc32c } from './crc32c.js';
import type { RecordInput } from './types.js';
import { varintSize, writeVarint } from './varint.js';

export interface BatchOptions {
  compression?: CompressionName | CompressionCode;
  baseOffset?: number;
  partitionLeaderEpoch?: number;
  /** Timestamps set by the broker (LogAppendTime) instead of the producer (CreateTime). */
  logAppendTime?: boolean;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  control?: boolean;
  /**
   * The batch's last offset delta when it must cover more offsets than its records (a batch the
   * log cleaner rewrote keeps its original offset range).
   */
  lastOffsetDelta?: number;
  /** Bytes reserved up front; the builder grows past it when needed. */
  initialCapacity?: number;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Builds one RecordBatch v2: records are written uncompressed as they are appended, and
 * `build()` compresses them and writes the header with its CRC-32C. A builder builds one batch.
 */
export class RecordBatchBuilder {
  private buf: Buffer;
  private pos = RECORD_BATCH_OVERHEAD;
  private count = 0;
  private baseTimestamp = 0;
  private maxTimestamp = -1;
  private lastDelta = -1;
  private readonly compression: CompressionCode;
  /** build() handed out the buffer: appending now would change a built batch. */
  private spent = false;

  constructor(private readonly options: BatchOptions = {}) {
    this.compression =
      typeof options.compression === 'string' ? compressionCode(options.compression) : (options.compression ?? 0);
    this.buf = Buffer.allocUnsafe(Math.max(options.initialCapacity ?? 1024, RECORD_BATCH_OVERHEAD + 64));
  }

  get recordCount(): number {
    return this.count;
  }

  /** Uncompressed size of the batch so far. */
  get sizeInBytes(): number {
    return this.pos;
  }

  /** Bytes the record would add (exact when it becomes the next record of this batch). */
  estimateRecordSize(record: RecordInput, timestamp: number): number {
    const body = this.bodySize(record, timestamp - (this.count === 0 ? timestamp : this.baseTimestamp), this.count);
    return varintSize(body) + body;
  }

  /** Appends a record; `offsetDelta` (increasing) leaves gaps, as in a compacted batch. */
  append(record: RecordInput, timestamp: number = record.timestamp ?? Date.now(), offsetDelta = this.count): void {
    if (this.spent) throw new RangeError('the batch was built: a builder builds one batch');
    if (offsetDelta <= this.lastDelta)
      throw new RangeError(`offset delta ${offsetDelta} does not follow ${this.lastDelta}`);
    if (this.count === 0) this.baseTimestamp = timestamp;
    const tsDelta = timestamp - this.baseTimestamp;
    const body = this.bodySize(record, tsDelta, offsetDelta);
    this.ensure(varintSize(body) + body);
    const buf = this.buf;
    let p = writeVarint(buf, this.pos, body);
    buf[p++] = 0; // record attributes: unused
    p = writeVarint(buf, p, tsDelta);
    p = writeVarint(buf, p, offsetDelta);
    p = writeBytesField(buf, p, record.key ?? null);
    const value = record.value;
    if (typeof value === 'string') {
      // Text goes straight into the batch: no Buffer made for it (the producer's string values).
      const len = utf8Length(value);
      p = writeVarint(buf, p, len);
      p += buf.write(value, p, len, 'utf8');
    } else p = writeBytesField(buf, p, value);
    const headers = record.headers ?? [];
    p = writeVarint(buf, p, headers.length);
    for (const h of headers) {
      const keyLen = utf8Length(h.key);
      p = writeVarint(buf, p, keyLen);
      p += buf.write(h.key, p, keyLen, 'utf8');
      p = writeBytesField(buf, p, h.value);
    }
    this.pos = p;
    this.count++;
    this.lastDelta = offsetDelta;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
  }

  /** The finished batch. The builder can be reused after `reset()`. */
  build(): Buffer {
    const o = this.options;
    const records = this.buf.subarray(RECORD_BATCH_OVERHEAD, this.pos);
    let out: Buffer;
    if (this.compression === 0) {
      // The builder's own buffer, not a copy: a builder is spent once built.
      out = this.buf.subarray(0, this.pos);
      this.spent = true;
    } else {
      const compressed = compress(this.compression, records);
      out = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + compressed.length);
      compressed.copy(out, RECORD_BATCH_OVERHEAD);
    }
    let attributes = this.compression & COMPRESSION_MASK;
    if (o.logAppendTime) attributes |= TIMESTAMP_TYPE_MASK;
    if (o.transactional) attributes |= TRANSACTIONAL_MASK;
    if (o.control) attributes |= CONTROL_MASK;
    stampBatch(out, 0, o.baseOffset ?? 0, o.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH);
    out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH);
    out.writeInt8(CURRENT_MAGIC, MAGIC);
    out.writeInt16BE(attributes, ATTRIBUTES);
    out.writeInt32BE(o.lastOffsetDelta ?? Math.max(this.lastDelta, 0), LAST_OFFSET_DELTA);
    writeInt64(out, BASE_TIMESTAMP, this.count === 0 ? -1 : this.baseTimestamp);
    writeInt64(out, MAX_TIMESTAMP, this.maxTimestamp);
    writeInt64(out, PRODUCER_ID, o.producerId ?? NO_PRODUCER_ID);
    out.writeInt16BE(o.producerEpoch ?? NO_PRODUCER_EPOCH, PRODUCER_EPOCH);
    out.writeInt32BE(o.baseSequence ?? NO_SEQUENCE, BASE_SEQUENCE);
    out.writeInt32BE(this.count, RECORD_COUNT);
    out.writeUInt32BE(crc32c(out.subarray(ATTRIBUTES)), CRC);
    return out;
  }

  reset(): void {
    this.pos = RECORD_BATCH_OVERHEAD;
    this.count = 0;
    this.maxTimestamp = -1;
    this.lastDelta = -1;
  }

  private bodySize(record: RecordInput, tsDelta: number, offsetDelta: number): number {
    let size = 1 + varintSize(tsDelta) + varintSize(offsetDelta);
    size += bytesFieldSize(record.key ?? null) + bytesFieldSize(record.value);
    const headers = record.headers ?? [];
    size += varintSize(headers.length);
    for (const h of headers) {
      const keyLen = utf8Length(h.key);
      size += varintSize(keyLen) + keyLen + bytesFieldSize(h.value);
    }
    return size;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

function bytesFieldSize(b: Uint8Array | string | null): number {
  if (b === null) return 1;
  const len = typeof b === 'string' ? utf8Length(b) : b.length;
  return varintSize(len) + len;
}

function writeBytesField(buf: Buffer, pos: number, b: Uint8Array | null): number {
  if (b === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

/** Encodes records as one batch. Records without a timestamp get `now`. */
export function encodeRecordBatch(
  records: readonly RecordInput[],
  options: BatchOptions = {},
  now = Date.now(),
): Buffer {
  const builder = new RecordBatchBuilder(options);
  for (const r of records) builder.append(r, r.timestamp ?? now);
  return builder.build();
}
