/**
 * The producer's engine (Kafka's accumulator and sender in one). Records are encoded straight into a per-partition RecordBatch builder; a batch
 * closes when it reaches batchSize or lingerMs passes; ready batches are grouped by leader into
 * one ProduceRequest per broker (one batch per partition each); requests per broker are bounded
 * by maxInFlight.
 *
 * Idempotent (the default with acks=all, as Kafka's since 3.0): the producer gets a producer id
 * and numbers each partition's batches with sequences when it first sends them, so up to five
 * batches per partition are in flight and the leader drops retried duplicates and refuses gaps.
 * A retry goes out only when nothing earlier of its partition is in flight, so retries keep
 * order. When a partition's sequence cannot continue (the broker forgot the producer, or a batch
 * failed for good), the partition moves to the next producer epoch and re-numbers from 0 (KIP-360).
 * Without idempotence one batch per partition is in flight, so retries never reorder either.
 *
 * Transactional (a transactionalId): the id and epoch come from the transaction coordinator
 * (producer-txn.ts) and are the same for every partition; a partition's first batch of a
 * transaction waits until the partition was added to it; a batch that fails for good fails the
 * transaction (it must be aborted) instead of moving to a new epoch locally.
 */
import { MillraceError } from '../../protocol/errors.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { maxPayload } from '../transport/connection.js';
import { publish } from '../transport/rpc.js';
import { callBroker, needsMetadataRefresh, type ClientContext } from './context.js';
import { whileBrokerAlive } from './liveness.js';
import { defaultPartitioner, type Partitioner } from './partitioners.js';
import {
  MAX_BATCH_BYTES,
  PartitionQueues,
  PendingSend,
  ProducerBatch,
  REQUEST_ENVELOPE_BYTES,
  requeue,
  resolveMessages,
  type PartitionQueue,
} from './producer-batch.js';
import { SEQUENCE_ERRORS, assignSequence, sequenceBroken, startNewEpoch, withinWindow } from './producer-sequence.js';
import type { RecordInput } from '../../protocol/records/index.js';
import { codecsReady } from '../../protocol/records/compression.js';
import type { Message, ProducerOptions, RecordMetadata } from './types.js';
import { TransactionManager, isFatalTxnError } from './producer-txn.js';
import { producerSettings, type ProducerSettings } from './producer-config.js';
import { tpKey } from '../../protocol/topic-partition.js';

export class ProducerEngine {
  private readonly partitions = new PartitionQueues(() => ({
    producerId: this.producerId,
    producerEpoch: Math.max(this.txn?.producerEpoch ?? 0, 0),
  }));
  /** The transaction side of a transactional producer; null otherwise. */
  readonly txn: TransactionManager | null;
  private readonly inflightByBroker = new Map<number, number>();
  private readonly opts: ProducerSettings;
  readonly idempotent: boolean;
  private producerId = -1;
  private initializing: Promise<void> | null = null;
  private metadataChain: Promise<unknown> = Promise.resolve();
  private metadataWaits = 0;
  private readonly partitioner: Partitioner;
  /** Cancels the pending linger check; null when none is pending. */
  private lingerCancel: (() => void) | null = null;
  private drainScheduled = false;
  private outstanding = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  /** zstd's codec loading, awaited by sends until it is done. */
  private codecs: Promise<void> | null;

  constructor(
    private readonly ctx: ClientContext,
    private readonly options: ProducerOptions<unknown, unknown> = {},
  ) {
    this.opts = producerSettings(options);
    this.idempotent = this.opts.idempotent;
    this.partitioner = options.partitioner ?? defaultPartitioner;
    this.txn = options.transactionalId
      ? new TransactionManager(
          ctx,
          options.transactionalId,
          options.transactionTimeoutMs ?? 60_000,
          this.opts.deliveryTimeoutMs,
        )
      : null;
    this.codecs =
      options.compression === 'zstd'
        ? codecsReady().then(() => {
            this.codecs = null;
          })
        : null;
  }

  /** Resolves once the client's connection is open (for the connect event). */
  async connected(): Promise<void> {
    await this.ctx.connection();
  }

