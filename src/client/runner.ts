/**
 * `consumer.run()`: hands fetched records to the application's eachMessage or eachBatch, on up to
 * `partitionsConsumedConcurrently` partitions at once (one handler call per partition at a time,
 * so order holds within each), with kafkajs's batch controls. A failing handler is retried from
 * the first record it did not finish, after a growing backoff, `retries` times; then the
 * consumer crashes (a `consumer.crash` event) and `restartOnFailure` decides whether it tries that
 * partition again or stops. A record is never skipped: only a finished or resolved record moves
 * the position a commit records.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { FetchedBatch, PartitionState } from './fetched.js';
import type { Position } from './group-offsets.js';
import { channels, traced, type BatchPayload, type ConsumerEvents, type Instrumentation } from './instrumentation.js';
import type { ClientContext } from './context.js';
import type {
  ConsumerBatch,
  ConsumerMessage,
  EachBatchPayload,
  OffsetsByTopic,
  RetryOptions,
  RunOptions,
} from './types.js';

/** One partition's records taken for a handler; the partition is the handler's until released. */
export interface Taken {
  batch: FetchedBatch;
  state: PartitionState;
  /** The partition's generation when taken: a seek or revocation since makes the batch stale. */
  generation: number;
}

/** What the runner needs of its consumer. */
export interface RunnerHost {
  readonly groupId: string | null;
  next(maxRecords: number): Promise<Taken | null>;
  release(taken: Taken): void;
  isStale(taken: Taken): boolean;
  /** Records the batch processed up to `offset` (inclusive), unless it is stale. */
  finish(taken: Taken, offset: number): void;
  /** Moves the partition back to `offset`, fetching again after `delayMs`. */
  retryFrom(taken: Taken, offset: number, delayMs: number): void;
  /** Brackets handler calls, for max.poll.interval.ms; `progress` restarts the clock. */
  handlerStarted(worker: number): void;
  handlerEnded(worker: number): void;
  heartbeat(worker: number): Promise<void>;
  commit(offsets?: Position[]): Promise<void>;
  commitIfDue(): Promise<void>;
  uncommitted(): Position[];
  pause(tp: { topic: string; partition: number }): () => void;
  isRunning(): boolean;
  stop(): Promise<void>;
  /** Deserializes the batch's messages ahead, when deserializers are set (they may be asynchronous). */
  prepare(batch: FetchedBatch): Promise<void> | undefined;
}

type Retry = Required<RetryOptions>;

export function retryPolicy(options: RetryOptions = {}): Retry {
  const policy: Retry = {
    retries: options.retries ?? 5,
    initialRetryTimeMs: options.initialRetryTimeMs ?? 300,
    maxRetryTimeMs: options.maxRetryTimeMs ?? 30_000,
    multiplier: options.multiplier ?? 2,
    restartOnFailure: options.restartOnFailure ?? (() => true),
  };
  if (!Number.isInteger(policy.retries) || policy.retries < 0)
    throw new MillraceError('INVALID_CONFIG', `retry.retries must be a non-negative integer, got ${policy.retries}`);
  if (!(policy.initialRetryTimeMs >= 0) || !(policy.maxRetryTimeMs >= policy.initialRetryTimeMs))
    throw new MillraceError('INVALID_CONFIG', 'retry times must satisfy 0 <= initialRetryTimeMs <= maxRetryTimeMs');
  if (!(policy.multiplier >= 1)) throw new MillraceError('INVALID_CONFIG', 'retry.multiplier must be at least 1');
  return policy;
}

/** The wait before retry `attempt` (1-based): exponential, capped, jittered by +-20%. */
export function backoffMs(policy: Retry, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.initialRetryTimeMs * policy.multiplier ** (attempt - 1), policy.maxRetryTimeMs);
  return Math.round(base * (0.8 + 0.4 * random()));
}

export const offsetsByTopic = (positions: Position[]): OffsetsByTopic => {
  const topics = new Map<string, Array<{ partition: number; offset: bigint }>>();
  for (const p of positions)
    topics.set(p.topic, [...(topics.get(p.topic) ?? []), { partition: p.partition, offset: BigInt(p.offset) }]);
  return { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) };
};

const positionsOf = (offsets: OffsetsByTopic): Position[] =>
  offsets.topics.flatMap((t) =>
    t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: Number(p.offset) })),
  );

export class Runner<K, V> {
  /** Failed attempts in a row per partition, reset when the partition makes progress. */
  private readonly failures = new Map<PartitionState, number>();
  private readonly concurrency: number;

  constructor(
    private readonly host: RunnerHost,
    private readonly ctx: ClientContext,
    private readonly events: Instrumentation<ConsumerEvents>,
    private readonly policy: Retry,
    private readonly handlers: RunOptions<K, V>,
  ) {
    if (!handlers.eachMessage && !handlers.eachBatch)
      throw new MillraceError('INVALID_REQUEST', 'run needs eachMessage or eachBatch');
    this.concurrency = handlers.partitionsConsumedConcurrently ?? 1;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new MillraceError('INVALID_CONFIG', 'partitionsConsumedConcurrently must be a positive integer');
  }

  /** Resolves when the consumer is closed; rejects with the error that stopped it. */
  async run(): Promise<void> {
    const workers = Array.from({ length: this.concurrency }, (_, id) => this.work(id));
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    this.events.emit('consumer.stop', {});
    if (failed) throw failed.reason;
  }

