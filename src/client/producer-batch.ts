/**
 * What the producer accumulates: the pending send() calls, the batches being filled and sent, and
 * each partition's queue of them (its idempotence state included).
 */
import { MillraceError } from '../../protocol/errors.js';
import { RecordBatchBuilder, type RecordHeader, type RecordInput } from '../../protocol/records/index.js';
import type { HeadersInput, Message, ProducerOptions, RecordMetadata } from './types.js';

/** Stays under NATS's default max_payload with room for the request envelope. */
export const MAX_BATCH_BYTES = 1024 * 1024 - 1024;
export const REQUEST_ENVELOPE_BYTES = 4 * 1024;

export class PendingSend {
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

export class ProducerBatch {
  readonly builder: RecordBatchBuilder;
  readonly sends: PendingSend[] = [];
  readonly slots: number[] = [];
  readonly timestamps: number[] = [];
  built: Buffer | null = null;
  attempts = 0;
  notBefore = 0;
  /** Idempotence: the sequence of its first record, set when first sent; -1 before. */
  baseSequence = -1;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** Close order within its partition: queues are kept in this order. */
    readonly order: number,
    readonly createdAt: number,
    compression: ProducerOptions['compression'],
    capacity: number,
    transactional = false,
  ) {
    this.builder = new RecordBatchBuilder({
      compression: compression ?? 'none',
      initialCapacity: capacity,
      transactional,
    });
  }
}

export interface PartitionQueue {
  topic: string;
  partition: number;
  open: ProducerBatch | null;
  /** Waiting to be sent, in close order (so retries come before fresh batches). */
  ready: ProducerBatch[];
  inflight: ProducerBatch[];
  opened: number;
  /** Idempotence: the id and epoch this partition's batches carry, and the next sequence. */
  producerId: number;
  producerEpoch: number;
  nextSequence: number;
  /** Set when the sequence cannot continue: the next send starts a new epoch at sequence 0. */
  needsNewEpoch: boolean;
}

/** Inserts a batch into a queue kept in close order. */
export function requeue(ready: ProducerBatch[], batch: ProducerBatch): void {
  let i = 0;
  while (i < ready.length && ready[i]!.order < batch.order) i++;
  ready.splice(i, 0, batch);
}

export function toBuffer(v: Buffer | string | null | undefined, what: string): Buffer | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new MillraceError('INVALID_RECORD', `${what} must be a Buffer, a string or null`);
}

/** An upper bound on the bytes a record adds to a batch (varint overheads included). */
export function approximateSize(r: RecordInput): number {
  const v = r.value;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: exact lengths only for long texts, where it matters.
  const valueBytes = typeof v === 'string' ? (v.length > 4096 ? Buffer.byteLength(v) : v.length * 3) : (v?.length ?? 0);
  let n = (r.key?.length ?? 0) + valueBytes + 32;
  for (const h of r.headers ?? []) n += Buffer.byteLength(h.key) + (h.value?.length ?? 0) + 10;
  return n;
}

const NO_HEADERS: RecordHeader[] = Object.freeze([]) as unknown as RecordHeader[];

export function toHeaders(h: HeadersInput | undefined): RecordHeader[] {
  if (!h) return NO_HEADERS;
  const entries = Array.isArray(h) ? h.map((e) => [e.key, e.value] as const) : Object.entries(h);
  return entries.map(([key, value]) => ({ key, value: toBuffer(value, `header '${key}'`) }));
}

/** A message ready to append: its record, partition, timestamp and approximate encoded size. */
export interface ResolvedMessage {
  input: RecordInput;
  partition: number;
  timestamp: number;
  size: number;
}

/**
 * Resolves and checks every message of a send before any is appended, so a bad one sends none:
 * keys, values and headers as bytes, the partition (given, or `pick` by key), the timestamp.
 */
export function resolveMessages(
  topic: string,
  messages: Message[],
  count: number,
  pick: (key: Buffer | null) => number,
): ResolvedMessage[] {
  const now = Date.now();
  const resolved = messages.map((m, i) => {
    const timestamp = m.timestamp instanceof Date ? m.timestamp.getTime() : (m.timestamp ?? now);
    const input: RecordInput = {
      key: toBuffer(m.key, 'key'),
      value: typeof m.value === 'string' ? m.value : toBuffer(m.value, 'value'),
      headers: toHeaders(m.headers),
    };
    const partition = m.partition ?? pick(input.key as Buffer | null);
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
  return resolved;
}

/** The producer's queue of each partition, and the partition keyless records stick to per topic. */
export class PartitionQueues {
  /** Per topic, indexed by partition: no key string per record. */
  private readonly queues = new Map<string, PartitionQueue[]>();
  private readonly stuck = new Map<string, number>();

  constructor(private readonly producer: () => { producerId: number; producerEpoch: number }) {}

  queue(topic: string, partition: number): PartitionQueue {
    let byPartition = this.queues.get(topic);
    if (!byPartition) {
      byPartition = [];
      this.queues.set(topic, byPartition);
    }
    let q = byPartition[partition];
    if (!q) {
      q = {
        topic,
        partition,
        open: null,
        ready: [],
        inflight: [],
        opened: 0,
        ...this.producer(),
        nextSequence: 0,
        needsNewEpoch: false,
      };
      byPartition[partition] = q;
    }
    return q;
  }

  *all(): Generator<PartitionQueue> {
    for (const byPartition of this.queues.values()) for (const q of byPartition) if (q) yield q;
  }

  /** Every partition takes a transaction's producer id and epoch; a changed epoch starts at sequence 0. */
  adopt(producerId: number, producerEpoch: number): void {
    for (const q of this.all()) {
      if (q.producerId === producerId && q.producerEpoch === producerEpoch) continue;
      q.producerId = producerId;
      q.producerEpoch = producerEpoch;
      q.nextSequence = 0;
      q.needsNewEpoch = false;
      for (const b of q.ready) b.baseSequence = -1;
    }
  }

  /** The partition keyless records of `topic` go to until its batch fills (KIP-480). */
  sticky(topic: string, count: number): number {
    let p = this.stuck.get(topic);
    if (p === undefined || p >= count) {
      p = Math.floor(Math.random() * count);
      this.stuck.set(topic, p);
    }
    return p;
  }

  /** The queue's batch is full: keyless records move on to another partition. */
  unstick(q: PartitionQueue): void {
    if (this.stuck.get(q.topic) === q.partition) this.stuck.delete(q.topic);
  }
}
