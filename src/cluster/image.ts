/**
 * The metadata image: an immutable view of the metadata log at one sequence, built by every
 * broker from a watch on the KV bucket. Each change yields a new image; partition actors
 * reconcile against it.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { z } from 'zod';
import {
  brokerRecord,
  controllerRecord,
  keys,
  producerIdsRecord,
  topicRecord,
  type BrokerRecord,
  type ControllerRecord,
  type ProducerIdsRecord,
  type TopicRecord,
} from './records.js';

export interface MetadataImage {
  /** Sequence of the last metadata-log entry applied. */
  readonly version: number;
  readonly controller: ControllerRecord | null;
  readonly brokers: ReadonlyMap<number, BrokerRecord>;
  readonly topics: ReadonlyMap<string, TopicRecord>;
  readonly producerIds: ProducerIdsRecord | null;
}

export const emptyImage: MetadataImage = {
  version: 0,
  controller: null,
  brokers: new Map(),
  topics: new Map(),
  producerIds: null,
};

const decoder = new TextDecoder();

function parse<T>(schema: z.ZodType<T>, entry: KvWatchEntry, logger: Logger): T | null {
  try {
    return schema.parse(JSON.parse(decoder.decode(entry.value)));
  } catch (err) {
    logger.error({ key: entry.key, revision: entry.revision, err }, 'metadata record does not parse: skipped');
    return null;
  }
}

/** Applies one KV entry to an image, returning the new image. */
export function applyEntry(image: MetadataImage, entry: KvWatchEntry, logger: Logger): MetadataImage {
  const deleted = entry.operation !== 'PUT';
  const next = { ...image, version: Math.max(image.version, entry.revision) };
  if (entry.key === 'controller') {
    next.controller = deleted ? null : (parse(controllerRecord, entry, logger) ?? image.controller);
  } else if (entry.key === keys.producerIds) {
    next.producerIds = deleted ? null : (parse(producerIdsRecord, entry, logger) ?? image.producerIds);
  } else if (entry.key.startsWith('broker.')) {
    const brokers = new Map(image.brokers);
    const id = Number(entry.key.slice('broker.'.length));
    const rec = deleted ? null : parse(brokerRecord, entry, logger);
    if (rec) brokers.set(id, rec);
    else if (deleted) brokers.delete(id);
    next.brokers = brokers;
  } else if (entry.key.startsWith('topic.')) {
    const topics = new Map(image.topics);
    const name = entry.key.slice('topic.'.length);
    const rec = deleted ? null : parse(topicRecord, entry, logger);
    if (rec) topics.set(name, rec);
    else if (deleted) topics.delete(name);
    next.topics = topics;
  }
  return next;
}

/**
 * Watches the metadata bucket and keeps the latest image. `onImage` is called after the initial
 * load and after every change.
 */
export class MetadataLoader {
  private current: MetadataImage = emptyImage;
  private stopWatch: (() => void) | null = null;
  private loaded = false;
  private stopped = false;
  private waiters: Array<{ version: number; resolve: () => void }> = [];

  constructor(
    private readonly kv: KV,
    private readonly logger: Logger,
    private readonly onImage: (image: MetadataImage, initial: boolean) => void,
  ) {}

  get image(): MetadataImage {
    return this.current;
  }

  /** Resolves once every record present at the call has been applied. */
  async start(): Promise<void> {
    const status = await this.kv.status();
    const target = status.values === 0 ? 0 : status.streamInfo.state.last_seq;
    let resolveLoaded: () => void = () => undefined;
    const initialized = new Promise<void>((resolve) => (resolveLoaded = resolve));
    const markLoaded = (): void => {
      this.loaded = true;
      this.onImage(this.current, true);
      resolveLoaded();
    };
    if (target === 0) markLoaded();
    await this.watchFrom(null, (entry) => {
      if (!this.loaded && entry.revision >= target) markLoaded();
    });
    await initialized;
  }

  /**
   * Watches the bucket, from the beginning or from `revision`, applying every entry. A watch that
   * ends while the loader runs (its consumer lost under load, a NATS restart) is started again
   * after the last revision applied, so the image never silently freezes.
   */
  private async watchFrom(revision: number | null, onEntry: (entry: KvWatchEntry) => void): Promise<void> {
    const watch = await this.kv.watch(revision === null ? {} : { resumeFromRevision: revision });
    this.stopWatch = () => {
      this.stopped = true;
      watch.stop();
    };
    void (async () => {
      for await (const entry of watch) {
        if (entry.revision <= this.current.version && revision !== null) continue;
        this.current = applyEntry(this.current, entry, this.logger);
        onEntry(entry);
        if (this.loaded) this.onImage(this.current, false);
        this.releaseWaiters();
      }
    })()
      .catch((err: unknown) => this.logger.warn({ err }, 'metadata watch failed'))
      .finally(() => {
        if (this.stopped) return;
        this.logger.warn({ version: this.current.version }, 'metadata watch ended: watching again');
        setTimeout(() => {
          if (!this.stopped)
            this.watchFrom(this.current.version + 1, () => undefined).catch((err: unknown) =>
              this.logger.error({ err }, 'cannot watch metadata again'),
            );
        }, 200).unref();
      });
  }

  /** Resolves when the image includes the metadata-log entry at `version`. */
  waitFor(version: number): Promise<void> {
    if (this.current.version >= version) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ version, resolve }));
  }

  private releaseWaiters(): void {
    const ready = this.waiters.filter((w) => this.current.version >= w.version);
    if (ready.length === 0) return;
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