  /** Sends messages to a topic; resolves with each message's partition and offset once acknowledged. */
  async send(record: { topic: string; messages: Message[] }): Promise<RecordMetadata[]> {
    if (this.closed) throw new MillraceError('INVALID_REQUEST', 'the producer is closed');
    const { topic, messages } = record;
    if (typeof topic !== 'string' || topic.length === 0)
      throw new MillraceError('INVALID_TOPIC_EXCEPTION', 'send needs a topic name');
    if (!Array.isArray(messages) || messages.length === 0)
      throw new MillraceError('INVALID_REQUEST', 'send needs at least one message');
    if (this.codecs) await this.codecs;
    const known = this.metadataWaits === 0 ? this.ctx.metadata.partitions(topic) : undefined;
    const count = (
      known ??
      (await this.afterEarlierSends(() =>
        this.ctx.retry(() => this.ctx.metadata.partitionsOf(topic), this.opts.deliveryTimeoutMs),
      ))
    ).length;
    return new Promise<RecordMetadata[]>((resolve, reject) => {
      const pending = new PendingSend(messages.length, resolve, reject);
      try {
        const resolved = resolveMessages(
          topic,
          messages,
          count,
          (key) => this.partitioner({ topic, key, partitionCount: count }) ?? this.partitions.sticky(topic, count),
        );
        resolved.forEach((r, i) => this.append(topic, r.partition, r.input, r.timestamp, r.size, pending, i));
      } catch (err) {
        pending.failed = true;
        reject(err as Error);
      }
      this.scheduleDrain();
    });
  }

  /**
   * Runs a send's metadata wait after those of earlier sends, so records are appended in the
   * order send() was called even when some had to wait for metadata (as Kafka's send does).
   */
  private async afterEarlierSends<T>(wait: () => Promise<T>): Promise<T> {
    this.metadataWaits++;
    const result = this.metadataChain.then(wait);
    this.metadataChain = result.catch(() => undefined);
    try {
      return await result;
    } finally {
      this.metadataWaits--;
    }
  }

  private append(
    topic: string,
    partition: number,
    input: RecordInput,
    timestamp: number,
    approx: number,
    send: PendingSend,
    slot: number,
  ): void {
    const q = this.partitions.queue(topic, partition);
    if (q.open && q.open.builder.sizeInBytes + approx > MAX_BATCH_BYTES) this.closeBatch(q);
    if (!q.open)
      q.open = new ProducerBatch(
        topic,
        partition,
        q.opened++,
        Date.now(),
        this.options.compression,
        Math.min(this.opts.batchSize + 1024, MAX_BATCH_BYTES),
        this.txn !== null,
      );
    const batch = q.open;
    batch.builder.append(input, timestamp);
    batch.sends.push(send);
    batch.slots.push(slot);
    batch.timestamps.push(timestamp);
    this.outstanding++;
    if (batch.builder.sizeInBytes >= this.opts.batchSize) this.closeBatch(q);
    else if (!this.lingerCancel) this.armLinger();
  }

  private closeBatch(q: PartitionQueue): void {
    const batch = q.open;
    if (!batch) return;
    q.open = null;
    batch.built = batch.builder.build();
    q.ready.push(batch);
    this.partitions.unstick(q);
    this.scheduleDrain();
  }

  private lingerExpired(): void {
    this.lingerCancel = null;
    const now = Date.now();
    let pendingOpen = false;
    for (const q of this.partitions.all()) {
      if (!q.open) continue;
      if (now - q.open.createdAt >= this.opts.lingerMs) this.closeBatch(q);
      else pendingOpen = true;
    }
    if (pendingOpen) this.armLinger();
  }

