/**
 * Log compaction (cleanup.policy compact): keeps at least the latest record of every key. A pass
 * maps each key of the dirty closed segments (from the first dirty offset up to the active
 * segment, or to the first segment younger than min.compaction.lag.ms) to its latest offset,
 * then rewrites the closed segments without the records a later one supersedes, and without
 * tombstones older than delete.retention.ms. Offsets and order never change: a rewritten batch
 * keeps its base offset and offset range, its records their offsets; an untouched batch is copied
 * byte for byte. The active segment is never touched. Transactions as Kafka's cleaner: records
 * of aborted transactions are dropped and never supersede a key, markers are kept, and nothing
 * past the first open transaction is cleaned (its outcome is not known yet). Memory is bounded by `maxKeys` (plus the
 * keys of one segment); I/O by `ioBytesPerSecond`; the event loop gets a turn between chunks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  RecordBatchBuilder,
  TIMESTAMP_TYPE_MASK,
  compressionOf,
  decodeValidBatch,
  isControlBatch,
  isTransactional,
  type CompressionCode,
  type RecordBatchHeader,
} from '../../protocol/records/index.js';
import { MillraceError } from '../../protocol/errors.js';
import { io } from './files.js';
import { CLEANER_STAGING_DIR, type Log } from './log.js';
import { LogSegment } from './segment.js';
import type { AbortedTxn } from './txn-tracker.js';

export interface CleanerSettings {
  /** log.cleaner.dedupe.buffer.size, counted in keys: the offset map's bound. */
  maxKeys: number;
  /** log.cleaner.io.max.bytes.per.second (Infinity: unthrottled). */
  ioBytesPerSecond: number;
  now?: () => number;
}

export interface CleanResult {
  dir: string;
  firstDirtyOffset: number;
  cleanedTo: number;
  segmentsRewritten: number;
  bytesRead: number;
  bytesWritten: number;
  recordsRemoved: number;
  tombstonesRemoved: number;
  ms: number;
}

export interface DirtyState {
  firstDirtyOffset: number;
  /** Where cleaning may stop: the active segment, or the first segment too young to compact. */
  cleanableEnd: number;
  dirtyBytes: number;
  totalBytes: number;
  ratio: number;
}

const CHUNK_BYTES = 8 * 1024 * 1024;

interface Batch {
  header: RecordBatchHeader;
  buf: Buffer;
  pos: number;
}

export class LogCleaner {
  private readonly now: () => number;

  constructor(private readonly settings: CleanerSettings) {
    this.now = settings.now ?? Date.now;
  }

  /** How much of a compacted log's closed part has not been cleaned. */
  dirtyState(log: Log): DirtyState {
    const firstDirtyOffset = log.readFirstDirtyOffset();
    const lagBound = this.now() - log.config.minCompactionLagMs;
    let cleanableEnd = firstDirtyOffset;
    let dirtyBytes = 0;
    let totalBytes = 0;
    let stopped = false;
    const closed = log.closedSegments();
    const unstable = log.producerState.txns.firstUnstableOffset() ?? Infinity;
    for (let i = 0; i < closed.length; i++) {
      const seg = closed[i]!;
      const next = i + 1 < closed.length ? closed[i + 1]!.baseOffset : seg.nextOffset;
      if (!stopped && seg.baseOffset >= firstDirtyOffset && seg.maxTimestamp > lagBound) stopped = true;
      if (next > unstable) stopped = true;
      if (stopped) break;
      totalBytes += seg.size;
      if (seg.baseOffset >= firstDirtyOffset) {
        dirtyBytes += seg.size;
        cleanableEnd = next;
      }
    }
    return { firstDirtyOffset, cleanableEnd, dirtyBytes, totalBytes, ratio: totalBytes ? dirtyBytes / totalBytes : 0 };
  }

