/**
 * Records read in place. A RecordView holds one record's offset, timestamp and the positions of
 * its key, value and headers in its batch's records section; readers reuse one view from record
 * to record, so walking a batch allocates nothing per record. Key, value and headers become
 * Buffers (views, not copies) only when asked for.
 */
import type { RecordBatchHeader } from './batch.js';
import { Cursor, VarintError } from './varint.js';

const EMPTY = Buffer.alloc(0);

export class RecordView {
  /** The records section the positions below point into. */
  buffer: Buffer = EMPTY;
  offset = 0;
  timestamp = 0;
  /** -1 for a null key. */
  keyLength = -1;
  keyOffset = 0;
  /** -1 for a null value (a tombstone). */
  valueLength = -1;
  valueOffset = 0;
  headerCount = 0;
  /** Where the headers start, for headers(). */
  headersOffset = 0;

  key(): Buffer | null {
    return this.keyLength < 0 ? null : this.buffer.subarray(this.keyOffset, this.keyOffset + this.keyLength);
  }

  value(): Buffer | null {
    return this.valueLength < 0 ? null : this.buffer.subarray(this.valueOffset, this.valueOffset + this.valueLength);
  }

  /** The headers by key (a later header of the same key wins), decoded on each call. */
  headers(): Record<string, Buffer | null> {
    const out: Record<string, Buffer | null> = {};
    if (this.headerCount === 0) return out;
    const c = new Cursor(this.buffer, this.headersOffset, this.buffer.length);
    for (let h = 0; h < this.headerCount; h++) {
      const keyLen = c.readVarint();
      const key = this.buffer.toString('utf8', c.pos, c.pos + keyLen);
      c.skip(keyLen);
      const len = c.readVarint();
      out[key] = len < 0 ? null : this.buffer.subarray(c.pos, c.pos + len);
      if (len > 0) c.skip(len);
    }
    return out;
  }
}

/** What a record's offset and timestamp are relative to: its batch header's fields. */
export interface RecordBase {
  baseOffset: number;
  baseTimestamp: number;
  /** LogAppendTime batches give every record the batch's max timestamp. */
  logAppendTime: boolean;
  maxTimestamp: number;
}

export function recordBase(header: RecordBatchHeader, logAppendTime: boolean): RecordBase {
  return {
    baseOffset: header.baseOffset,
    baseTimestamp: header.baseTimestamp,
    logAppendTime,
    maxTimestamp: header.maxTimestamp,
  };
}

/**
 * Reads the record at the cursor's position into `view` and leaves the cursor after it. Throws
 * VarintError on a record that runs past its section or whose fields do not fill its length.
 */
export function readRecord(c: Cursor, base: RecordBase, view: RecordView): void {
  const length = c.readVarint();
  const end = c.pos + length;
  if (length < 0 || end > c.end) throw new VarintError(`record of ${length} bytes runs past the end of its batch`);
  c.readInt8(); // record attributes: unused
  const timestampDelta = c.readVarint();
  const offsetDelta = c.readVarint();
  view.buffer = c.buf as Buffer;
  view.offset = base.baseOffset + offsetDelta;
  view.timestamp = base.logAppendTime ? base.maxTimestamp : base.baseTimestamp + timestampDelta;
  view.keyLength = nullableLength(c);
  view.keyOffset = c.pos;
  if (view.keyLength > 0) c.skip(view.keyLength);
  view.valueLength = nullableLength(c);
  view.valueOffset = c.pos;
  if (view.valueLength > 0) c.skip(view.valueLength);
  view.headerCount = c.readVarint();
  if (view.headerCount < 0) throw new VarintError(`record at offset ${view.offset} has a negative header count`);
  view.headersOffset = c.pos;
  for (let h = 0; h < view.headerCount; h++) {
    c.skip(c.readVarint());
    const len = nullableLength(c);
    if (len > 0) c.skip(len);
  }
  if (c.pos !== end)
    throw new VarintError(
      `record at offset ${view.offset} declares ${length} bytes but its fields take ${c.pos - end + length}`,
    );
}

/** A length that may be -1 (null) but no lower. */
function nullableLength(c: Cursor): number {
  const n = c.readVarint();
  if (n < -1) throw new VarintError(`negative length ${n}`);
  return n;
}

/** Moves the cursor past the record at its position without reading its fields; returns its offset delta. */
export function skipRecord(c: Cursor): number {
  const length = c.readVarint();
  const start = c.pos;
  if (length < 0 || start + length > c.end)
    throw new VarintError(`record of ${length} bytes runs past the end of its batch`);
  c.readInt8();
  c.readVarint();
  const offsetDelta = c.readVarint();
  c.pos = start + length;
  return offsetDelta;
}
