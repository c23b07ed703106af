/**
 * The log of one partition replica: an ordered list of segments, the last one active. Offsets
 * are JS numbers (exact below 2^53, far past any real log); the SDK converts to bigint.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pino, type Logger } from 'pino';
import { MillraceError } from '../../protocol/errors.js';
import {
  ATTRIBUTES,
  CRC,
  MAX_TIMESTAMP,
  NO_PRODUCER_ID,
  TIMESTAMP_TYPE_MASK,
  crc32c,
  encodeMarkerBatch,
  isControlBatch,
  isTransactional,
  newBatchHeader,
  readBatchHeader,
  stampBatch,
  writeInt64,
  type MarkerType,
} from '../../protocol/records/index.js';
import type { LogConfig } from './config.js';
import { io } from './files.js';
import { LeaderEpochCache } from './leader-epoch-cache.js';
import { ProducerStateManager, type ProducerEntry } from './producer-state.js';
import { INDEX_SUFFIX, LOG_SUFFIX, LogSegment, TIME_INDEX_SUFFIX, segmentFileName } from './segment.js';
import { requireKeys, validateBatches, type LogAppendInfo } from './log-validator.js';
import { CLEANER_STAGING_DIR, loadSegments } from './log-loader.js';
import type { LogTail, TailCache } from './tail-cache.js';
import { CleanerCheckpoint } from './cleaner-checkpoint.js';
import { segmentsPastRetention } from './retention.js';
import { ProducerReplay } from './producer-replay.js';
import type { AbortedTxn } from './txn-tracker.js';
import {
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  MAX_TIMESTAMP_LOOKUP,
  offsetForTimestamp,
  type TimestampOffset,
} from './timestamp-lookup.js';

export { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP_LOOKUP, type TimestampOffset };

export type { LogAppendInfo };

export interface LogReadResult {
  /** Whole batches; the first may start before the requested offset. Empty when none. */
  records: Buffer;
  logStartOffset: number;
  logEndOffset: number;
}

export interface LogOpenOptions {
  dir: string;
  config: LogConfig;
  /** Offsets below this were fsynced before the last stop. */
  recoveryPoint?: number;
  logStartOffset?: number;
  /** Whether the data directory's clean-shutdown marker was present. */
  hadCleanShutdown?: boolean;
  now?: () => number;
  logger?: Logger;
  /** Keeps the newest batches in memory for tailing readers (one cache for every log). */
  tailCache?: TailCache;
}

const EMPTY = Buffer.alloc(0);
export { CLEANER_STAGING_DIR };
const scratch = newBatchHeader();

export class Log {
  private segments: LogSegment[] = [];
  private logEnd = 0;
  private logStart = 0;
  private recovery = 0;
  private unflushedMessages = 0;
  private lastFlushMs: number;
  private flushing: Promise<void> = Promise.resolve();
  readonly leaderEpochCache: LeaderEpochCache;
  readonly producerState: ProducerStateManager;
  private readonly now: () => number;
  private readonly logger: Logger;
  private closed = false;
  private readonly cleanerCheckpoint: CleanerCheckpoint;
  private readonly tail: LogTail | null;
  private readonly replay: ProducerReplay;

  private constructor(
    readonly dir: string,
    public config: LogConfig,
    options: LogOpenOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.lastFlushMs = this.now();
    this.tail = options.tailCache?.forLog() ?? null;
    this.cleanerCheckpoint = new CleanerCheckpoint(dir);
    io('create directory', dir, () => fs.mkdirSync(dir, { recursive: true }));
    const loaded = loadSegments(dir, config, options, this.logger, this.now());
    this.segments = loaded.segments;
    this.logEnd = loaded.logEnd;
    this.logStart = loaded.logStart;
    this.recovery = loaded.recoveryPoint;
    this.leaderEpochCache = new LeaderEpochCache(dir);
    this.leaderEpochCache.truncateFromEnd(this.logEnd);
    this.leaderEpochCache.truncateFromStart(this.logStart);
    this.producerState = new ProducerStateManager(dir, this.logger);
    this.replay = new ProducerReplay(dir, this.producerState, this, this.logger);
    this.replay.rebuild();
  }

  /** Opens (creating if needed) the log in `dir`, recovering it after an unclean stop. */
  static open(options: LogOpenOptions): Log {
    return new Log(options.dir, options.config, options);
  }

