/**
 * The idempotent producer's sequences, per partition (KIP-98, KIP-360): numbering batches on their
 * first send, the window of batches in flight, and when a partition must move to a new epoch.
 */
import { stampProducer } from '../../protocol/records/index.js';
import type { MillraceError } from '../../protocol/errors.js';
import type { PartitionQueue, ProducerBatch } from './producer-batch.js';

/** What the broker remembers per producer (and Kafka's max.in.flight limit with idempotence). */
export const MAX_IN_FLIGHT_PER_PARTITION = 5;
const MAX_PRODUCER_EPOCH = 32_767;
const SEQUENCE_LIMIT = 2 ** 31;
export const SEQUENCE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

/**
 * Whether a new (unnumbered) batch fits the window. NATS replies are independent: a lost one does
 * not stop later ones, as a broken Kafka connection would. So the window runs from the oldest
 * unacknowledged batch, which must stay among the five the broker remembers for its retry to be
 * recognised.
 */
export function withinWindow(q: PartitionQueue, batch: ProducerBatch, maxInFlight: number): boolean {
  let oldest = batch.order;
  for (const b of q.inflight) oldest = Math.min(oldest, b.order);
  return batch.order - oldest < Math.min(MAX_IN_FLIGHT_PER_PARTITION, maxInFlight);
}

/** Numbers a batch on its first send: the sequence lives in its header (inside the CRC). */
export function assignSequence(q: PartitionQueue, batch: ProducerBatch): void {
  if (batch.baseSequence >= 0) return;
  batch.baseSequence = q.nextSequence;
  stampProducer(batch.built!, 0, q.producerId, q.producerEpoch, batch.baseSequence);
  q.nextSequence = (q.nextSequence + batch.sends.length) % SEQUENCE_LIMIT;
}

/**
 * Bumps the partition's epoch (locally, as Kafka's idempotent producer does) and re-numbers
 * waiting batches from 0. Returns true when epochs are exhausted and a new producer id is needed.
 */
export function startNewEpoch(q: PartitionQueue): boolean {
  q.needsNewEpoch = false;
  const exhausted = q.producerEpoch >= MAX_PRODUCER_EPOCH;
  if (exhausted) {
    q.producerId = -1;
    q.producerEpoch = 0;
  } else q.producerEpoch++;
  q.nextSequence = 0;
  for (const b of q.ready) b.baseSequence = -1;
  return exhausted;
}

/**
 * Idempotence errors that say the partition's sequence cannot continue as numbered: the broker
 * forgot this producer (UNKNOWN_PRODUCER_ID), saw a newer epoch, or saw a gap that no earlier
 * batch of ours explains. A gap behind an earlier batch that failed is just retried.
 */
export function sequenceBroken(q: PartitionQueue, batch: ProducerBatch, err: MillraceError): boolean {
  if (err.errorName !== 'OUT_OF_ORDER_SEQUENCE_NUMBER') return true;
  const earlier = (b: ProducerBatch): boolean => b.order < batch.order;
  return !q.inflight.some(earlier) && !q.ready.some(earlier);
}
