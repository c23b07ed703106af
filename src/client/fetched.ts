/**
 * What a consumer has fetched for one partition and not yet handed out, kept as the fetched
 * batches themselves: each batch is checked (length, magic, CRC-32C) and decompressed once when
 * it arrives, and its records are read in place only when the application takes them. A batch
 * handed to `eachBatch` reads its records from those buffers through one reused RecordView
 * (`batch.records()`), and makes message objects only if `batch.messages` is read.
 */
import { MillraceError } from '../../protocol/errors.js';
import {
  Cursor,
  RECORD_BATCH_OVERHEAD,
  RecordView,
  checkBatch,
  compressionOf,
  decompress,
  isControlBatch,
  isLogAppendTime,
  isTransactional,
  newBatchHeader,
  readMarker,
  type RecordBatchHeader,
  readRecord,
  recordBase,
  skipRecord,
  type RecordBase,
} from '../../protocol/records/index.js';
import { asBuffer } from '../transport/rpc.js';
import type { Deserializers } from './serializers.js';
import type { ConsumerBatch, ConsumerMessage, OffsetReset } from './types.js';

/** What the consumer knows of one assigned partition: its position, its fetch, its buffer. */
export interface PartitionState {
  topic: string;
  partition: number;
  /** Next offset to fetch; null until resolved from `seekTo`, or else `reset`. */
  position: number | null;
  /** auto.offset.reset: where to start without a position, and after OFFSET_OUT_OF_RANGE. */
  reset: OffsetReset;
  /** A one-off seek to the beginning or end, pending its ListOffsets. */
  seekTo: 'earliest' | 'latest' | null;
  paused: boolean;
  buffer: PartitionBuffer;
  highWatermark: number;
  /** Bumped by seek/assign: replies to older fetches are dropped. */
  generation: number;
  /** The generation its fetch in flight was sent for; -1 when none is. */
  fetchingGeneration: number;
  /** The offset after the last message the application finished: what a commit records. */
  consumed: number | null;
  retryAt: number;
  /** A handler has its records: no other gets the partition until it returns. */
  inHandler: boolean;
}

export function newPartitionState(topic: string, partition: number, reset: OffsetReset): PartitionState {
  return {
    topic,
    partition,
    position: null,
    reset,
    seekTo: null,
    paused: false,
    buffer: new PartitionBuffer(),
    highWatermark: -1,
    generation: 0,
    fetchingGeneration: -1,
    consumed: null,
    retryAt: 0,
    inHandler: false,
  };
}

/** One fetched record batch: its records section, and how far it has been handed out. */
interface PendingBatch {
  base: RecordBase;
  data: Buffer;
  /** Position and count of the records not handed out yet. */
  pos: number;
  remaining: number;
  /** The batch's last offset (base offset + last offset delta). */
  lastOffset: number;
}

/** A run of consecutive records of one batch, handed out together. */
interface RecordRun {
  base: RecordBase;
  data: Buffer;
  pos: number;
  count: number;
}

/** Shared by every message without headers. Never mutated. */
const NO_HEADERS: Record<string, Buffer | null> = Object.freeze({}) as Record<string, Buffer | null>;

const corrupt = (where: string, err: unknown): MillraceError =>
  err instanceof MillraceError ? err : new MillraceError('CORRUPT_MESSAGE', `${where}: ${(err as Error).message}`);

/** The aborted transactions a read_committed fetch was told of: producer id and first offset. */
export type AbortedList = ReadonlyArray<{ producerId?: number | null; firstOffset?: number | null }>;

/**
 * Kafka's consumer rule for read_committed: a producer's transactional batches are skipped from
 * an aborted transaction's first offset until its abort marker.
 */
class AbortedBatches {
  private readonly pending: Array<{ producerId: number; firstOffset: number }>;
  private readonly aborting = new Set<number>();

  constructor(aborted: AbortedList) {
    this.pending = aborted
      .map((a) => ({ producerId: Number(a.producerId ?? -1), firstOffset: Number(a.firstOffset ?? 0) }))
      .sort((a, b) => a.firstOffset - b.firstOffset);
  }

  skips(buf: Buffer, pos: number, h: RecordBatchHeader): boolean {
    if (!isTransactional(h)) return false;
    const last = h.baseOffset + h.lastOffsetDelta;
    while (this.pending.length > 0 && this.pending[0]!.firstOffset <= last)
      this.aborting.add(this.pending.shift()!.producerId);
    if (isControlBatch(h)) {
      if (readMarker(buf, pos, h)?.type === 'ABORT') this.aborting.delete(h.producerId);
      return true;
    }
    return this.aborting.has(h.producerId);
  }
}