  /**
   * Checks open batches after linger.ms. With linger.ms 0 that is once the current tick is over
   * (the records of one send() still share a batch), not after a timer: Node's shortest timer is
   * a millisecond, which every send would wait out.
   */
  private armLinger(): void {
    if (this.opts.lingerMs > 0) {
      const timer = setTimeout(() => this.lingerExpired(), this.opts.lingerMs);
      this.lingerCancel = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.lingerExpired());
      this.lingerCancel = () => clearImmediate(immediate);
    }
  }

  private scheduleDrain(delayMs = 0): void {
    if (delayMs > 0) {
      setTimeout(() => this.scheduleDrain(), delayMs).unref();
      return;
    }
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain().catch((err: unknown) => this.drainFailed(err));
    });
  }

  /** No connection to send on: every waiting batch is retried or failed by its delivery timeout. */
  private drainFailed(err: unknown): void {
    const e =
      err instanceof MillraceError
        ? err
        : new MillraceError('NETWORK_EXCEPTION', String((err as Error)?.message ?? err));
    for (const q of this.partitions.all()) for (const batch of q.ready.splice(0)) this.retryOrFail(batch, e);
    if (e.retriable) this.scheduleDrain(this.opts.retryBackoffMs);
  }

  /** Gets this producer's id from a broker (InitProducerId), once; batches wait for it. */
  private initProducerId(): void {
    if (this.txn) {
      void this.initTransactions().catch(() => undefined);
      return;
    }
    this.initializing ??= this.ctx
      .retry(async () => {
        const broker = await this.ctx.metadata.anyBroker();
        return callBroker(
          this.ctx,
          broker,
          'init_producer_id',
          wire.InitProducerIdRequest,
          {},
          wire.InitProducerIdResponse,
        );
      }, this.opts.deliveryTimeoutMs)
      .then(
        (res) => {
          this.producerId = res.producerId;
          for (const q of this.partitions.all()) if (q.producerId < 0) q.producerId = res.producerId;
        },
        (err: unknown) => this.drainFailed(err),
      )
      .finally(() => {
        this.initializing = null;
        this.scheduleDrain();
      });
  }

  /** A transactional producer's id and epoch from its coordinator (fencing earlier producers of the id). */
  initTransactions(): Promise<void> {
    const txn = this.txn!;
    this.initializing ??= txn
      .init()
      .then(() => {
        this.producerId = txn.producerId;
        this.partitions.adopt(txn.producerId, txn.producerEpoch);
      })
      .finally(() => {
        this.initializing = null;
        this.scheduleDrain();
      });
    return this.initializing;
  }

  /** Commits the open transaction: every record sent is acknowledged first; a failed one fails the commit. */
  async commitTransaction(): Promise<void> {
    const txn = this.txn!;
    await this.flush();
    txn.check(true);
    await txn.end(true);
    this.partitions.adopt(txn.producerId, txn.producerEpoch);
  }

  /** Aborts the open transaction: records not sent yet fail, those in flight are waited for. */
  async abortTransaction(): Promise<void> {
    const txn = this.txn!;
    txn.check(false);
    const aborted = new MillraceError(
      'TRANSACTION_ABORTABLE',
      'the transaction was aborted before this record was sent',
    );
    this.lingerCancel?.();
    this.lingerCancel = null;
    for (const q of this.partitions.all()) {
      this.closeBatch(q);
      for (const batch of q.ready.splice(0)) this.fail(batch, aborted);
    }
    await this.flush();
    await txn.end(false);
    this.partitions.adopt(txn.producerId, txn.producerEpoch);
  }

  /**
   * The next batch of a partition that may go now, or null. Idempotent: up to five from the
   * oldest unacknowledged one;
   * a retry (it has a sequence) only once nothing earlier is in flight; a new epoch only once
   * nothing is. Otherwise one batch at a time.
   */
  private sendable(q: PartitionQueue): ProducerBatch | null {
    const batch = q.ready[0];
    if (!batch) return null;
    if (!this.idempotent) return q.inflight.length === 0 ? batch : null;
    const failure = this.txn ? (this.txn.fatal ?? this.txn.error) : null;
    if (failure) {
      // The transaction (or the producer) failed: what waits fails with it, nothing more is sent.
      for (const b of q.ready.splice(0)) this.fail(b, failure);
      return null;
    }
    if (q.producerId < 0) {
      this.initProducerId();
      return null;
    }
    if (this.txn && !this.txn.isAdded(q.topic, q.partition)) {
      this.txn.add(q.topic, q.partition, () => this.scheduleDrain());
      return null;
    }
    if (q.needsNewEpoch) {
      if (q.inflight.length > 0) return null;
      // Epochs exhausted: a fresh producer id starts again at epoch 0.
      if (startNewEpoch(q)) this.producerId = -1;
    }
    if (batch.baseSequence >= 0) return q.inflight.length === 0 ? batch : null;
    return withinWindow(q, batch, this.opts.maxInFlight) ? batch : null;
  }

  private assignSequence(q: PartitionQueue, batch: ProducerBatch): void {
    if (this.idempotent) assignSequence(q, batch);
  }

  private async drain(): Promise<void> {
    const nc = await this.ctx.connection();
    const limit = maxPayload(nc) - REQUEST_ENVELOPE_BYTES;
    const now = Date.now();
    const byLeader = new Map<number, ProducerBatch[]>();
    const bytes = new Map<number, number>();
    let missingLeader = false;
    let earliestRetry = Infinity;
    let more = false;
    for (const q of this.partitions.all()) {
      const batch = this.sendable(q);
      if (!batch) continue;
      if (batch.notBefore > now) {
        earliestRetry = Math.min(earliestRetry, batch.notBefore - now);
        continue;
      }
      const leader = this.ctx.metadata.leader(q.topic, q.partition);
      if (leader < 0) {
        missingLeader = true;
        continue;
      }
      if ((this.inflightByBroker.get(leader) ?? 0) >= this.opts.maxInFlight) continue;
      const size = batch.built!.length;
      const used = bytes.get(leader) ?? 0;
      if (used > 0 && used + size > limit) continue;
      bytes.set(leader, used + size);
      let batches = byLeader.get(leader);
      if (!batches) byLeader.set(leader, (batches = []));
      batches.push(batch);
      this.assignSequence(q, batch);
      q.inflight.push(batch);
      q.ready.shift();
      if (q.ready.length > 0) more = true;
    }
    for (const [leader, batches] of byLeader) void this.sendTo(leader, batches);
    // One batch per partition per request: a partition with more waiting goes in the next round.
    if (more && byLeader.size > 0) this.scheduleDrain();
    if (missingLeader) {
      this.ctx.metadata.refresh().catch(() => undefined);
      this.scheduleDrain(this.opts.retryBackoffMs);
    } else if (earliestRetry < Infinity) this.scheduleDrain(earliestRetry);
  }

  private async sendTo(leader: number, batches: ProducerBatch[]): Promise<void> {
    this.inflightByBroker.set(leader, (this.inflightByBroker.get(leader) ?? 0) + 1);
    const topics = new Map<string, Array<{ partition: number; records: Buffer }>>();
    for (const b of batches)
      topics.set(b.topic, [...(topics.get(b.topic) ?? []), { partition: b.partition, records: b.built! }]);
    const message = {
      acks: this.opts.acks,
      transactionalId: this.txn?.transactionalId ?? '',
      timeoutMs: this.ctx.requestTimeoutMs,
      topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
    };
    const subject = subjects.brokerApi(this.ctx.cluster, leader, 'produce');
    try {
      const nc = await this.ctx.connection();
      if (this.opts.acks === 0) {
        publish(nc, subject, wire.ProduceRequest, message);
        for (const b of batches) this.complete(b, -1);
        return;
      }
      const res = await whileBrokerAlive(
        this.ctx,
        leader,
        callBroker(this.ctx, leader, 'produce', wire.ProduceRequest, message, wire.ProduceResponse),
      );
      const results = new Map<string, { errorCode: number; errorMessage: string; baseOffset: number }>();
      for (const t of res.topics)
        for (const p of t.partitions ?? [])
          results.set(tpKey(t.name, p.partition ?? 0), {
            errorCode: p.errorCode ?? 0,
            errorMessage: p.errorMessage ?? '',
            baseOffset: Number(p.baseOffset ?? -1),
          });
      for (const b of batches) {
        const r = results.get(tpKey(b.topic, b.partition));
        if (!r)
          this.retryOrFail(
            b,
            new MillraceError(
              'UNKNOWN_SERVER_ERROR',
              `no result for ${b.topic}-${b.partition} in the produce response`,
            ),
          );
        else if (r.errorCode) this.retryOrFail(b, MillraceError.fromCode(r.errorCode, r.errorMessage));
        else this.complete(b, r.baseOffset);
      }
    } catch (err) {
      const e = MillraceError.from(err, 'NETWORK_EXCEPTION');
      for (const b of batches) this.retryOrFail(b, e);
    } finally {
      this.inflightByBroker.set(leader, (this.inflightByBroker.get(leader) ?? 1) - 1);
      this.scheduleDrain();
    }
  }

  /** A batch's reply (or failure) arrived: it is no longer in flight. */
  private landed(batch: ProducerBatch): PartitionQueue {
    const q = this.partitions.queue(batch.topic, batch.partition);
    const i = q.inflight.indexOf(batch);
    if (i >= 0) q.inflight.splice(i, 1);
    return q;
  }

  private retryOrFail(batch: ProducerBatch, err: MillraceError): void {
    const q = this.landed(batch);
    let retriable = err.retriable;
    // Sequence errors are the idempotent producer's to repair: retried, after a new epoch where
    // needed. A transaction's are not: its epoch is the coordinator's, and the transaction fails.
    if (this.txn && (SEQUENCE_ERRORS.has(err.errorName) || isFatalTxnError(err))) retriable = false;
    else if (this.idempotent && SEQUENCE_ERRORS.has(err.errorName)) {
      if (sequenceBroken(q, batch, err)) q.needsNewEpoch = true;
      retriable = true;
    }
    batch.attempts++;
    const expired = Date.now() - batch.createdAt >= this.opts.deliveryTimeoutMs;
    if (retriable && batch.attempts <= this.opts.retries && !expired) {
      if (needsMetadataRefresh(err)) this.ctx.metadata.refresh().catch(() => undefined);
      // Leadership moves resolve within a metadata refresh: retry those quickly (Kafka: retry.backoff.ms 100).
      const cap = needsMetadataRefresh(err) ? 250 : 1_000;
      batch.notBefore = Date.now() + Math.min(this.opts.retryBackoffMs * 2 ** Math.min(batch.attempts - 1, 5), cap);
      requeue(q.ready, batch);
      return;
    }
    // A numbered batch that fails for good leaves a gap the batches after it cannot cross.
    if (batch.baseSequence >= 0 && !this.txn) q.needsNewEpoch = true;
    const final =
      expired && retriable
        ? new MillraceError(
            'REQUEST_TIMED_OUT',
            `not acknowledged within delivery.timeout.ms (${this.opts.deliveryTimeoutMs} ms): ${err.message}`,
          )
        : err;
    this.txn?.batchFailed(final);
    this.fail(batch, final);
  }

  /** Fails every send a batch holds records of. */
  private fail(batch: ProducerBatch, final: MillraceError): void {
    for (const send of new Set(batch.sends)) {
      if (!send.failed) {
        send.failed = true;
        send.reject(final);
      }
    }
    this.settle(batch.sends.length);
  }

  private complete(batch: ProducerBatch, baseOffset: number): void {
    this.landed(batch);
    const metrics = this.ctx.metrics;
    if (metrics) {
      const labels = { client_id: this.ctx.clientId, topic: batch.topic };
      metrics.recordsSent.inc(labels, batch.sends.length);
      metrics.bytesSent.inc(labels, batch.built?.length ?? 0);
    }
    for (let i = 0; i < batch.sends.length; i++) {
      const send = batch.sends[i]!;
      send.results[batch.slots[i]!] = {
        topic: batch.topic,
        partition: batch.partition,
        offset: baseOffset < 0 ? -1n : BigInt(baseOffset + i),
        timestamp: batch.timestamps[i]!,
      };
      if (--send.remaining === 0 && !send.failed) send.resolve(send.results);
    }
    this.settle(batch.sends.length);
  }

  private settle(records: number): void {
    this.outstanding -= records;
    if (this.outstanding === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Sends every buffered record now and resolves when all are acknowledged or failed. */
  async flush(): Promise<void> {
    this.lingerCancel?.();
    this.lingerCancel = null;
    for (const q of this.partitions.all()) this.closeBatch(q);
    if (this.outstanding === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
