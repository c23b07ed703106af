/**
 * Keeps a broker's metadata image current from a watch on the metadata bucket. Entries that
 * arrive in one turn of the event loop are replayed into one delta and published as one image,
 * so a burst of thousands of partition records costs one reconciliation, not thousands.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { MetadataDelta, decodeEntry, emptyImage, type ImageChanges, type MetadataImage } from './image.js';

/** Entries replayed into one image at most while a burst is still arriving. */
const MAX_ENTRIES_PER_IMAGE = 1_000;

export type ImageListener = (image: MetadataImage, changes: ImageChanges, initial: boolean) => void;

export class MetadataLoader {
  private current: MetadataImage = emptyImage;
  private delta: MetadataDelta | null = null;
  private publishScheduled = false;
  /** Entries in the delta not yet published. */
  private pendingEntries = 0;
  private stopWatch: (() => void) | null = null;
  private loaded = false;
  private loadTarget = 0;
  private resolveLoaded: () => void = () => undefined;
  private stopped = false;
  private waiters: Array<{ version: number; resolve: () => void }> = [];

  constructor(
    private readonly kv: KV,
    private readonly logger: Logger,
    private readonly onImage: ImageListener,
  ) {}

  get image(): MetadataImage {
    return this.current;
  }

  /** Resolves once every record present at the call has been applied. */
  async start(): Promise<void> {
    const status = await this.kv.status();
    this.loadTarget = status.values === 0 ? 0 : status.streamInfo.state.last_seq;
    const initialized = new Promise<void>((resolve) => (this.resolveLoaded = resolve));
    await this.watchFrom(null);
    if (this.loadTarget === 0) this.publish();
    await initialized;
  }

  /**
   * Watches the bucket, from the beginning or from `revision`, applying every entry. A watch that
   * ends while the loader runs (its consumer lost under load, a NATS restart) is started again
   * after the last revision applied, so the image never silently freezes.
   */
  private async watchFrom(revision: number | null): Promise<void> {
    const watch = await this.kv.watch(revision === null ? {} : { resumeFromRevision: revision });
    this.stopWatch = () => {
      this.stopped = true;
      watch.stop();
    };
    void (async () => {
      for await (const entry of watch) this.receive(entry);
    })()
      .catch((err: unknown) => this.logger.warn({ err }, 'metadata watch failed'))
      .finally(() => {
        if (this.stopped) return;
        this.logger.warn({ version: this.current.version }, 'metadata watch ended: watching again');
        setTimeout(() => {
          if (this.stopped) return;
          this.publish();
          this.watchFrom(this.current.version + 1).catch((err: unknown) =>
            this.logger.error({ err }, 'cannot watch metadata again'),
          );
        }, 200).unref();
      });
  }

  private receive(entry: KvWatchEntry): void {
    const delta = (this.delta ??= new MetadataDelta(this.current));
    if (entry.revision <= this.current.version) return;
    const record = decodeEntry(entry, this.logger);
    if (record) delta.replay(record, entry.revision);
    else delta.replay({ key: '', value: null }, entry.revision);
    this.pendingEntries++;
    if (!this.loaded) {
      if (entry.revision >= this.loadTarget) this.publish();
      return;
    }
    // A long burst (a fencing writes a record per partition of the broker) is published in
    // parts, so the first records (leader moves) take effect before the last have arrived.
    if (this.pendingEntries >= MAX_ENTRIES_PER_IMAGE) {
      this.publish();
      return;
    }
    if (this.publishScheduled) return;
    this.publishScheduled = true;
    setImmediate(() => this.publish());
  }

  /** Publishes what the delta holds as the current image. */
  private publish(): void {
    this.publishScheduled = false;
    this.pendingEntries = 0;
    const delta = this.delta;
    this.delta = null;
    const initial = !this.loaded;
    let changes: ImageChanges | null = null;
    if (delta) ({ image: this.current, changes } = delta.apply());
    if (initial) {
      this.loaded = true;
      this.resolveLoaded();
    }
    if (changes || initial) {
      try {
        this.onImage(this.current, changes ?? new MetadataDelta(this.current).apply().changes, initial);
      } catch (err) {
        this.logger.error({ err, version: this.current.version }, 'applying a metadata image failed');
      }
    }
    this.releaseWaiters();
  }

  /** Resolves when the image includes the metadata-log entry at `version`. */
  waitFor(version: number): Promise<void> {
    if (this.current.version >= version) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ version, resolve }));
  }

  private releaseWaiters(): void {
    if (!this.waiters.some((w) => this.current.version >= w.version)) return;
    const ready = this.waiters.filter((w) => this.current.version >= w.version);
    this.waiters = this.waiters.filter((w) => this.current.version < w.version);
    for (const w of ready) w.resolve();
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch?.();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }
}
