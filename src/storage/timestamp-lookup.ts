/** ListOffsets by time over a log's segments (their time indexes), with Kafka's special timestamps. */
import { MillraceError } from '../../protocol/errors.js';
import type { LogSegment } from './segment.js';

/** ListOffsets special timestamps, as Kafka defines them. */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;
export const MAX_TIMESTAMP_LOOKUP = -3;

export interface TimestampOffset {
  offset: number;
  timestamp: number;
}

/**
 * The earliest offset whose timestamp is >= `timestamp`, or EARLIEST_TIMESTAMP, LATEST_TIMESTAMP
 * and MAX_TIMESTAMP_LOOKUP as Kafka defines them. Null when no record is that new.
 */
export function offsetForTimestamp(
  segments: readonly LogSegment[],
  logStart: number,
  logEnd: number,
  timestamp: number,
): TimestampOffset | null {
  if (timestamp === EARLIEST_TIMESTAMP) return { offset: logStart, timestamp: -1 };
  if (timestamp === LATEST_TIMESTAMP) return { offset: logEnd, timestamp: -1 };
  if (timestamp === MAX_TIMESTAMP_LOOKUP) {
    let best: TimestampOffset | null = null;
    for (const s of segments) {
      if (s.maxTimestamp >= 0 && (best === null || s.maxTimestamp > best.timestamp)) {
        best = { offset: s.offsetOfMaxTimestamp, timestamp: s.maxTimestamp };
      }
    }
    return best;
  }
  if (timestamp < 0)
    throw new MillraceError('INVALID_REQUEST', `timestamp ${timestamp} is not a time nor -1, -2 or -3`);
  for (const s of segments) {
    const found = s.findByTimestamp(timestamp);
    if (found !== null) return { offset: Math.max(found.offset, logStart), timestamp: found.timestamp };
  }
  return null;
}
