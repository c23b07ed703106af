/**
 * All logs of one data directory: loading them at start (recovering after an unclean stop),
 * creating and deleting them, the recovery-point and log-start-offset checkpoints, the
 * clean-shutdown marker, and the background retention and flush tasks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pino, type Logger } from 'pino';
import { MillraceError } from '../../protocol/errors.js';
import { OffsetCheckpointFile } from './checkpoint.js';
import { LogCleaner, type CleanerSettings, type CleanResult } from './cleaner.js';
import { logConfig, type LogConfig } from './config.js';
import { io, writeFileAtomic } from './files.js';
import { Log } from './log.js';
import { TailCache } from './tail-cache.js';

export const CLEAN_SHUTDOWN_MARKER = '.millrace_cleanshutdown';
export const RECOVERY_POINT_CHECKPOINT = 'recovery-point-offset-checkpoint';
export const LOG_START_OFFSET_CHECKPOINT = 'log-start-offset-checkpoint';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A replica's directory name (and its key here): `<topic>-<partition>`, as Kafka names it. */
export const logDirName = (tp: TopicPartition): string => `${tp.topic}-${tp.partition}`;

/** `<topic>-<partition>`: topics may contain '-', the partition follows the last one. */
export function parseLogDirName(name: string): TopicPartition | null {
  const dash = name.lastIndexOf('-');
  if (dash <= 0) return null;
  const partition = Number(name.slice(dash + 1));
  if (!/^\d+$/.test(name.slice(dash + 1)) || !Number.isSafeInteger(partition)) return null;
  return { topic: name.slice(0, dash), partition };
}

export interface LogManagerOptions {
  dataDir: string;
  /** Per-topic configuration (topic overrides on broker defaults). */
  configFor?: (topic: string) => LogConfig;
  now?: () => number;
  logger?: Logger;
  /** producer.id.expiration.ms: an idempotent producer idle this long is forgotten (Kafka: 1 day). */
  producerIdExpirationMs?: number;
  /** Compaction: the cleaner's bounds, and who hears of each pass (metrics). */
  cleaner?: CleanerSettings & { onCleaned?: (result: CleanResult, maxDirtyRatio: number) => void };
  /** The tail cache's budget over every log (0, the default, turns it off). */
  tailCacheBytes?: number;
}

export interface BackgroundIntervals {
  /** log.retention.check.interval.ms */
  retentionCheckMs?: number;
  /** log.flush.scheduler.interval.ms: how often flush.ms is checked. */
  flushCheckMs?: number;
  /** log.flush.offset.checkpoint.interval.ms */
  checkpointMs?: number;
  /** producer.id.expiration.check.interval.ms */
  producerIdExpirationCheckMs?: number;
  /** log.cleaner.backoff.ms: how often the cleaner looks for a compacted log worth cleaning. */
  cleanerBackoffMs?: number;
}

export class LogManager {
  private readonly logs = new Map<string, Log>();
  private readonly timers: NodeJS.Timeout[] = [];
  readonly hadCleanShutdown: boolean;
  private readonly recoveryCheckpoint: OffsetCheckpointFile;
  private readonly startCheckpoint: OffsetCheckpointFile;
  private readonly configFor: (topic: string) => LogConfig;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly producerIdExpirationMs: number;
  private readonly cleaner: LogCleaner;
  private readonly onCleaned: (result: CleanResult, maxDirtyRatio: number) => void;
  private cleaning = false;
  private closed = false;
  /** The newest batches of every log, in memory for tailing readers. */
  readonly tailCache: TailCache;