export class PartitionBuffer {
  private batches: PendingBatch[] = [];
  private head = 0;
  /**
   * Offsets skipped right after the last record buffered (markers, aborted transactions):
   * [skippedFrom, skippedTo). Finishing the record before them finishes them too, so a commit
   * records the position past a transaction's marker, as Kafka's consumer does.
   */
  private skippedFrom = -1;
  private skippedTo = -1;
  /** Bytes fetched into this buffer since it was last empty: what pauses fetching when full. */
  bytes = 0;

  get isEmpty(): boolean {
    return this.head >= this.batches.length;
  }

  clear(): void {
    this.batches = [];
    this.head = 0;
    this.bytes = 0;
    this.skippedFrom = this.skippedTo = -1;
  }

  /** The offset after `offset` once it is finished: past the skipped offsets that follow it. */
  after(offset: number): number {
    return this.skippedFrom === offset + 1 ? this.skippedTo : offset + 1;
  }

  /** Skipped offsets a finished position `consumed` may move past, when nothing is buffered before them. */
  skippedAt(consumed: number): number {
    return this.isEmpty && this.skippedFrom === consumed ? this.skippedTo : consumed;
  }

  private skipped(base: number, end: number): void {
    if (this.skippedTo !== base) this.skippedFrom = base;
    this.skippedTo = end;
  }

  /**
   * Adds the whole batches of a fetch reply, copied once: the reply's bytes are a view into
   * nats.js's buffers, which it may write over later (its DenoBuffer grows a split message by
   * reslicing the underlying ArrayBuffer from offset 0). Skips the records before `from` (a
   * reply's first batch may start earlier). Returns the offset after the last whole batch, or null
   * when the reply held none. Throws CORRUPT_MESSAGE for a batch that fails its checks or whose
   * records do not parse.
   */
  add(records: Uint8Array, from: number, where: string, aborted: AbortedList | null = null): number | null {
    const data = Buffer.allocUnsafe(records.length);
    data.set(records);
    const header = newBatchHeader();
    const skip = aborted ? new AbortedBatches(aborted) : null;
    let next: number | null = null;
    for (let pos = 0; pos < data.length; pos += header.sizeInBytes) {
      const problem = checkBatch(data, pos, data.length, header);
      if (problem?.kind === 'truncated') break;
      if (problem)
        throw new MillraceError(
          'CORRUPT_MESSAGE',
          `${where} at byte ${pos} of a fetch from offset ${from}: ${problem.message}`,
        );
      const lastOffset = header.baseOffset + header.lastOffsetDelta;
      next = lastOffset + 1;
      if (lastOffset < from) continue;
      // Markers are never records; under read_committed neither are aborted transactions' batches.
      if (skip?.skips(data, pos, header) || isControlBatch(header) || header.recordCount === 0) {
        this.skipped(Math.max(header.baseOffset, from), next);
        continue;
      }
      try {
        const code = compressionOf(header);
        const section = data.subarray(pos + RECORD_BATCH_OVERHEAD, pos + header.sizeInBytes);
        const batch: PendingBatch = {
          base: recordBase(header, isLogAppendTime(header)),
          data: code === 0 ? section : asBuffer(decompress(code, section)),
          pos: 0,
          remaining: header.recordCount,
          lastOffset,
        };
        if (header.baseOffset < from) {
          const c = new Cursor(batch.data, 0, batch.data.length);
          for (let start = c.pos; batch.remaining > 0; start = c.pos) {
            if (batch.base.baseOffset + skipRecord(c) >= from) {
              batch.pos = start;
              break;
            }
            batch.remaining--;
          }
          if (batch.remaining === 0) continue;
        }
        this.batches.push(batch);
        this.skippedFrom = this.skippedTo = -1;
      } catch (err) {
        throw corrupt(`${where} batch at offset ${header.baseOffset}`, err);
      }
    }
    this.bytes += data.length;
    return next;
  }

