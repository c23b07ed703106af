/**
 * What the coordinators share about their internal topics (`__consumer_offsets`,
 * `__transaction_state`): created on first use through the controller, compacted, with as many
 * replicas as asked and live brokers allow; written by their partition leaders at acks=all.
 */
import type { Logger } from 'pino';
import { ErrorCodes, MillraceError } from '../../protocol/errors.js';
import { decodeRecordBatches, encodeRecordBatch, type DecodedBatch } from '../../protocol/records/index.js';
import type { Log } from '../storage/log.js';
import { wire } from '../../protocol/wire.js';
import type { ControllerClient } from '../cluster/controller-client.js';
import type { MetadataImage } from '../cluster/image.js';
import type { HostedPartition } from './hosted-partition.js';

/** A record of an internal topic; a null value is a tombstone. */
export interface InternalRecord {
  key: Buffer;
  value: Buffer | null;
}

export interface InternalTopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
}

/** Every internal topic keeps each key's latest record (compacted), in segments of 100 MiB as Kafka's. */
const INTERNAL_TOPIC_CONFIGS = { 'cleanup.policy': 'compact', 'segment.bytes': String(100 * 1024 * 1024) };

/** Creates an internal topic (once at a time per creator): a failure is logged, the caller's client retries. */
export class InternalTopicCreator {
  private creating: Promise<void> | null = null;

  constructor(
    private readonly spec: InternalTopicSpec,
    private readonly controller: ControllerClient,
    private readonly image: () => MetadataImage,
    private readonly logger: Logger,
  ) {}

  create(): Promise<void> {
    const { name, partitions, replicationFactor } = this.spec;
    this.creating ??= (async () => {
      const live = [...this.image().brokers.values()].filter((b) => !b.fenced && !b.shuttingDown).length;
      const rf = Math.max(1, Math.min(replicationFactor, live));
      if (rf < replicationFactor)
        this.logger.warn(
          { wanted: replicationFactor, live },
          `${name} created with fewer replicas than its replication factor setting: only ${live} live brokers`,
        );
      const res = await this.controller.call(
        'create_topics',
        wire.CreateTopicsRequest,
        { topics: [{ name, numPartitions: partitions, replicationFactor: rf, configs: INTERNAL_TOPIC_CONFIGS }] },
        wire.CreateTopicsResponse,
        30_000,
      );
      const r = res.results[0];
      if (r?.errorCode && r.errorCode !== ErrorCodes.TOPIC_ALREADY_EXISTS.code)
        this.logger.warn({ error: r.errorMessage }, `cannot create ${name}`);
    })()
      .catch((err: unknown) => this.logger.warn({ err }, `cannot create ${name}`))
      .finally(() => (this.creating = null));
    return this.creating;
  }
}

/**
 * Appends records to a coordinator's partition as its leader and waits for the in-sync replicas
 * (acks=all). Transactional offset commits pass their producer (the batch joins a transaction).
 */
export async function appendInternal(
  hp: HostedPartition,
  records: InternalRecord[],
  now: number,
  timeoutMs: number,
  producer?: { producerId: number; producerEpoch: number; baseSequence: number },
): Promise<number> {
  const { firstOffset, end } = appendInternalNow(hp, records, now, producer);
  await hp.awaitCommit(end, timeoutMs);
  return firstOffset;
}

/**
 * Appends without waiting for the replicas: for a record whose durability a later record's
 * commit implies (the log is a prefix: a record committed after it commits it too).
 */
export function appendInternalNow(
  hp: HostedPartition,
  records: InternalRecord[],
  now: number,
  producer?: { producerId: number; producerEpoch: number; baseSequence: number },
): { firstOffset: number; end: number } {
  if (hp.isr.length < hp.minInsync)
    throw new MillraceError('NOT_ENOUGH_REPLICAS', `${hp.topic}-${hp.partition} is below min.insync.replicas`);
  const batch = encodeRecordBatch(
    records.map((r) => ({ key: r.key, value: r.value, timestamp: now })),
    producer ? { ...producer, transactional: true } : {},
  );
  const info = hp.appendAsLeader(batch);
  hp.appended();
  return { firstOffset: info.firstOffset, end: info.lastOffset + 1 };
}

/**
 * Replays a coordinator partition batch by batch from its log start, in chunks that yield to the
 * event loop; false when `stale()` says the partition moved meanwhile (the replay is then void).
 */
export async function replayInternal(
  log: Log,
  stale: () => boolean,
  visit: (batch: DecodedBatch, fromOffset: number) => void,
): Promise<boolean> {
  let next = log.logStartOffset;
  while (next < log.logEndOffset) {
    if (stale()) return false;
    const { records } = log.read(next, 1024 * 1024, log.logEndOffset);
    if (records.length === 0) break;
    for (const batch of decodeRecordBatches(records).batches) {
      visit(batch, next);
      next = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return !stale();
}

/** A coordinator's write that failed, as its client must see it: find the coordinator again, or retry. */
export function coordinatorWriteError(err: unknown): MillraceError {
  const e = MillraceError.from(err);
  if (['NOT_ENOUGH_REPLICAS', 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'REQUEST_TIMED_OUT'].includes(e.errorName))
    return new MillraceError('COORDINATOR_NOT_AVAILABLE', e.detail);
  if (['NOT_LEADER_OR_FOLLOWER', 'KAFKA_STORAGE_ERROR'].includes(e.errorName))
    return new MillraceError('NOT_COORDINATOR', e.detail);
  return e;
}
