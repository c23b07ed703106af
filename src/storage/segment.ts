/**
 * One log segment: `<base>.log` holding whole RecordBatch v2 batches back to back, with its sparse
 * offset and time indexes. Reads and writes are positional and synchronous: page-cache copies
 * that cost microseconds, with fsync kept off the event loop (see flush()).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type RecordBatchHeader,
  RECORD_BATCH_OVERHEAD,
  CURRENT_MAGIC,
  decodeValidBatch,
  newBatchHeader,
  readBatchHeader,
} from '../../protocol/records/index.js';
import type { LogConfig } from './config.js';
import { logFiles, type FileHandle } from './file-handles.js';
import { fdatasyncAsync, io, readAt, writeAllAt } from './files.js';
import type { BatchProblem } from '../../protocol/records/index.js';
import { scanBatches, type BatchVisitor, type ScanResult } from './scan.js';
import { SparseIndex, offsetIndexLayout, timeIndexLayout } from './sparse-index.js';

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';
export const TXN_INDEX_SUFFIX = '.txnindex';

/** Kafka's file name for a segment: the base offset as 20 zero-padded digits. */
export function segmentFileName(baseOffset: number, suffix: string): string {
  return `${String(baseOffset).padStart(20, '0')}${suffix}`;
}

export interface RecoveryResult {
  validBytes: number;
  truncatedBytes: number;
  problem: BatchProblem | null;
}