  private constructor(
    readonly dataDir: string,
    options: LogManagerOptions,
  ) {
    this.configFor = options.configFor ?? (() => logConfig());
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.producerIdExpirationMs = options.producerIdExpirationMs ?? 86_400_000;
    this.cleaner = new LogCleaner({
      maxKeys: options.cleaner?.maxKeys ?? 1_000_000,
      ioBytesPerSecond: options.cleaner?.ioBytesPerSecond ?? Infinity,
      now: this.now,
    });
    this.onCleaned = options.cleaner?.onCleaned ?? (() => undefined);
    this.tailCache = new TailCache(options.tailCacheBytes ?? 0);
    io('create directory', dataDir, () => fs.mkdirSync(dataDir, { recursive: true }));
    const marker = path.join(dataDir, CLEAN_SHUTDOWN_MARKER);
    this.hadCleanShutdown = fs.existsSync(marker);
    this.recoveryCheckpoint = new OffsetCheckpointFile(path.join(dataDir, RECOVERY_POINT_CHECKPOINT));
    this.startCheckpoint = new OffsetCheckpointFile(path.join(dataDir, LOG_START_OFFSET_CHECKPOINT));
  }

  /**
   * Loads every log under `dataDir`. A log that cannot be read fails the whole load with an error
   * naming the file: a broker must not come up silently missing a partition.
   */
  static open(options: LogManagerOptions): LogManager {
    const manager = new LogManager(options.dataDir, options);
    for (const _ of manager.loadLogs());
    return manager;
  }

  /**
   * As open(), in slices of at most `sliceMs` that yield to the event loop: a broker loading
   * thousands of logs keeps heartbeating while it does.
   */
  static async openInSlices(options: LogManagerOptions, sliceMs = 10): Promise<LogManager> {
    const manager = new LogManager(options.dataDir, options);
    let deadline = performance.now() + sliceMs;
    for (const _ of manager.loadLogs()) {
      if (performance.now() < deadline) continue;
      await new Promise((resolve) => setImmediate(resolve));
      deadline = performance.now() + sliceMs;
    }
    return manager;
  }

  /** Loads the logs one at a time, yielding after each. */
  private *loadLogs(): Generator<void> {
    const recoveryPoints = this.recoveryCheckpoint.read();
    const startOffsets = this.startCheckpoint.read();
    const started = this.now();
    for (const entry of io('list', this.dataDir, () => fs.readdirSync(this.dataDir, { withFileTypes: true }))) {
      if (!entry.isDirectory()) continue;
      const full = path.join(this.dataDir, entry.name);
      if (entry.name.endsWith('-delete')) {
        io('delete', full, () => fs.rmSync(full, { recursive: true, force: true }));
        continue;
      }
      const tp = parseLogDirName(entry.name);
      if (tp === null) {
        this.logger.warn({ dir: full }, 'not a partition directory: left alone');
        continue;
      }
      const key = logDirName(tp);
      this.logs.set(
        key,
        Log.open({
          dir: full,
          config: this.configFor(tp.topic),
          recoveryPoint: recoveryPoints.get(key) ?? 0,
          logStartOffset: startOffsets.get(key) ?? 0,
          hadCleanShutdown: this.hadCleanShutdown,
          now: this.now,
          logger: this.logger.child({ partition: key }),
          tailCache: this.tailCache,
        }),
      );
      yield;
    }
    // From now until a clean close, a stop is unclean.
    const marker = path.join(this.dataDir, CLEAN_SHUTDOWN_MARKER);
    io('delete', marker, () => fs.rmSync(marker, { force: true }));
    this.logger.info(
      { logs: this.logs.size, cleanShutdown: this.hadCleanShutdown, ms: this.now() - started },
      'loaded logs',
    );
  }

  get(tp: TopicPartition): Log | undefined {
    return this.logs.get(logDirName(tp));
  }

  getOrCreate(tp: TopicPartition, config: LogConfig = this.configFor(tp.topic)): Log {
    this.ensureOpen();
    const existing = this.logs.get(logDirName(tp));
    if (existing) return existing;
    const log = Log.open({
      dir: path.join(this.dataDir, logDirName(tp)),
      config,
      hadCleanShutdown: true,
      now: this.now,
      logger: this.logger.child({ partition: logDirName(tp) }),
      tailCache: this.tailCache,
    });
    this.logs.set(logDirName(tp), log);
    return log;
  }

