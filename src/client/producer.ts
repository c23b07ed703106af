/**
 * The producer. Records are encoded straight into a per-partition RecordBatch builder; a batch
 * closes when it reaches batchSize or lingerMs passes; closed batches are grouped by leader into
 * one ProduceRequest per broker. One batch per partition is in flight at a time, so a retry
 * never reorders a partition; requests per broker are bounded by maxInFlight.
 */
import { MillraceError } from '../../protocol/errors.js';
import { RecordBatchBuilder, type RecordHeader, type RecordInput } from '../../protocol/records/index.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { maxPayload } from '../transport/connection.js';
import { publish, request } from '../transport/rpc.js';
import { needsMetadataRefresh, type ClientContext } from './context.js';
import { whileBrokerAlive } from './liveness.js';
import { defaultPartitioner, type Partitioner } from './partitioners.js';
import type { HeadersInput, Message, ProducerOptions, RecordMetadata } from './types.js';

/** Stays under NATS's default max_payload with room for the request envelope. */
const MAX_BATCH_BYTES = 1024 * 1024 - 1024;
const REQUEST_ENVELOPE_BYTES = 4 * 1024;

class PendingSend {
  remaining: number;
  failed = false;
  readonly results: RecordMetadata[];
  constructor(
    count: number,
    readonly resolve: (r: RecordMetadata[]) => void,
    readonly reject: (e: Error) => void,
  ) {
    this.remaining = count;
    this.results = new Array<RecordMetadata>(count);
  }
}

class ProducerBatch {
  readonly builder: RecordBatchBuilder;
  readonly sends: PendingSend[] = [];
  readonly slots: number[] = [];
  readonly timestamps: number[] = [];
  built: Buffer | null = null;
  attempts = 0;
  notBefore = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly createdAt: number,
    compression: ProducerOptions['compression'],
    capacity: number,
  ) {
    this.builder = new RecordBatchBuilder({ compression: compression ?? 'none', initialCapacity: capacity });
  }
}

interface PartitionQueue {
  topic: string;
  partition: number;
  open: ProducerBatch | null;
  ready: ProducerBatch[];
  inflight: boolean;
}

function toBuffer(v: Buffer | string | null | undefined, what: string): Buffer | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new MillraceError('INVALID_RECORD', `${what} must be a Buffer, a string or null`);
}

/** An upper bound on the bytes a record adds to a batch (varint overheads included). */
function approximateSize(r: RecordInput): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0) + 32;
  for (const h of r.headers ?? []) n += Buffer.byteLength(h.key) + (h.value?.length ?? 0) + 10;
  return n;
}

const NO_HEADERS: RecordHeader[] = Object.freeze([]) as unknown as RecordHeader[];

function toHeaders(h: HeadersInput | undefined): RecordHeader[] {
  if (!h) return NO_HEADERS;
  const entries = Array.isArray(h) ? h.map((e) => [e.key, e.value] as const) : Object.entries(h);
  return entries.map(([key, value]) => ({ key, value: toBuffer(value, `header '${key}'`) }));
}