  get logEndOffset(): number {
    return this.logEnd;
  }

  get logStartOffset(): number {
    return this.logStart;
  }

  get recoveryPoint(): number {
    return this.recovery;
  }

  get size(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  get segmentBaseOffsets(): number[] {
    return this.segments.map((s) => s.baseOffset);
  }

  segmentBaseOf(offset: number): number {
    return this.segments[this.segmentIndexFor(offset)]!.baseOffset;
  }

  private get active(): LogSegment {
    return this.segments[this.segments.length - 1]!;
  }

  /**
   * Validates batches from a producer (length, magic, CRC-32C, record count), then assigns
   * offsets from the log end and stamps the leader epoch. Nothing is written unless every
   * batch is valid.
   */
  appendAsLeader(records: Buffer, leaderEpoch: number): LogAppendInfo {
    this.ensureOpen();
    const info = validateBatches(records, this.config, true);
    if (this.config.cleanupPolicy !== 'delete') requireKeys(records, path.basename(this.dir));
    const logAppendTime = this.config.messageTimestampType === 'LogAppendTime' ? this.now() : -1;
    // Idempotence first: a duplicate or a sequence error leaves the log and the state untouched.
    // validate() checked every batch (CRC included): from here on, headers are only read.
    let producers: Map<number, ProducerEntry> | null = null;
    let offset = this.logEnd;
    for (let p = 0; p < records.length; p += scratch.sizeInBytes) {
      readBatchHeader(records, p, scratch);
      if (isControlBatch(scratch))
        throw new MillraceError(
          'INVALID_RECORD',
          `batch at byte ${p} is a control batch: only transaction coordinators write those (WriteTxnMarkers)`,
        );
      if (scratch.producerId === NO_PRODUCER_ID) {
        offset += scratch.lastOffsetDelta + 1;
        continue;
      }
      producers ??= new Map<number, ProducerEntry>();
      const duplicate = this.producerState.check(scratch, producers);
      if (duplicate !== null) {
        if (info.batchCount > 1) {
          throw new MillraceError(
            'DUPLICATE_SEQUENCE_NUMBER',
            `batch at byte ${p} repeats sequences ${duplicate.firstSeq}-${duplicate.lastSeq} of producer ${scratch.producerId}`,
          );
        }
        return { ...info, firstOffset: duplicate.firstOffset, lastOffset: duplicate.lastOffset, duplicate: true };
      }
      scratch.baseOffset = offset;
      if (logAppendTime >= 0) scratch.maxTimestamp = logAppendTime;
      this.producerState.update(scratch, producers);
      offset += scratch.lastOffsetDelta + 1;
    }
    offset = this.logEnd;
    let opened: Array<[number, number]> | null = null;
    for (let p = 0; p < records.length; p += scratch.sizeInBytes) {
      readBatchHeader(records, p, scratch);
      stampBatch(records, p, offset, leaderEpoch);
      if (isTransactional(scratch)) (opened ??= []).push([scratch.producerId, offset]);
      if (logAppendTime >= 0) {
        // Attributes and max timestamp lie inside the CRC: Kafka recomputes it here too.
        records.writeInt16BE(scratch.attributes | TIMESTAMP_TYPE_MASK, p + ATTRIBUTES);
        writeInt64(records, p + MAX_TIMESTAMP, logAppendTime);
        records.writeUInt32BE(crc32c(records.subarray(p + ATTRIBUTES, p + scratch.sizeInBytes)), p + CRC);
      }
      offset += scratch.lastOffsetDelta + 1;
    }
    info.firstOffset = this.logEnd;
    info.lastOffset = offset - 1;
    if (logAppendTime >= 0) {
      info.maxTimestamp = logAppendTime;
      info.offsetOfMaxTimestamp = info.firstOffset;
      info.logAppendTime = logAppendTime;
    }
    this.maybeRoll(records.length, info.maxTimestamp, info.lastOffset, this.logEnd);
    this.leaderEpochCache.assign(leaderEpoch, info.firstOffset);
    this.write(records, info);
    if (producers) this.producerState.commit(producers);
    if (opened) for (const [producerId, at] of opened) this.producerState.txns.onOpen(producerId, at);
    return info;
  }

  /**
   * Appends a transaction marker (WriteTxnMarkers) as the leader: the producer's transaction in
   * this partition ends, an abort is indexed for read_committed fetches. Returns its offset.
   */
  appendMarker(
    marker: { type: MarkerType; producerId: number; producerEpoch: number; coordinatorEpoch: number },
    leaderEpoch: number,
  ): number {
    this.ensureOpen();
    this.producerState.checkMarker(marker.producerId, marker.producerEpoch, marker.coordinatorEpoch);
    const timestamp = this.now();
    const batch = encodeMarkerBatch({ ...marker, timestamp });
    const offset = this.logEnd;
    stampBatch(batch, 0, offset, leaderEpoch);
    const info = validateBatches(batch, this.config, false);
    this.maybeRoll(batch.length, timestamp, offset, offset);
    this.leaderEpochCache.assign(leaderEpoch, offset);
    this.write(batch, info);
    this.replay.marker(
      marker.producerId,
      marker.producerEpoch,
      marker.type,
      offset,
      timestamp,
      marker.coordinatorEpoch,
    );
    return offset;
  }

  /** read_committed reads below this: the high watermark, or the first offset of an open transaction below it. */
  lastStableOffset(highWatermark: number): number {
    return this.producerState.txns.lastStableOffset(highWatermark);
  }

  /** Aborted transactions overlapping [from, upTo): what a read_committed fetch is told with its data. */
  abortedTransactions(from: number, upTo: number): AbortedTxn[] {
    return this.producerState.txns.abortedIn(from, upTo);
  }

  /** Appends batches replicated from the leader, offsets and epochs as the leader assigned them. */
  appendAsFollower(records: Buffer): LogAppendInfo {
    this.ensureOpen();
    const info = validateBatches(records, this.config, false);
    if (info.firstOffset < this.logEnd) {
      throw new MillraceError(
        'INVALID_RECORD',
        `replicated batch starts at offset ${info.firstOffset}, below the log end ${this.logEnd}`,
      );
    }
    this.maybeRoll(records.length, info.maxTimestamp, info.lastOffset, info.firstOffset);
    this.write(records, info);
    for (let p = 0; p < records.length; p += scratch.sizeInBytes) {
      readBatchHeader(records, p, scratch);
      this.leaderEpochCache.assign(scratch.partitionLeaderEpoch, scratch.baseOffset);
      this.replay.batch(records, p, scratch);
    }
    return info;
  }

  private maybeRoll(bytes: number, maxTimestamp: number, lastOffset: number, nextBase: number): void {
    if (this.active.shouldRoll(bytes, maxTimestamp, lastOffset, this.now())) this.roll(nextBase);
  }

  /** Starts a new active segment at `baseOffset` (default: the log end). */
  roll(baseOffset = this.logEnd): void {
    const old = this.active;
    if (old.size === 0 && old.baseOffset === baseOffset) return;
    old.onRoll();
    if (old.size === 0) {
      this.segments.pop();
      old.delete();
    }
    this.segments.push(LogSegment.create(this.dir, baseOffset, this.config, this.now()));
    // The new segment's producers can be rebuilt from here without reading the older ones.
    this.producerState.takeSnapshot(this.logEnd);
    this.logger.debug({ dir: this.dir, baseOffset }, 'rolled segment');
  }

  private write(records: Buffer, info: LogAppendInfo): void {
    this.active.append(records);
    this.tail?.append(records);
    this.logEnd = info.lastOffset + 1;
    this.unflushedMessages += info.recordCount;
  }

  /**
   * Whole batches from the one holding `startOffset`, up to `maxBytes` (at least one batch when
   * `minOneBatch`, as KIP-74), never including a batch that reaches `upperBound` (the high
   * watermark for consumers; the log end for followers). OFFSET_OUT_OF_RANGE outside the log.
   */
  read(startOffset: number, maxBytes: number, upperBound = this.logEnd, minOneBatch = true): LogReadResult {
    this.ensureOpen();
    if (startOffset < this.logStart || startOffset > this.logEnd) {
      throw new MillraceError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${startOffset} is outside the log [${this.logStart}, ${this.logEnd}] of ${path.basename(this.dir)}`,
      );
    }
    const result: LogReadResult = { records: EMPTY, logStartOffset: this.logStart, logEndOffset: this.logEnd };
    const bound = Math.min(upperBound, this.logEnd);
    if (startOffset >= bound) return result;
    const cached = this.tail?.read(startOffset, maxBytes, bound, minOneBatch) ?? null;
    if (cached !== null) {
      result.records = cached;
      return result;
    }
    for (let i = this.segmentIndexFor(startOffset); i < this.segments.length; i++) {
      const data = this.segments[i]!.read(startOffset, maxBytes, bound, minOneBatch);
      if (data !== null) {
        result.records = data;
        break;
      }
    }
    return result;
  }

  /** Index of the segment whose range holds `offset` (the last with baseOffset <= offset). */
  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * ListOffsets: the earliest offset whose timestamp is >= `timestamp`, or EARLIEST_TIMESTAMP,
   * LATEST_TIMESTAMP and MAX_TIMESTAMP_LOOKUP as Kafka defines them. Null when no record is that new.
   */
  offsetForTimestamp(timestamp: number): TimestampOffset | null {
    this.ensureOpen();
    return offsetForTimestamp(this.segments, this.logStart, this.logEnd, timestamp);
  }

  /**
   * Removes every batch at or past `offset` (a batch straddling it goes whole); the leader-epoch
   * cache loses the epochs that started there. Returns whether anything was removed.
   */
  truncateTo(offset: number): boolean {
    this.ensureOpen();
    if (offset < 0) throw new MillraceError('INVALID_REQUEST', `cannot truncate to negative offset ${offset}`);
    if (offset >= this.logEnd) return false;
    this.tail?.clear();
    if (offset <= this.segments[0]!.baseOffset) {
      this.truncateFullyAndStartAt(offset);
      return true;
    }
    while (this.active.baseOffset >= offset) this.segments.pop()!.delete();
    this.active.truncateTo(offset);
    this.logEnd = this.active.nextOffset;
    this.leaderEpochCache.truncateFromEnd(this.logEnd);
    this.recovery = Math.min(this.recovery, this.logEnd);
    this.logStart = Math.min(this.logStart, this.logEnd);
    this.replay.rebuild();
    this.clampCleanerCheckpoint();
    return true;
  }

  /** Forgets producers idle longer than producer.id.expiration.ms; returns how many. */
  removeExpiredProducers(expirationMs: number): number {
    return this.producerState.removeExpired(this.now(), expirationMs);
  }

  /** Empties the log and starts it again at `offset` (a follower far behind a leader's log start). */
  truncateFullyAndStartAt(offset: number): void {
    this.ensureOpen();
    this.tail?.clear();
    for (const s of this.segments) s.delete();
    this.segments = [LogSegment.create(this.dir, offset, this.config, this.now())];
    this.logEnd = offset;
    this.logStart = offset;
    this.recovery = offset;
    this.leaderEpochCache.clear();
    this.producerState.clear();
    for (const o of this.producerState.snapshotOffsets()) this.producerState.deleteSnapshot(o);
    this.clampCleanerCheckpoint();
  }

  /** Moves the log start forward (DeleteRecords, or a follower following its leader's start). */
  maybeIncrementLogStartOffset(offset: number): boolean {
    if (offset <= this.logStart) return false;
    if (offset > this.logEnd) {
      throw new MillraceError(
        'OFFSET_OUT_OF_RANGE',
        `cannot move the log start to ${offset}, past the log end ${this.logEnd}`,
      );
    }
    this.logStart = offset;
    this.leaderEpochCache.truncateFromStart(offset);
    this.producerState.txns.dropBefore(offset);
    return true;
  }

  /**
   * Retention: deletes the oldest closed segments that are past retention.ms (by their largest
   * timestamp), beyond retention.bytes, or wholly below the log start. The active segment stays.
   */
  deleteOldSegments(): number {
    this.ensureOpen();
    const doomed = segmentsPastRetention(this.segments, this.config, this.logStart, this.now(), (s) =>
      s.maxTimestamp >= 0 ? s.maxTimestamp : io('stat', s.logFile, () => fs.statSync(s.logFile).mtimeMs),
    );
    for (const decision of doomed) {
      this.logger.info(decision, 'deleting segment past retention');
      this.segments.shift()!.delete();
    }
    const deleted = doomed.length;
    if (deleted > 0) {
      this.logStart = Math.max(this.logStart, this.segments[0]!.baseOffset);
      this.leaderEpochCache.truncateFromStart(this.logStart);
      this.producerState.txns.dropBefore(this.logStart);
      this.producerState.deleteSnapshotsBelow(this.segments[0]!.baseOffset);
    }
    return deleted;
  }

  /** Every segment but the active one, oldest first: what the cleaner may rewrite. */
  closedSegments(): readonly LogSegment[] {
    return this.segments.slice(0, -1);
  }

  /** The cleaner's first dirty offset: segments below it were compacted already. */
  readFirstDirtyOffset(): number {
    return Math.max(this.cleanerCheckpoint.read(), this.logStart);
  }

  /** After a truncation the cleaner must not believe offsets past the log end are clean. */
  private clampCleanerCheckpoint(): void {
    if (this.config.cleanupPolicy !== 'delete' && this.readFirstDirtyOffset() > this.logEnd)
      this.writeFirstDirtyOffset(this.logEnd);
  }

  writeFirstDirtyOffset(offset: number): void {
    this.cleanerCheckpoint.write(offset);
  }

  /**
   * Replaces a closed segment with its cleaned copy, written as a segment of the same base
   * offset in the staging directory. The old indexes go first, then the log file is renamed over
   * the old one (atomic), then the new indexes: a crash at any point leaves a log file whose
   * indexes are rebuilt at start-up. False when the segment is no longer part of the log.
   */
  replaceSegment(old: LogSegment): boolean {
    const i = this.segments.indexOf(old);
    if (this.closed || i < 0 || i === this.segments.length - 1) return false;
    // Readers of the cleaned range see the cleaned copy, not the batches the cache kept of it.
    this.tail?.dropBelow(this.segments[i + 1]!.baseOffset);
    const staging = path.join(this.dir, CLEANER_STAGING_DIR);
    old.close();
    for (const suffix of [INDEX_SUFFIX, TIME_INDEX_SUFFIX]) {
      const file = path.join(this.dir, segmentFileName(old.baseOffset, suffix));
      io('delete', file, () => fs.rmSync(file, { force: true }));
    }
    for (const suffix of [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]) {
      const name = segmentFileName(old.baseOffset, suffix);
      io('rename', name, () => fs.renameSync(path.join(staging, name), path.join(this.dir, name)));
    }
    const fresh = LogSegment.open(this.dir, old.baseOffset, this.config, this.now());
    if (!fresh.loadIndexes()) fresh.recover();
    this.segments[i] = fresh;
    return true;
  }

  /** fsyncs every unflushed segment; the recovery point moves to the log end seen at the call. */
  flush(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.closed) return;
      const upTo = this.logEnd;
      this.unflushedMessages = 0;
      this.lastFlushMs = this.now();
      for (const s of this.segments.slice(this.segmentIndexFor(this.recovery))) {
        if (!s.isUnflushed) continue;
        try {
          await s.flush();
        } catch (err) {
          // A segment deleted by retention or truncation while its fsync waited has nothing left to flush.
          if (this.segments.includes(s)) throw err;
        }
      }
      this.recovery = Math.max(this.recovery, Math.min(upTo, this.logEnd));
    };
    this.flushing = this.flushing.then(run, run);
    return this.flushing;
  }

  /** Applies flush.messages and flush.ms; resolves at once when no flush is due. */
  async flushIfDue(): Promise<void> {
    const { flushMessages, flushMs } = this.config;
    if (this.unflushedMessages === 0) return;
    if (this.unflushedMessages >= flushMessages || this.now() - this.lastFlushMs >= flushMs) await this.flush();
  }

  /** Closes the files after a final flush of pending work; the log cannot be used after. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    // A clean restart loads this and reads no batch to rebuild producer state.
    this.producerState.takeSnapshot(this.logEnd);
    this.closed = true;
    this.tail?.clear();
    for (const s of this.segments) s.close();
  }

  /** Closes and removes the log's directory (rename first, so a crash mid-way leaves no half log). */
  delete(): void {
    this.closed = true;
    this.tail?.clear();
    for (const s of this.segments) s.delete();
    const doomed = `${this.dir}.${randomUUID().replace(/-/g, '')}-delete`;
    io('rename', this.dir, () => fs.renameSync(this.dir, doomed));
    io('delete', doomed, () => fs.rmSync(doomed, { recursive: true, force: true }));
  }

  private ensureOpen(): void {
    if (this.closed) throw new MillraceError('KAFKA_STORAGE_ERROR', `log ${this.dir} is closed`);
  }
}
