import { z } from 'zod';

/** Kafka's "never" for flush.messages / flush.ms: Long.MAX_VALUE. Here: no explicit flush. */
const never = Number.POSITIVE_INFINITY;

/**
 * Per-log configuration with Kafka's topic-config defaults. -1 means unlimited for the
 * retention settings, as in Kafka.
 */
export const logConfigSchema = z
  .object({
    /** segment.bytes */
    segmentBytes: z
      .number()
      .int()
      .min(1024)
      .max(2 ** 31 - 1)
      .default(1024 * 1024 * 1024),
    /** segment.ms */
    segmentMs: z
      .number()
      .int()
      .positive()
      .default(7 * 24 * 3600 * 1000),
    /** segment.jitter.ms */
    segmentJitterMs: z.number().int().nonnegative().default(0),
    /** index.interval.bytes */
    indexIntervalBytes: z.number().int().nonnegative().default(4096),
    /** segment.index.bytes: rolls the segment when its offset index would pass this size. */
    segmentIndexBytes: z
      .number()
      .int()
      .min(8)
      .default(10 * 1024 * 1024),
    /** retention.ms (-1: forever) */
    retentionMs: z
      .number()
      .int()
      .min(-1)
      .default(7 * 24 * 3600 * 1000),
    /** retention.bytes (-1: unlimited) */
    retentionBytes: z.number().int().min(-1).default(-1),
    /** flush.messages: fsync after this many messages (default: never; replication is the durability). */
    flushMessages: z.number().positive().default(never),
    /** flush.ms: fsync when the oldest unflushed write is this old (default: never). */
    flushMs: z.number().positive().default(never),
    /** max.message.bytes: the largest record batch accepted. */
    maxMessageBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024 + 12),
    /** message.timestamp.type */
    messageTimestampType: z.enum(['CreateTime', 'LogAppendTime']).default('CreateTime'),
    /** cleanup.policy: delete old segments (retention), compact (keep the latest record per key), or both. */
    cleanupPolicy: z.enum(['delete', 'compact', 'compact,delete']).default('delete'),
    /** delete.retention.ms: how long a tombstone (null value) stays after it is written. */
    deleteRetentionMs: z
      .number()
      .int()
      .nonnegative()
      .default(24 * 3600 * 1000),
    /** min.cleanable.dirty.ratio: the share of uncleaned bytes that makes a log worth cleaning. */
    minCleanableDirtyRatio: z.number().min(0).max(1).default(0.5),
    /** min.compaction.lag.ms: records younger than this are not compacted yet. */
    minCompactionLagMs: z.number().int().nonnegative().default(0),
  })
  .strict();

export type LogConfig = z.infer<typeof logConfigSchema>;
export type LogConfigInput = z.input<typeof logConfigSchema>;

export function logConfig(input: LogConfigInput = {}): LogConfig {
  return logConfigSchema.parse(input);
}