  /** One cleaning pass over a log; null when nothing was cleanable. */
  async clean(log: Log): Promise<CleanResult | null> {
    const started = this.now();
    const dirty = this.dirtyState(log);
    if (dirty.cleanableEnd <= dirty.firstDirtyOffset) return null;
    const result: CleanResult = {
      dir: log.dir,
      firstDirtyOffset: dirty.firstDirtyOffset,
      cleanedTo: dirty.firstDirtyOffset,
      segmentsRewritten: 0,
      bytesRead: 0,
      bytesWritten: 0,
      recordsRemoved: 0,
      tombstonesRemoved: 0,
      ms: 0,
    };
    const aborted = log.abortedTransactions(0, dirty.cleanableEnd);
    // The latest offset of every key in the dirty segments that fit the map.
    const latest = new Map<string, number>();
    for (const seg of log.closedSegments()) {
      if (seg.baseOffset < dirty.firstDirtyOffset) continue;
      if (seg.baseOffset >= dirty.cleanableEnd || latest.size >= this.settings.maxKeys) break;
      await this.forEachBatch(seg, result, (b) => {
        if (isControlBatch(b.header) || inAborted(b.header, aborted)) return;
        for (const r of decodeValidBatch(b.buf, b.pos, b.header).records)
          if (r.key !== null) latest.set(r.key.toString('latin1'), r.offset);
      });
      result.cleanedTo = seg.nextOffset;
    }
    if (result.cleanedTo <= dirty.firstDirtyOffset) return null;
    const tombstoneHorizon = this.now() - log.config.deleteRetentionMs;
    const staging = path.join(log.dir, CLEANER_STAGING_DIR);
    io('create directory', staging, () => fs.mkdirSync(staging, { recursive: true }));
    try {
      for (const seg of log.closedSegments()) {
        if (seg.baseOffset >= result.cleanedTo) break;
        const copy = LogSegment.create(staging, seg.baseOffset, log.config, this.now());
        const removedBefore = result.recordsRemoved;
        await this.forEachBatch(seg, result, (b) => {
          const kept = this.filter(b, latest, tombstoneHorizon, result, aborted);
          if (kept !== null) copy.append(kept);
        });
        copy.onRoll();
        copy.close();
        if (result.recordsRemoved === removedBefore) continue;
        result.bytesWritten += copy.size;
        if (!log.replaceSegment(seg)) return null;
        result.segmentsRewritten++;
      }
    } finally {
      io('delete', staging, () => fs.rmSync(staging, { recursive: true, force: true }));
    }
    log.writeFirstDirtyOffset(result.cleanedTo);
    result.ms = this.now() - started;
    return result;
  }

  /**
   * The batch's bytes when every record stays, null when none does, else a rebuilt batch of the
   * kept records with their offsets, the batch's base offset and its offset range.
   */
  private filter(
    b: Batch,
    latest: ReadonlyMap<string, number>,
    tombstoneHorizon: number,
    result: CleanResult,
    aborted: readonly AbortedTxn[],
  ): Buffer | null {
    const { header } = b;
    if (isControlBatch(header)) return b.buf.subarray(b.pos, b.pos + header.sizeInBytes);
    if (inAborted(header, aborted)) {
      result.recordsRemoved += header.lastOffsetDelta + 1;
      return null;
    }
    const records = decodeValidBatch(b.buf, b.pos, header).records;
    const kept = records.filter((r) => {
      if (r.key !== null && (latest.get(r.key.toString('latin1')) ?? -1) > r.offset) return false;
      if (r.value === null && header.maxTimestamp < tombstoneHorizon) {
        result.tombstonesRemoved++;
        return false;
      }
      return true;
    });
    result.recordsRemoved += records.length - kept.length;
    if (kept.length === records.length) return b.buf.subarray(b.pos, b.pos + header.sizeInBytes);
    if (kept.length === 0) return null;
    const builder = new RecordBatchBuilder({
      compression: compressionOf(header) as CompressionCode,
      baseOffset: header.baseOffset,
      partitionLeaderEpoch: header.partitionLeaderEpoch,
      logAppendTime: (header.attributes & TIMESTAMP_TYPE_MASK) !== 0,
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence,
      lastOffsetDelta: header.lastOffsetDelta,
      transactional: isTransactional(header),
    });
    for (const r of kept)
      builder.append({ key: r.key, value: r.value, headers: r.headers }, r.timestamp, r.offset - header.baseOffset);
    return builder.build();
  }

  /** Visits a segment's batches (CRC-checked) a chunk at a time, yielding and throttling between chunks. */
  private async forEachBatch(seg: LogSegment, result: CleanResult, visit: (b: Batch) => void): Promise<void> {
    let from = 0;
    while (from < seg.size) {
      const started = this.now();
      const to = Math.min(seg.size, from + CHUNK_BYTES);
      const scan = seg.scan(from, to, true, (buf, pos, _position, header) => {
        visit({ header: { ...header }, buf, pos });
        return true;
      });
      // A batch cut by the chunk's end is read whole by the next chunk; anything else is damage,
      // and a cleaner that went on would drop the records after it.
      if (scan.problem && (scan.problem.kind === 'corrupt' || to === seg.size || scan.endPosition === from))
        throw new MillraceError(
          'KAFKA_STORAGE_ERROR',
          `cannot clean ${seg.logFile}: at byte ${scan.endPosition}: ${scan.problem.message}`,
        );
      const read = scan.endPosition - from;
      result.bytesRead += read;
      from = scan.endPosition;
      const budgetMs = (read / this.settings.ioBytesPerSecond) * 1000;
      const wait = Number.isFinite(budgetMs) ? budgetMs - (this.now() - started) : 0;
      await new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
    }
  }
}

/** A data batch of a transaction that was aborted: its records are dropped by cleaning. */
function inAborted(h: RecordBatchHeader, aborted: readonly AbortedTxn[]): boolean {
  if (!isTransactional(h) || isControlBatch(h)) return false;
  return aborted.some(
    (a) => a.producerId === h.producerId && a.firstOffset <= h.baseOffset && h.baseOffset <= a.lastOffset,
  );
}