  private async work(worker: number): Promise<void> {
    const maxRecords = this.handlers.eachBatch ? 10_000 : 1_000;
    for (;;) {
      let taken: Taken | null;
      try {
        taken = await this.host.next(maxRecords);
      } catch (err) {
        // The consumer itself failed (no offset with autoOffsetReset 'none', authorization...).
        await this.crash(err as Error, false);
        throw err;
      }
      if (!taken) return;
      try {
        await this.handle(worker, taken);
      } finally {
        this.host.release(taken);
      }
    }
  }

  private async handle(worker: number, taken: Taken): Promise<void> {
    const { batch, state } = taken;
    const info = this.batchInfo(batch);
    const metrics = this.ctx.metrics;
    if (metrics) {
      const labels = { client_id: this.ctx.clientId, topic: batch.topic };
      metrics.recordsReceived.inc(labels, batch.recordCount);
      metrics.lag.set(
        { ...labels, group: this.host.groupId ?? '', partition: String(batch.partition) },
        Number(info.offsetLag),
      );
    }
    this.events.emit('consumer.start_batch_process', info);
    const started = Date.now();
    // Where a retry starts: the first record not finished (or resolved) yet.
    let resumeAt = info.firstOffset === null ? batch.last + 1 : Number(info.firstOffset);
    const finish = (offset: number): void => {
      this.host.finish(taken, offset);
      resumeAt = offset + 1;
    };
    this.host.handlerStarted(worker);
    try {
      const preparing = this.host.prepare(batch);
      if (preparing) await preparing;
      if (this.handlers.eachBatch) {
        const payload = this.batchPayload(worker, taken, finish);
        await traced(channels.process, { topic: batch.topic, partition: batch.partition, batch }, async () => {
          await this.handlers.eachBatch!(payload);
        });
        if ((this.handlers.eachBatchAutoResolve ?? true) && !this.host.isStale(taken)) finish(batch.last);
      } else {
        for (const message of batch.messages as Array<ConsumerMessage<K, V>>) {
          // Revoked or seeked meanwhile: the rest of the batch is no longer this member's to process.
          if (this.host.isStale(taken) || !this.host.isRunning()) break;
          await traced(channels.process, { topic: batch.topic, partition: batch.partition, message }, async () => {
            await this.handlers.eachMessage!({
              topic: batch.topic,
              partition: batch.partition,
              message,
              heartbeat: () => this.host.heartbeat(worker),
              pause: () => this.host.pause(batch),
            });
          });
          finish(Number(message.offset));
        }
      }
      this.failures.delete(state);
      this.events.emit('consumer.end_batch_process', { ...info, duration: Date.now() - started });
    } catch (err) {
      await this.failed(taken, resumeAt, err as Error);
    } finally {
      this.host.handlerEnded(worker);
    }
  }

  private batchInfo(batch: FetchedBatch): BatchPayload {
    return {
      topic: batch.topic,
      partition: batch.partition,
      highWatermark: batch.highWatermark,
      offsetLag: batch.offsetLag(),
      batchSize: batch.recordCount,
      firstOffset: batch.firstOffset(),
      lastOffset: batch.lastOffset(),
    };
  }

  private batchPayload(worker: number, taken: Taken, finish: (offset: number) => void): EachBatchPayload<K, V> {
    const { batch } = taken;
    return {
      batch: batch as unknown as ConsumerBatch<K, V>,
      resolveOffset: (offset) => {
        const n = Number(offset);
        if (!Number.isSafeInteger(n) || n < 0)
          throw new MillraceError('INVALID_REQUEST', `resolveOffset needs an offset, got ${String(offset)}`);
        if (!this.host.isStale(taken)) finish(n);
      },
      heartbeat: () => this.host.heartbeat(worker),
      commitOffsetsIfNecessary: (offsets) =>
        offsets ? this.host.commit(positionsOf(offsets)) : this.host.commitIfDue(),
      uncommittedOffsets: () => offsetsByTopic(this.host.uncommitted()),
      isRunning: () => this.host.isRunning(),
      isStale: () => this.host.isStale(taken),
      pause: () => this.host.pause(batch),
    };
  }

  /** A handler threw: retry the partition from `offset`, or crash. */
  private async failed(taken: Taken, offset: number, error: Error): Promise<void> {
    const { state } = taken;
    const where = { topic: state.topic, partition: state.partition, offset, err: error };
    // Revoked, seeked or closing: whoever reads the partition next starts from its position.
    if (this.host.isStale(taken) || !this.host.isRunning()) return;
    const attempt = (this.failures.get(state) ?? 0) + 1;
    if (attempt <= this.policy.retries) {
      this.failures.set(state, attempt);
      const delayMs = backoffMs(this.policy, attempt);
      this.ctx.logger.warn({ ...where, attempt, retries: this.policy.retries, delayMs }, 'handler failed; retrying');
      this.host.retryFrom(taken, offset, delayMs);
      return;
    }
    this.failures.delete(state);
    let restart: boolean;
    try {
      restart = await this.policy.restartOnFailure(error);
    } catch (err) {
      this.ctx.logger.error({ err }, 'restartOnFailure threw: the consumer stops');
      restart = false;
    }
    await this.crash(error, restart);
    if (!restart) throw error;
    this.host.retryFrom(taken, offset, this.policy.maxRetryTimeMs);
  }

  private async crash(error: Error, restart: boolean): Promise<void> {
    this.ctx.logger.error(
      { err: error, groupId: this.host.groupId, restart },
      restart ? 'the consumer crashed; restarting' : 'the consumer crashed and stops',
    );
    this.events.emit('consumer.crash', { error, groupId: this.host.groupId, restart });
    if (!restart) await this.host.stop();
  }
}