  /** Takes up to `max` records in offset order; also returns how many and the last one's offset. */
  take(max: number, where: string): { runs: RecordRun[]; count: number; lastOffset: number } {
    const runs: RecordRun[] = [];
    let count = 0;
    let lastOffset = -1;
    while (count < max && this.head < this.batches.length) {
      const b = this.batches[this.head]!;
      const n = Math.min(max - count, b.remaining);
      runs.push({ base: b.base, data: b.data, pos: b.pos, count: n });
      count += n;
      if (n === b.remaining) {
        lastOffset = b.lastOffset;
        this.head++;
        continue;
      }
      // Part of a batch: find where the rest begins, and the last taken record's offset.
      try {
        const c = new Cursor(b.data, b.pos, b.data.length);
        for (let i = 0; i < n; i++) lastOffset = b.base.baseOffset + skipRecord(c);
        b.pos = c.pos;
        b.remaining -= n;
      } catch (err) {
        throw corrupt(`${where} batch at offset ${b.base.baseOffset}`, err);
      }
    }
    // Emptied: the skipped tail stays known, for when the records just taken are finished.
    if (this.isEmpty) {
      this.batches = [];
      this.head = 0;
      this.bytes = 0;
    }
    return { runs, count, lastOffset };
  }
}

/** A partition's records handed to the application at once (eachBatch, or one message). */
export class FetchedBatch implements ConsumerBatch {
  private decoded: ConsumerMessage[] | null = null;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly highWatermark: bigint,
    private readonly runs: RecordRun[],
    readonly recordCount: number,
    /** The offset of the last record (or of the end of its batch, past records compaction removed). */
    readonly last: number,
  ) {}

  /**
   * Deserializes the messages' keys and values in place (null stays null); returns a promise only
   * when a deserializer answered with one.
   */
  deserialize(deserializers: Deserializers<unknown, unknown>): Promise<void> | undefined {
    const { key: keys, value: values } = deserializers;
    const pending: Array<Promise<unknown>> = [];
    for (const m of this.messages as Array<ConsumerMessage<unknown, unknown>>) {
      if (keys && m.key !== null) {
        const key = keys.deserialize(m.key as Buffer, { topic: this.topic, part: 'key', headers: m.headers });
        if (key instanceof Promise) pending.push(key.then((k) => (m.key = k)));
        else m.key = key;
      }
      if (values && m.value !== null) {
        const value = values.deserialize(m.value as Buffer, { topic: this.topic, part: 'value', headers: m.headers });
        if (value instanceof Promise) pending.push(value.then((v) => (m.value = v)));
        else m.value = value;
      }
    }
    return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined;
  }

  isEmpty(): boolean {
    return this.recordCount === 0;
  }

  firstOffset(): bigint | null {
    const first = this.records().next();
    return first.done ? null : BigInt(first.value.offset);
  }

  lastOffset(): bigint {
    return BigInt(this.last);
  }

  offsetLag(): bigint {
    const lag = this.highWatermark - BigInt(this.last) - 1n;
    return lag > 0n ? lag : 0n;
  }

  get messages(): ConsumerMessage[] {
    if (this.decoded) return this.decoded;
    const out = new Array<ConsumerMessage>(this.recordCount);
    let i = 0;
    const { topic, partition } = this;
    for (const r of this.records())
      out[i++] = {
        topic,
        partition,
        offset: BigInt(r.offset),
        timestamp: r.timestamp,
        key: r.key(),
        value: r.value(),
        headers: r.headerCount === 0 ? NO_HEADERS : r.headers(),
      };
    this.decoded = out;
    return out;
  }

  records(): IterableIterator<RecordView> {
    return new RecordIterator(this.runs, `${this.topic}-${this.partition}`);
  }
}

/** Walks runs of records with one view and one result object: nothing allocated per record. */
class RecordIterator implements IterableIterator<RecordView> {
  private readonly view = new RecordView();
  private readonly result: IteratorYieldResult<RecordView> = { done: false, value: this.view };
  private run = -1;
  private left = 0;
  private cursor: Cursor | null = null;

  constructor(
    private readonly runs: RecordRun[],
    private readonly where: string,
  ) {}

  next(): IteratorResult<RecordView> {
    while (this.left === 0) {
      const run = this.runs[++this.run];
      if (!run) return { done: true, value: undefined };
      this.cursor = new Cursor(run.data, run.pos, run.data.length);
      this.left = run.count;
    }
    const run = this.runs[this.run]!;
    try {
      readRecord(this.cursor!, run.base, this.view);
    } catch (err) {
      throw corrupt(`${this.where} batch at offset ${run.base.baseOffset}`, err);
    }
    this.left--;
    return this.result;
  }

  [Symbol.iterator](): IterableIterator<RecordView> {
    return this;
  }
}
