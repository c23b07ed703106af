/** Validation of batches before they are appended to a log (producer or follower). */
import { MillraceError } from '../../protocol/errors.js';
import { checkBatch, decodeValidBatch, newBatchHeader, readBatchHeader } from '../../protocol/records/index.js';
import type { LogConfig } from './config.js';

export interface LogAppendInfo {
  firstOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  offsetOfMaxTimestamp: number;
  /** The broker time stamped on the batches with LogAppendTime, else -1. */
  logAppendTime: number;
  batchCount: number;
  recordCount: number;
  sizeInBytes: number;
  /** An idempotent producer's retry of a batch already in the log: nothing was appended. */
  duplicate: boolean;
}

const scratch = newBatchHeader();

/** A compacted topic keeps the latest record per key: a record without a key has no place in it (as Kafka). */
export function requireKeys(records: Buffer, logName: string): void {
  for (let p = 0; p < records.length; p += scratch.sizeInBytes) {
    readBatchHeader(records, p, scratch);
    for (const r of decodeValidBatch(records, p, scratch).records) {
      if (r.key === null)
        throw new MillraceError(
          'INVALID_RECORD',
          `compacted topic ${logName} cannot accept a record without a key (offset delta ${r.offset - scratch.baseOffset})`,
        );
    }
  }
}

/**
 * Checks batches before an append, from their headers (records are never decoded): length,
 * magic, CRC-32C, sizes against the log's config, and for a producer's batches the record count;
 * for replicated batches, offsets that only go forward. Returns what the append will hold.
 */
export function validateBatches(records: Buffer, config: LogConfig, fromProducer: boolean): LogAppendInfo {
  if (records.length === 0) throw new MillraceError('INVALID_RECORD', 'no record batch in the request');
  if (records.length > config.segmentBytes) {
    throw new MillraceError(
      'RECORD_LIST_TOO_LARGE',
      `${records.length} bytes of batches exceed segment.bytes ${config.segmentBytes}`,
    );
  }
  const info: LogAppendInfo = {
    firstOffset: -1,
    lastOffset: -1,
    maxTimestamp: -1,
    offsetOfMaxTimestamp: -1,
    logAppendTime: -1,
    batchCount: 0,
    recordCount: 0,
    sizeInBytes: records.length,
    duplicate: false,
  };
  let previousLast = -1;
  for (let p = 0; p < records.length; p += scratch.sizeInBytes) {
    const problem = checkBatch(records, p, records.length, scratch);
    if (problem !== null) throw new MillraceError('CORRUPT_MESSAGE', `batch at byte ${p}: ${problem.message}`);
    if (scratch.sizeInBytes > config.maxMessageBytes) {
      throw new MillraceError(
        'MESSAGE_TOO_LARGE',
        `batch of ${scratch.sizeInBytes} bytes exceeds max.message.bytes ${config.maxMessageBytes}`,
      );
    }
    if (fromProducer && (scratch.recordCount === 0 || scratch.recordCount !== scratch.lastOffsetDelta + 1)) {
      throw new MillraceError(
        'INVALID_RECORD',
        `batch at byte ${p} holds ${scratch.recordCount} records but its last offset delta is ${scratch.lastOffsetDelta}`,
      );
    }
    const last = scratch.baseOffset + scratch.lastOffsetDelta;
    if (!fromProducer && (scratch.baseOffset <= previousLast || last < scratch.baseOffset)) {
      throw new MillraceError('INVALID_RECORD', `replicated batch offsets go backwards at ${scratch.baseOffset}`);
    }
    if (info.batchCount === 0) info.firstOffset = scratch.baseOffset;
    info.lastOffset = last;
    previousLast = last;
    if (scratch.maxTimestamp > info.maxTimestamp) {
      info.maxTimestamp = scratch.maxTimestamp;
      info.offsetOfMaxTimestamp = last;
    }
    info.batchCount++;
    info.recordCount += scratch.recordCount;
  }
  return info;
}
