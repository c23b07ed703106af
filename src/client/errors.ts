/**
 * The SDK's own errors: raised by the client, never sent by a broker. Each is a MillraceError
 * (so `errorName`, `code` and `retriable` read as every other error) with what the application
 * needs to recover, as Kafka's consumer exceptions carry their partitions.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { TopicPartition } from './assignors.js';

const list = (tps: TopicPartition[]): string => tps.map((tp) => `${tp.topic}-${tp.partition}`).join(', ');

/** autoOffsetReset is 'none' and these partitions have no committed offset (Kafka's NoOffsetForPartitionException). */
export class NoOffsetForPartitionError extends MillraceError {
  constructor(readonly partitions: TopicPartition[]) {
    super(
      'OFFSET_OUT_OF_RANGE',
      `no offset for ${list(partitions)} and autoOffsetReset is 'none': commit or seek an offset, or set autoOffsetReset to 'earliest' or 'latest'`,
    );
    this.name = 'NoOffsetForPartitionError';
  }
}

/** autoOffsetReset is 'none' and a partition's position is outside its log (Kafka's OffsetOutOfRangeException). */
export class OffsetOutOfRangeError extends MillraceError {
  constructor(
    readonly partition: TopicPartition,
    readonly offset: number,
    detail: string,
  ) {
    super(
      'OFFSET_OUT_OF_RANGE',
      `${list([partition])} has no offset ${offset} (${detail}) and autoOffsetReset is 'none': seek to a valid offset`,
    );
    this.name = 'OffsetOutOfRangeError';
  }
}