export class Producer {
  /** Per topic, the queue of each partition (indexed by partition: no key string per record). */
  private readonly queues = new Map<string, PartitionQueue[]>();
  private readonly sticky = new Map<string, number>();
  private readonly inflightByBroker = new Map<number, number>();
  private readonly acks: number;
  private readonly opts: Required<Omit<ProducerOptions, 'partitioner' | 'compression' | 'acks'>>;
  private readonly partitioner: Partitioner;
  private lingerTimer: NodeJS.Timeout | null = null;
  private drainScheduled = false;
  private outstanding = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly ctx: ClientContext,
    private readonly options: ProducerOptions = {},
  ) {
    const acks = options.acks ?? 'all';
    this.acks = acks === 'all' ? -1 : acks;
    if (![0, 1, -1].includes(this.acks))
      throw new MillraceError('INVALID_REQUIRED_ACKS', `acks must be 0, 1, -1 or 'all', got ${String(acks)}`);
    this.opts = {
      lingerMs: options.lingerMs ?? 5,
      batchSize: Math.min(options.batchSize ?? 16_384, MAX_BATCH_BYTES),
      maxInFlight: options.maxInFlight ?? 5,
      retries: options.retries ?? Number.MAX_SAFE_INTEGER,
      retryBackoffMs: options.retryBackoffMs ?? 100,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? 120_000,
    };
    this.partitioner = options.partitioner ?? defaultPartitioner;
  }

  /** Sends messages to a topic; resolves with each message's partition and offset once acknowledged. */
  async send(record: { topic: string; messages: Message[] }): Promise<RecordMetadata[]> {
    if (this.closed) throw new MillraceError('INVALID_REQUEST', 'the producer is closed');
    const { topic, messages } = record;
    if (typeof topic !== 'string' || topic.length === 0)
      throw new MillraceError('INVALID_TOPIC_EXCEPTION', 'send needs a topic name');
    if (!Array.isArray(messages) || messages.length === 0)
      throw new MillraceError('INVALID_REQUEST', 'send needs at least one message');
    const partitions = await this.ctx.retry(() => this.ctx.metadata.partitionsOf(topic), this.opts.deliveryTimeoutMs);
    const count = partitions.length;
    return new Promise<RecordMetadata[]>((resolve, reject) => {
      const pending = new PendingSend(messages.length, resolve, reject);
      try {
        const now = Date.now();
        // Resolve and check every message before appending any, so a bad one sends none.
        const resolved = messages.map((m, i) => {
          const timestamp = m.timestamp instanceof Date ? m.timestamp.getTime() : (m.timestamp ?? now);
          const input: RecordInput = {
            key: toBuffer(m.key, 'key'),
            value: toBuffer(m.value, 'value'),
            headers: toHeaders(m.headers),
          };
          const partition =
            m.partition ??
            this.partitioner({ topic, key: input.key as Buffer | null, partitionCount: count }) ??
            this.stickyPartition(topic, count);
          if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
            throw new MillraceError(
              'UNKNOWN_TOPIC_OR_PARTITION',
              `message ${i}: partition ${partition} is not in 0..${count - 1} of '${topic}'`,
            );
          }
          return { input, partition, timestamp, size: approximateSize(input) };
        });
        const tooLarge = resolved.findIndex((r) => r.size > MAX_BATCH_BYTES - 61);
        if (tooLarge >= 0) {
          throw new MillraceError(
            'MESSAGE_TOO_LARGE',
            `message ${tooLarge} of about ${resolved[tooLarge]!.size} bytes exceeds the largest batch of ${MAX_BATCH_BYTES} bytes`,
          );
        }
        resolved.forEach((r, i) => this.append(topic, r.partition, r.input, r.timestamp, r.size, pending, i));
      } catch (err) {
        pending.failed = true;
        reject(err as Error);
      }
      this.scheduleDrain();
    });
  }

  private stickyPartition(topic: string, count: number): number {
    let p = this.sticky.get(topic);
    if (p === undefined || p >= count) {
      p = Math.floor(Math.random() * count);
      this.sticky.set(topic, p);
    }
    return p;
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
    const q = this.queueFor(topic, partition);
    if (q.open && q.open.builder.sizeInBytes + approx > MAX_BATCH_BYTES) this.closeBatch(q);
    if (!q.open)
      q.open = new ProducerBatch(
        topic,
        partition,
        Date.now(),
        this.options.compression,
        Math.min(this.opts.batchSize + 1024, MAX_BATCH_BYTES),
      );
    const batch = q.open;
    batch.builder.append(input, timestamp);
    batch.sends.push(send);
    batch.slots.push(slot);
    batch.timestamps.push(timestamp);
    this.outstanding++;
    if (batch.builder.sizeInBytes >= this.opts.batchSize) this.closeBatch(q);
    else if (!this.lingerTimer) this.lingerTimer = setTimeout(() => this.lingerExpired(), this.opts.lingerMs);
  }

  private closeBatch(q: PartitionQueue): void {
    const batch = q.open;
    if (!batch) return;
    q.open = null;
    batch.built = batch.builder.build();
    q.ready.push(batch);
    // Keyless records move on to another partition once their batch is full (KIP-480).
    if (this.sticky.get(q.topic) === q.partition) this.sticky.delete(q.topic);
    this.scheduleDrain();
  }

  private lingerExpired(): void {
    this.lingerTimer = null;
    const now = Date.now();
    let pendingOpen = false;
    for (const q of this.allQueues()) {
      if (!q.open) continue;
      if (now - q.open.createdAt >= this.opts.lingerMs) this.closeBatch(q);
      else pendingOpen = true;
    }
    if (pendingOpen) this.lingerTimer = setTimeout(() => this.lingerExpired(), this.opts.lingerMs);
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
    for (const q of this.allQueues()) {
      if (q.inflight) continue;
      for (const batch of q.ready.splice(0).reverse()) this.retryOrFail(batch, e);
    }
    if (e.retriable) this.scheduleDrain(this.opts.retryBackoffMs);
  }

  private async drain(): Promise<void> {
    if (!this.hasSendableBatch()) return;
    const nc = await this.ctx.connection();
    const limit = maxPayload(nc) - REQUEST_ENVELOPE_BYTES;
    const now = Date.now();
    const byLeader = new Map<number, ProducerBatch[]>();
    const bytes = new Map<number, number>();
    let missingLeader = false;
    let earliestRetry = Infinity;
    for (const q of this.allQueues()) {
      const batch = q.ready[0];
      if (!batch || q.inflight) continue;
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
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), batch]);
      q.inflight = true;
      q.ready.shift();
    }
    for (const [leader, batches] of byLeader) void this.sendTo(leader, batches);
    if (missingLeader) {
      this.ctx.metadata.refresh().catch(() => undefined);
      this.scheduleDrain(this.opts.retryBackoffMs);
    } else if (earliestRetry < Infinity) this.scheduleDrain(earliestRetry);
  }

  private queueFor(topic: string, partition: number): PartitionQueue {
    let byPartition = this.queues.get(topic);
    if (!byPartition) {
      byPartition = [];
      this.queues.set(topic, byPartition);
    }
    let q = byPartition[partition];
    if (!q) {
      q = { topic, partition, open: null, ready: [], inflight: false };
      byPartition[partition] = q;
    }
    return q;
  }

  private queueOf(batch: ProducerBatch): PartitionQueue {
    return this.queueFor(batch.topic, batch.partition);
  }

  private hasSendableBatch(): boolean {
    for (const q of this.allQueues()) if (q.ready.length > 0 && !q.inflight) return true;
    return false;
  }

  private *allQueues(): Generator<PartitionQueue> {
    for (const byPartition of this.queues.values()) for (const q of byPartition) if (q) yield q;
  }

  private async sendTo(leader: number, batches: ProducerBatch[]): Promise<void> {
    this.inflightByBroker.set(leader, (this.inflightByBroker.get(leader) ?? 0) + 1);
    const topics = new Map<string, Array<{ partition: number; records: Buffer }>>();
    for (const b of batches)
      topics.set(b.topic, [...(topics.get(b.topic) ?? []), { partition: b.partition, records: b.built! }]);
    const message = {
      acks: this.acks,
      timeoutMs: this.ctx.requestTimeoutMs,
      topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
    };
    const subject = subjects.brokerApi(this.ctx.cluster, leader, 'produce');
    try {
      const nc = await this.ctx.connection();
      if (this.acks === 0) {
        publish(nc, subject, wire.ProduceRequest, message);
        for (const b of batches) this.complete(b, -1);
        return;
      }
      const res = await whileBrokerAlive(
        this.ctx,
        leader,
        request(nc, subject, wire.ProduceRequest, message, wire.ProduceResponse, this.ctx.requestTimeoutMs),
      );
      const results = new Map<string, { errorCode: number; errorMessage: string; baseOffset: number }>();
      for (const t of res.topics)
        for (const p of t.partitions ?? [])
          results.set(`${t.name}\u0000${p.partition ?? 0}`, {
            errorCode: p.errorCode ?? 0,
            errorMessage: p.errorMessage ?? '',
            baseOffset: Number(p.baseOffset ?? -1),
          });
      for (const b of batches) {
        const r = results.get(`${b.topic}\u0000${b.partition}`);
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
      const e =
        err instanceof MillraceError ? err : new MillraceError('NETWORK_EXCEPTION', String((err as Error).message));
      for (const b of batches) this.retryOrFail(b, e);
    } finally {
      this.inflightByBroker.set(leader, (this.inflightByBroker.get(leader) ?? 1) - 1);
      for (const b of batches) this.queueOf(b).inflight = false;
      this.scheduleDrain();
    }
  }

  private retryOrFail(batch: ProducerBatch, err: MillraceError): void {
    batch.attempts++;
    const expired = Date.now() - batch.createdAt >= this.opts.deliveryTimeoutMs;
    if (err.retriable && batch.attempts <= this.opts.retries && !expired) {
      if (needsMetadataRefresh(err)) this.ctx.metadata.refresh().catch(() => undefined);
      // Leadership moves resolve within a metadata refresh: retry those quickly (Kafka: retry.backoff.ms 100).
      const cap = needsMetadataRefresh(err) ? 250 : 1_000;
      batch.notBefore = Date.now() + Math.min(this.opts.retryBackoffMs * 2 ** Math.min(batch.attempts - 1, 5), cap);
      this.queueOf(batch).ready.unshift(batch);
      return;
    }
    const final =
      expired && err.retriable
        ? new MillraceError(
            'REQUEST_TIMED_OUT',
            `not acknowledged within delivery.timeout.ms (${this.opts.deliveryTimeoutMs} ms): ${err.message}`,
          )
        : err;
    for (const send of new Set(batch.sends)) {
      if (!send.failed) {
        send.failed = true;
        send.reject(final);
      }
    }
    this.settle(batch.sends.length);
  }

  private complete(batch: ProducerBatch, baseOffset: number): void {
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
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    for (const q of this.allQueues()) this.closeBatch(q);
    if (this.outstanding === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