export class LogSegment {
  readonly logFile: string;
  readonly offsetIndex: SparseIndex;
  readonly timeIndex: SparseIndex;
  /** Bytes of the .log file that hold batches. */
  size = 0;
  /** One past the last offset in this segment (baseOffset when empty). */
  nextOffset: number;
  maxTimestamp = -1;
  offsetOfMaxTimestamp = -1;
  /** Max timestamp of the first batch: what segment.ms counts from. */
  rollingBasedTimestamp = -1;
  private bytesSinceLastIndexEntry = 0;
  private readonly handle: FileHandle;
  private unflushed = false;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    private readonly config: LogConfig,
    readonly createdMs: number,
  ) {
    this.logFile = path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    this.offsetIndex = new SparseIndex(
      path.join(dir, segmentFileName(baseOffset, INDEX_SUFFIX)),
      offsetIndexLayout,
      baseOffset,
    );
    this.timeIndex = new SparseIndex(
      path.join(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX)),
      timeIndexLayout,
      baseOffset,
    );
    this.nextOffset = baseOffset;
    this.handle = logFiles.handle(this.logFile);
  }

  static create(dir: string, baseOffset: number, config: LogConfig, nowMs: number): LogSegment {
    const seg = new LogSegment(dir, baseOffset, config, nowMs);
    seg.handle.use((fd) => io('truncate', seg.logFile, () => fs.ftruncateSync(fd, 0)));
    // A new segment's indexes are empty: remove stale files of that name rather than open them
    // (an index file appears on the first flush, roll or close; a missing one is rebuilt on load).
    seg.offsetIndex.reset();
    seg.timeIndex.reset();
    const txnIndex = path.join(dir, segmentFileName(baseOffset, TXN_INDEX_SUFFIX));
    io('delete', txnIndex, () => fs.rmSync(txnIndex, { force: true }));
    return seg;
  }

  /** Opens an existing segment; the caller then runs `loadIndexes()` or `recover()`. */
  static open(dir: string, baseOffset: number, config: LogConfig, nowMs: number): LogSegment {
    const seg = new LogSegment(dir, baseOffset, config, nowMs);
    seg.size = seg.handle.use((fd) => io('stat', seg.logFile, () => fs.fstatSync(fd).size));
    return seg;
  }

  /** Loads the index files; false when they must be rebuilt. */
  loadIndexes(): boolean {
    const okOffsets = io('read', this.offsetIndex.file, () => this.offsetIndex.load(this.size - RECORD_BATCH_OVERHEAD));
    const okTimes = io('read', this.timeIndex.file, () => this.timeIndex.load(Number.MAX_SAFE_INTEGER));
    if (!okOffsets || !okTimes) return false;
    // An empty index over a segment larger than one index interval means the index was lost.
    if (this.offsetIndex.entries === 0 && this.size > this.config.indexIntervalBytes * 2) return false;
    const lastPosition = this.offsetIndex.lastValue();
    if (lastPosition !== undefined) {
      // The last entry must point at a batch whose last offset is the entry's key.
      const head = this.handle.use((fd) => readAt(fd, this.logFile, lastPosition, RECORD_BATCH_OVERHEAD));
      if (head.length < RECORD_BATCH_OVERHEAD) return false;
      const h = readBatchHeader(head, 0);
      if (h.magic !== CURRENT_MAGIC || h.baseOffset + h.lastOffsetDelta !== this.offsetIndex.lastKey()) return false;
    }
    return this.loadTailState();
  }

  /**
   * Recomputes next offset, max timestamp and index spacing by scanning from the last offset
   * index entry to the end. False when the tail does not parse (the segment needs recovery).
   */
  private loadTailState(): boolean {
    const lastEntry = this.offsetIndex.entries - 1;
    const from = lastEntry >= 0 ? this.offsetIndex.valueAt(lastEntry) : 0;
    this.nextOffset = lastEntry >= 0 ? this.offsetIndex.keyAt(lastEntry) + 1 : this.baseOffset;
    const lastTime = this.timeIndex.entries - 1;
    this.maxTimestamp = lastTime >= 0 ? this.timeIndex.keyAt(lastTime) : -1;
    this.offsetOfMaxTimestamp = lastTime >= 0 ? this.timeIndex.valueAt(lastTime) : -1;
    this.bytesSinceLastIndexEntry = 0;
    let first = lastEntry < 0;
    const result = this.scan(from, this.size, false, (_b, _p, _pos, h) => {
      this.nextOffset = h.baseOffset + h.lastOffsetDelta + 1;
      this.bytesSinceLastIndexEntry += h.sizeInBytes;
      if (first) {
        this.rollingBasedTimestamp = h.maxTimestamp;
        first = false;
      }
      this.trackTimestamp(h);
      return true;
    });
    if (this.rollingBasedTimestamp < 0 && this.size > 0) {
      const head = this.handle.use((fd) => readAt(fd, this.logFile, 0, RECORD_BATCH_OVERHEAD));
      if (head.length === RECORD_BATCH_OVERHEAD) this.rollingBasedTimestamp = readBatchHeader(head, 0).maxTimestamp;
    }
    return result.problem === null && result.endPosition === this.size;
  }

  /**
   * Re-reads the whole segment, validating length, magic and CRC-32C of every batch, rebuilds
   * both indexes, and truncates the file at the first invalid batch. Never throws on bad bytes.
   */
  recover(): RecoveryResult {
    this.offsetIndex.clear();
    this.timeIndex.clear();
    this.maxTimestamp = -1;
    this.offsetOfMaxTimestamp = -1;
    this.rollingBasedTimestamp = -1;
    this.bytesSinceLastIndexEntry = 0;
    this.nextOffset = this.baseOffset;
    const result = this.scan(0, this.size, true, (_b, _p, position, h) => {
      this.indexBatch(position, h);
      return true;
    });
    const truncatedBytes = this.size - result.endPosition;
    if (truncatedBytes > 0) {
      this.handle.use((fd) => io('truncate', this.logFile, () => fs.ftruncateSync(fd, result.endPosition)));
      this.size = result.endPosition;
    }
    this.offsetIndex.rewrite();
    this.timeIndex.rewrite();
    this.unflushed = true;
    return { validBytes: result.endPosition, truncatedBytes, problem: result.problem };
  }

  private trackTimestamp(h: RecordBatchHeader): void {
    if (h.maxTimestamp > this.maxTimestamp) {
      this.maxTimestamp = h.maxTimestamp;
      this.offsetOfMaxTimestamp = h.baseOffset + h.lastOffsetDelta;
    }
  }

  /** Index bookkeeping for a batch stored at `position`, as Kafka does it on append. */
  private indexBatch(position: number, h: RecordBatchHeader): void {
    const lastOffset = h.baseOffset + h.lastOffsetDelta;
    if (this.rollingBasedTimestamp < 0) this.rollingBasedTimestamp = h.maxTimestamp;
    this.trackTimestamp(h);
    if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes) {
      this.offsetIndex.append(lastOffset, position);
      this.maybeAppendTimeIndex();
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += h.sizeInBytes;
    this.nextOffset = lastOffset + 1;
  }

  private maybeAppendTimeIndex(): void {
    const last = this.timeIndex.lastKey();
    if (this.maxTimestamp >= 0 && (last === undefined || this.maxTimestamp > last)) {
      this.timeIndex.append(this.maxTimestamp, this.offsetOfMaxTimestamp);
    }
  }

  /** Whether appending `batchBytes` with this max timestamp should go to a new segment. */
  shouldRoll(batchBytes: number, maxTimestamp: number, lastOffset: number, nowMs: number): boolean {
    if (this.size === 0) return false;
    if (this.size > this.config.segmentBytes - batchBytes) return true;
    const waited =
      this.rollingBasedTimestamp >= 0 && maxTimestamp >= 0
        ? maxTimestamp - this.rollingBasedTimestamp
        : nowMs - this.createdMs;
    if (waited > this.config.segmentMs - this.config.segmentJitterMs) return true;
    if ((this.offsetIndex.entries + 1) * 8 > this.config.segmentIndexBytes) return true;
    return lastOffset - this.baseOffset > 0x7fffffff;
  }

  /** Appends whole, already validated and stamped batches. */
  append(batches: Buffer): void {
    this.handle.use((fd) => writeAllAt(fd, this.logFile, batches, this.size));
    const header = scratchHeader;
    for (let p = 0; p < batches.length; p += header.sizeInBytes) {
      readBatchHeader(batches, p, header);
      this.indexBatch(this.size + p, header);
    }
    this.size += batches.length;
    this.unflushed = true;
  }

  /**
   * Whole batches starting with the one that holds `startOffset`, up to `maxBytes` (the first
   * batch is returned whole even when larger, if `minOneBatch`), stopping before any batch
   * whose last offset reaches `maxOffsetExclusive`. Null when none qualifies.
   */
  read(startOffset: number, maxBytes: number, maxOffsetExclusive: number, minOneBatch: boolean): Buffer | null {
    const floor = this.offsetIndex.floorByKey(startOffset);
    const from = floor >= 0 ? this.offsetIndex.valueAt(floor) : 0;
    let start = -1;
    let end = -1;
    let chunk: Buffer | null = null;
    let chunkStart = 0;
    this.scan(
      from,
      this.size,
      false,
      (buf, pos, position, h) => {
        const last = h.baseOffset + h.lastOffsetDelta;
        if (last >= maxOffsetExclusive) return false;
        if (start < 0) {
          if (last < startOffset) return true;
          if (h.sizeInBytes > maxBytes && !minOneBatch) return false;
          start = position;
          end = position + h.sizeInBytes;
          chunk = buf;
          chunkStart = position - pos;
          return end - start < maxBytes;
        }
        if (end - start + h.sizeInBytes > maxBytes) return false;
        end += h.sizeInBytes;
        return true;
      },
      Math.max(64 * 1024, maxBytes + this.config.indexIntervalBytes + RECORD_BATCH_OVERHEAD),
    );
    if (start < 0) return null;
    const c = chunk as Buffer | null;
    if (c !== null && end <= chunkStart + c.length) return c.subarray(start - chunkStart, end - chunkStart);
    return this.handle.use((fd) => readAt(fd, this.logFile, start, end - start));
  }

  /** The first record with timestamp >= target, or null if every record here is older. */
  findByTimestamp(target: number): { offset: number; timestamp: number } | null {
    if (this.maxTimestamp < target) return null;
    const t = this.timeIndex.floorByKey(target);
    const fromOffset = t >= 0 ? this.timeIndex.valueAt(t) : this.baseOffset;
    const o = this.offsetIndex.floorByKey(fromOffset);
    const from = o >= 0 ? this.offsetIndex.valueAt(o) : 0;
    let found: { offset: number; timestamp: number } | null = null;
    this.scan(from, this.size, true, (buf, pos, _position, h) => {
      if (h.maxTimestamp < target) return true;
      for (const r of decodeValidBatch(buf, pos, h).records) {
        if (r.timestamp >= target) {
          found = { offset: r.offset, timestamp: r.timestamp };
          return false;
        }
      }
      return true;
    });
    return found;
  }

  /**
   * Removes every batch whose last offset is >= `offset` (a batch holding `offset` goes whole).
   * Returns the bytes removed.
   */
  truncateTo(offset: number): number {
    const floor = this.offsetIndex.floorByKey(offset - 1);
    const from = floor >= 0 ? this.offsetIndex.valueAt(floor) : 0;
    let cut = this.size;
    let cutOffset = this.nextOffset;
    this.scan(from, this.size, false, (_b, _p, position, h) => {
      if (h.baseOffset + h.lastOffsetDelta >= offset) {
        cut = position;
        cutOffset = h.baseOffset;
        return false;
      }
      return true;
    });
    const removed = this.size - cut;
    if (removed === 0) return 0;
    this.handle.use((fd) => io('truncate', this.logFile, () => fs.ftruncateSync(fd, cut)));
    this.size = cut;
    this.offsetIndex.truncateToEntries(this.offsetIndex.countValuesBelow(cut));
    this.timeIndex.truncateToEntries(this.timeIndex.countValuesBelow(cutOffset));
    this.rollingBasedTimestamp = cut === 0 ? -1 : this.rollingBasedTimestamp;
    this.loadTailState();
    this.unflushed = true;
    return removed;
  }

  /** Scans batches from `from` to `to`; validating checks the CRC of each batch and stops at a bad one. */
  scan(from: number, to: number, validate: boolean, visit: BatchVisitor, chunkBytes?: number): ScanResult {
    return this.handle.use((fd) =>
      scanBatches(fd, this.logFile, from, to, { verifyCrc: validate, wholeBatches: validate, chunkBytes }, visit),
    );
  }

  /** Called when this segment stops being the active one. */
  onRoll(): void {
    this.maybeAppendTimeIndex();
    this.offsetIndex.persist(false);
    this.timeIndex.persist(false);
  }

  get isUnflushed(): boolean {
    return this.unflushed;
  }

  /** fsyncs the log and its indexes without blocking the event loop on the data file. */
  async flush(): Promise<void> {
    if (!this.unflushed) return;
    this.unflushed = false;
    this.maybeAppendTimeIndex();
    this.offsetIndex.persist(true);
    this.timeIndex.persist(true);
    await this.handle.useAsync((fd) => fdatasyncAsync(fd, this.logFile));
  }

  close(): void {
    this.maybeAppendTimeIndex();
    this.offsetIndex.persist(false);
    this.offsetIndex.close();
    this.timeIndex.persist(false);
    this.timeIndex.close();
    this.handle.release();
  }

  /** Closes and removes the segment's files. */
  delete(): void {
    this.offsetIndex.close();
    this.timeIndex.close();
    this.handle.release();
    const txnIndex = path.join(this.dir, segmentFileName(this.baseOffset, TXN_INDEX_SUFFIX));
    for (const file of [this.logFile, this.offsetIndex.file, this.timeIndex.file, txnIndex]) {
      io('delete', file, () => fs.rmSync(file, { force: true }));
    }
  }
}

const scratchHeader = newBatchHeader();