  delete(tp: TopicPartition): boolean {
    const log = this.logs.get(logDirName(tp));
    if (!log) return false;
    this.logs.delete(logDirName(tp));
    log.delete();
    return true;
  }

  all(): IterableIterator<[string, Log]> {
    return this.logs.entries();
  }

  /** Deletes segments past retention in every log; returns how many. */
  cleanupLogs(): number {
    let deleted = 0;
    for (const log of this.logs.values()) deleted += log.deleteOldSegments();
    return deleted;
  }

  /** Forgets idle producers in every log; returns how many. */
  expireProducers(): number {
    let removed = 0;
    for (const log of this.logs.values()) removed += log.removeExpiredProducers(this.producerIdExpirationMs);
    return removed;
  }

  /**
   * One compaction pass on the dirtiest compacted log whose dirty share reaches its
   * min.cleanable.dirty.ratio; one pass at a time. Returns what it did, or null.
   */
  async cleanDirtiest(): Promise<CleanResult | null> {
    if (this.cleaning || this.closed) return null;
    this.cleaning = true;
    try {
      let best: { log: Log; ratio: number } | null = null;
      let maxRatio = 0;
      for (const log of this.logs.values()) {
        if (log.config.cleanupPolicy === 'delete') continue;
        const dirty = this.cleaner.dirtyState(log);
        maxRatio = Math.max(maxRatio, dirty.ratio);
        if (dirty.cleanableEnd <= dirty.firstDirtyOffset || dirty.ratio < log.config.minCleanableDirtyRatio) continue;
        if (!best || dirty.ratio > best.ratio) best = { log, ratio: dirty.ratio };
      }
      if (!best) return null;
      const result = await this.cleaner.clean(best.log);
      if (result) {
        this.logger.info({ ...result, dirtyRatio: best.ratio }, 'cleaned log');
        this.onCleaned(result, maxRatio);
      }
      return result;
    } finally {
      this.cleaning = false;
    }
  }

  async flushDue(): Promise<void> {
    await Promise.all([...this.logs.values()].map((log) => log.flushIfDue()));
  }

  checkpoint(): void {
    const entries = [...this.logs.entries()].map(([key, log]) => ({ tp: parseLogDirName(key)!, log }));
    this.recoveryCheckpoint.write(entries.map(({ tp, log }) => [tp.topic, tp.partition, log.recoveryPoint]));
    this.startCheckpoint.write(entries.map(({ tp, log }) => [tp.topic, tp.partition, log.logStartOffset]));
  }

  /** Starts retention, flush.ms and checkpoint timers (Kafka's defaults: 5 min, 1 s here, 60 s). */
  startBackgroundTasks(intervals: BackgroundIntervals = {}): void {
    const every = (ms: number, what: string, task: () => unknown): void => {
      const timer = setInterval(() => {
        Promise.resolve()
          .then(task)
          .catch((err: unknown) => this.logger.error({ err }, `${what} failed`));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(intervals.retentionCheckMs ?? 300_000, 'retention', () => this.cleanupLogs());
    every(intervals.flushCheckMs ?? 1_000, 'scheduled flush', () => this.flushDue());
    every(intervals.checkpointMs ?? 60_000, 'checkpoint', () => this.checkpoint());
    every(intervals.producerIdExpirationCheckMs ?? 600_000, 'producer id expiration', () => this.expireProducers());
    every(intervals.cleanerBackoffMs ?? 15_000, 'log cleaner', () => this.cleanDirtiest());
  }

  /** Flushes and closes every log, writes the checkpoints, then the clean-shutdown marker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    this.checkpoint();
    const marker = path.join(this.dataDir, CLEAN_SHUTDOWN_MARKER);
    writeFileAtomic(marker, '');
  }

  private ensureOpen(): void {
    if (this.closed) throw new MillraceError('KAFKA_STORAGE_ERROR', `log manager for ${this.dataDir} is closed`);
  }
}
