/**
 * A producer's options checked and defaulted as Kafka's ProducerConfig does: acks, idempotence
 * (the default only where it can hold: acks=all) and what a transactional producer needs. A bad
 * combination is INVALID_CONFIG, said before anything is sent.
 */
import { MillraceError } from '../../protocol/errors.js';
import { MAX_BATCH_BYTES } from './producer-batch.js';
import { MAX_IN_FLIGHT_PER_PARTITION } from './producer-sequence.js';
import type { ProducerOptions } from './types.js';

export interface ProducerSettings {
  /** -1 (all), 0 or 1. */
  acks: number;
  idempotent: boolean;
  lingerMs: number;
  batchSize: number;
  maxInFlight: number;
  retries: number;
  retryBackoffMs: number;
  deliveryTimeoutMs: number;
}

export function producerSettings(options: ProducerOptions<unknown, unknown>): ProducerSettings {
  const asked = options.acks ?? 'all';
  const acks = asked === 'all' ? -1 : asked;
  if (![0, 1, -1].includes(acks))
    throw new MillraceError('INVALID_REQUIRED_ACKS', `acks must be 0, 1, -1 or 'all', got ${String(asked)}`);
  const idempotent = options.idempotent ?? acks === -1;
  if (
    options.transactionalId !== undefined &&
    (!idempotent || typeof options.transactionalId !== 'string' || !options.transactionalId)
  )
    throw new MillraceError(
      'INVALID_CONFIG',
      "a transactional producer needs a non-empty transactionalId, acks 'all' and idempotence",
    );
  if (idempotent && acks !== -1)
    throw new MillraceError('INVALID_CONFIG', `an idempotent producer needs acks 'all', got ${String(asked)}`);
  if (idempotent && options.maxInFlight !== undefined && options.maxInFlight > MAX_IN_FLIGHT_PER_PARTITION)
    throw new MillraceError(
      'INVALID_CONFIG',
      `an idempotent producer allows at most ${MAX_IN_FLIGHT_PER_PARTITION} requests in flight, got ${options.maxInFlight}`,
    );
  return {
    acks,
    idempotent,
    lingerMs: options.lingerMs ?? 5,
    batchSize: Math.min(options.batchSize ?? 16_384, MAX_BATCH_BYTES),
    maxInFlight: options.maxInFlight ?? 5,
    retries: options.retries ?? Number.MAX_SAFE_INTEGER,
    retryBackoffMs: options.retryBackoffMs ?? 100,
    deliveryTimeoutMs: options.deliveryTimeoutMs ?? 120_000,
  };
}
