/**
 * The tail cache (DESIGN.md section 3): the batches most recently appended to each log, kept in
 * memory so that tailing consumers and followers are served without a file read or a header
 * scan. Appends copy their batches into fixed-size slabs; every log's slabs come from one pool
 * bounded in bytes, and past it the oldest slab of any log is taken back and reused. A read
 * copies its batches out into a buffer of its own, as a file read would.
 *
 * Why copies and reused slabs rather than keeping the appended buffers: in Node, a buffer that
 * outlives two scavenges is promoted to the old generation and only a full mark-compact frees
 * its memory. Keeping every appended buffer for a while made the broker run a mark-compact every
 * few hundred milliseconds under load and cost a quarter of its replicated produce throughput
 * (measured: docs/architecture.md). Slabs allocated once and reused never become garbage, and a
 * read's copy dies young, as the buffer of a file read does. No reader ever holds slab memory,
 * so reusing a slab cannot change bytes anyone was handed.
 *
 * A truncation or a new start of a log drops its tail; a range the cleaner rewrote drops what
 * lies below it, so readers see the cleaned segment.
 */
import { newBatchHeader, readBatchHeader } from '../../protocol/records/index.js';

const scratch = newBatchHeader();
const EMPTY = Buffer.alloc(0);

/** Slabs are this big unless a batch is bigger (such a slab is used once, not pooled). */
export const SLAB_BYTES = 256 * 1024;

/** One batch's place in a slab. */
interface CachedBatch {
  baseOffset: number;
  lastOffset: number;
  start: number;
  end: number;
}

interface Slab {
  owner: LogTail | null;
  buf: Buffer;
  used: number;
  batches: CachedBatch[];
}

export class TailCache {
  hits = 0;
  misses = 0;
  /** Bytes of slabs in use by some log. */
  bytes = 0;
  /** Slabs in the order they were handed out: the front is the oldest, taken back first. */
  private readonly order: Slab[] = [];
  private head = 0;
  /** Pooled slabs no log uses now. */
  private readonly free: Slab[] = [];

  constructor(readonly maxBytes: number) {}

  /** A tail for one log; null when the cache is off (a budget of 0). */
  forLog(): LogTail | null {
    return this.maxBytes > 0 ? new LogTail(this) : null;
  }

  /** A slab for `owner` of at least `size` bytes: a free one, the oldest one in use, or a new one. */
  take(owner: LogTail, size: number): Slab {
    const pooled = size <= SLAB_BYTES;
    while (this.bytes + (pooled ? SLAB_BYTES : size) > this.maxBytes && this.head < this.order.length) {
      const oldest = this.order[this.head++]!;
      if (oldest.owner?.dropFront(oldest)) this.release(oldest);
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
    const slab = (pooled ? this.free.pop() : undefined) ?? {
      owner: null,
      buf: Buffer.allocUnsafe(pooled ? SLAB_BYTES : size),
      used: 0,
      batches: [],
    };
    slab.owner = owner;
    slab.used = 0;
    slab.batches = [];
    this.order.push(slab);
    this.bytes += slab.buf.length;
    return slab;
  }

  /** A slab no log uses any more: pooled for reuse (its queue entry is skipped when reached). */
  release(slab: Slab): void {
    slab.owner = null;
    this.bytes -= slab.buf.length;
    if (slab.buf.length === SLAB_BYTES) this.free.push(slab);
  }
}

/** One log's cached tail: contiguous offsets from the first cached batch to the log end. */
export class LogTail {
  private slabs: Slab[] = [];

  constructor(private readonly cache: TailCache) {}

  /** Copies in the whole, checked batches the log just wrote, each its own entry so a read can start at any. */
  append(records: Buffer): void {
    for (let pos = 0; pos < records.length; pos += scratch.sizeInBytes) {
      readBatchHeader(records, pos, scratch);
      const size = scratch.sizeInBytes;
      const lastBatch = this.slabs.at(-1)?.batches.at(-1);
      // A gap (the log started elsewhere) would leave the tail non-contiguous: start over.
      if (lastBatch && lastBatch.lastOffset + 1 !== scratch.baseOffset) this.clear();
      let slab = this.slabs.at(-1);
      if (!slab || slab.used + size > slab.buf.length) {
        slab = this.cache.take(this, size);
        this.slabs.push(slab);
      }
      records.copy(slab.buf, slab.used, pos, pos + size);
      slab.batches.push({
        baseOffset: scratch.baseOffset,
        lastOffset: scratch.baseOffset + scratch.lastOffsetDelta,
        start: slab.used,
        end: slab.used + size,
      });
      slab.used += size;
    }
  }

  /** The first offset served from memory, or null when nothing is cached. */
  get firstOffset(): number | null {
    return this.slabs[0]?.batches[0]?.baseOffset ?? null;
  }

  /**
   * Whole batches from the one holding `startOffset`, up to `maxBytes` (at least one batch when
   * `minOneBatch`) and below `bound`, copied into a buffer of the caller's. Null when
   * `startOffset` is below the cache: the caller reads the files. An empty buffer when no batch
   * fits.
   */
  read(startOffset: number, maxBytes: number, bound: number, minOneBatch: boolean): Buffer | null {
    const first = this.firstOffset;
    if (first === null || startOffset < first) {
      this.cache.misses++;
      return null;
    }
    // Tailing readers ask for the newest batches: search from the end.
    let s = this.slabs.length - 1;
    while (s > 0 && this.slabs[s]!.batches[0]!.baseOffset > startOffset) s--;
    let i = this.slabs[s]!.batches.length - 1;
    while (i > 0 && this.slabs[s]!.batches[i]!.baseOffset > startOffset) i--;
    if (this.slabs[s]!.batches[i]!.lastOffset < startOffset) i++;
    // First the extent, then one copy per slab into one buffer.
    const from = { s, i };
    let total = 0;
    let done = false;
    for (; s < this.slabs.length && !done; s++, i = 0) {
      const batches = this.slabs[s]!.batches;
      for (; i < batches.length; i++) {
        const b = batches[i]!;
        const size = b.end - b.start;
        if (b.lastOffset >= bound || (total + size > maxBytes && (total > 0 || !minOneBatch))) {
          done = true;
          break;
        }
        total += size;
      }
    }
    if (total === 0) return EMPTY;
    const out = Buffer.allocUnsafe(total);
    let written = 0;
    for (let t = from.s, j = from.i; written < total; t++, j = 0) {
      const slab = this.slabs[t]!;
      const start = slab.batches[j]!.start;
      const n = Math.min(total - written, slab.used - start);
      slab.buf.copy(out, written, start, start + n);
      written += n;
    }
    this.cache.hits++;
    return out;
  }

  /** Drops `slab` if it is this tail's first (the cache's oldest); false when it was dropped already. */
  dropFront(slab: Slab): boolean {
    if (this.slabs[0] !== slab) return false;
    this.slabs.shift();
    return true;
  }

  /** Forgets the cached batches below `offset` (a range the cleaner rewrote). */
  dropBelow(offset: number): void {
    while (this.slabs.length > 0) {
      const slab = this.slabs[0]!;
      let keep = 0;
      while (keep < slab.batches.length && slab.batches[keep]!.baseOffset < offset) keep++;
      if (keep < slab.batches.length) {
        slab.batches.splice(0, keep);
        return;
      }
      this.slabs.shift();
      this.cache.release(slab);
    }
  }

  /** Forgets every cached batch (a truncation, a new log start). */
  clear(): void {
    this.dropBelow(Infinity);
  }
}
