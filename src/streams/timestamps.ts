/**
 * Timestamp extractors, as Kafka Streams' TimestampExtractor: the time a source record counts at
 * (windows, joins, stream time). The default takes the record's own timestamp and fails on an
 * invalid (negative) one; a per-source extractor (`Consumed.timestampExtractor`) overrides the
 * instance's default (`defaultTimestampExtractor`). An extractor that returns a negative time
 * drops the record, as Kafka drops it.
 */
import { MillraceError } from '../../protocol/errors.js';

/** A source record as an extractor sees it: deserialized, with where it came from. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: number;
  key: unknown;
  value: unknown;
  /** The record's own timestamp (CreateTime or LogAppendTime). */
  timestamp: number;
}

/** `partitionTime`: the largest time extracted from the record's partition so far (-1 before the first). */
export type TimestampExtractor = (record: ConsumedRecord, partitionTime: number) => number;

/** Kafka's default, FailOnInvalidTimestamp: the record's timestamp; a negative one fails the thread. */
export const failOnInvalidTimestamp: TimestampExtractor = (record) => {
  if (record.timestamp < 0)
    throw new MillraceError(
      'INVALID_RECORD',
      `record ${record.topic}-${record.partition}@${record.offset} has the invalid timestamp ${record.timestamp}: ` +
        'give the source a timestampExtractor (e.g. logAndSkipOnInvalidTimestamp) to go on',
    );
  return record.timestamp;
};

/** Kafka's LogAndSkipOnInvalidTimestamp: a record with a negative timestamp is dropped. */
export const logAndSkipOnInvalidTimestamp: TimestampExtractor = (record) => record.timestamp;

/** Kafka's UsePartitionTimeOnInvalidTimestamp: a negative timestamp becomes the partition's time. */
export const usePartitionTimeOnInvalidTimestamp: TimestampExtractor = (record, partitionTime) => {
  if (record.timestamp >= 0) return record.timestamp;
  if (partitionTime < 0)
    throw new MillraceError(
      'INVALID_RECORD',
      `record ${record.topic}-${record.partition}@${record.offset} has the invalid timestamp ${record.timestamp} and its partition no time yet`,
    );
  return partitionTime;
};

/** Kafka's WallclockTimestampExtractor: processing time instead of event time. */
export const wallclockTimestampExtractor: TimestampExtractor = () => Date.now();
