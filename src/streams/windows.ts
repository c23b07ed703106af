/**
 * Time windows, as Kafka Streams' TimeWindows (tumbling when the advance is the size, hopping
 * when smaller), and the windowed aggregations over them: each record counts in every window
 * holding its timestamp; stream time is the largest timestamp the aggregation has seen, and a
 * record whose window closed (its end plus the grace period at or before stream time) is
 * dropped as late, as Kafka drops it. Results are keyed by `Windowed<K>`.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { Serde } from '../client/index.js';
import { KTable } from './ktable.js';
import { defaultValueSerde } from './stores.js';
import { windowStoreSpec, type StoreType } from './store-specs.js';
import type { WindowStore } from './window-store.js';
import { SlidingWindows, slidingAggregateProcessor, timestampedSerde } from './sliding-windows.js';
import { deserializeNow, serializeNow, type ProcessFn, type Topology } from './topology.js';

export interface Window {
  /** Inclusive. */
  start: number;
  /** Exclusive. */
  end: number;
}

export interface Windowed<K> {
  key: K;
  window: Window;
}

/** A window setting in ms: an integer of at least `min`, else INVALID_CONFIG naming it. */
export function requireMs(what: string, ms: number, min: 0 | 1): number {
  if (!Number.isInteger(ms) || ms < min)
    throw new MillraceError(
      'INVALID_CONFIG',
      `${what} must be a ${min === 1 ? 'positive' : 'non-negative'} integer of ms, got ${ms}`,
    );
  return ms;
}

export class TimeWindows {
  private constructor(
    readonly sizeMs: number,
    readonly advanceMs: number,
    readonly graceMs: number,
  ) {}

  static ofSizeWithNoGrace(sizeMs: number): TimeWindows {
    return TimeWindows.ofSizeAndGrace(sizeMs, 0);
  }

  static ofSizeAndGrace(sizeMs: number, graceMs: number): TimeWindows {
    requireMs('a window size', sizeMs, 1);
    return new TimeWindows(sizeMs, sizeMs, requireMs('a grace period', graceMs, 0));
  }

  /** Hopping windows: a new window every `advanceMs` (at most the size). */
  advanceBy(advanceMs: number): TimeWindows {
    if (!Number.isInteger(advanceMs) || advanceMs <= 0 || advanceMs > this.sizeMs)
      throw new MillraceError('INVALID_CONFIG', `the advance must be within (0, ${this.sizeMs}] ms, got ${advanceMs}`);
    return new TimeWindows(this.sizeMs, advanceMs, this.graceMs);
  }

  /** Every window holding `timestamp`, oldest first (Kafka's windowsFor). */
  windowsFor(timestamp: number): Window[] {
    const out: Window[] = [];
    const first = Math.floor(Math.max(0, timestamp - this.sizeMs + this.advanceMs) / this.advanceMs) * this.advanceMs;
    for (let start = first; start <= timestamp; start += this.advanceMs) out.push({ start, end: start + this.sizeMs });
    return out;
  }
}

/** A windowed aggregation's store: its name and the serde of its values in the changelog (default JSON). */
export interface WindowMaterialized<V> {
  storeName?: string;
  valueSerde?: Serde<V>;
  /** Default 'persistent' (on local disk), as Kafka's default RocksDB window store. */
  storeType?: StoreType;
  /**
   * How long windows stay in the store for interactive queries (Kafka's withRetention); at least
   * what the windows need (size plus grace; for sliding windows three differences plus grace), which is the default.
   */
  retentionMs?: number;
}

/** A materialization's retention, or what the windows need when none is given (INVALID_CONFIG when shorter). */
export function retentionOf(asked: number | undefined, needed: number, storeName: string): number {
  if (asked === undefined) return needed;
  if (!Number.isInteger(asked) || asked < needed)
    throw new MillraceError(
      'INVALID_CONFIG',
      `store '${storeName}' needs a retention of at least ${needed} ms for its windows, got ${asked}`,
    );
  return asked;
}

/** The processor of a tumbling or hopping window aggregation into the window store `storeName`. */
function timeAggregateProcessor<K, V, VA>(
  windows: TimeWindows,
  storeName: string,
  step: (key: K, value: V, old: VA | undefined) => VA,
): () => ProcessFn {
  return () => {
    // Stream time is the task's: each instance of the processor keeps its own.
    let streamTime = -1;
    return (record, context) => {
      if (record.key === null || record.value === null) return;
      streamTime = Math.max(streamTime, record.timestamp);
      const store = context.getStateStore<WindowStore<K, VA>>(storeName);
      const closeTime = streamTime - windows.graceMs;
      const key = record.key as K;
      for (const w of windows.windowsFor(record.timestamp)) {
        if (w.end <= closeTime) continue; // late: its window closed
        const updated = step(key, record.value as V, store.get(key, w.start));
        store.put(key, w.start, updated);
        context.forward({ ...record, key: { key, window: w }, value: updated });
      }
      store.expire(streamTime);
    };
  };
}

/**
 * A stream grouped by key and windowed in time (Kafka's TimeWindowedKStream): tumbling, hopping
 * or sliding windows.
 */
export class TimeWindowedKStream<K, V> {
  constructor(
    private readonly topology: Topology,
    /** The node the aggregation reads, given its store's name (a repartition may be named after it). */
    private readonly parentFor: (storeName: string) => string,
    private readonly windows: TimeWindows | SlidingWindows,
    private readonly keySerde: Serde<K>,
  ) {}

  count(materialized: WindowMaterialized<number> = {}): KTable<Windowed<K>, number> {
    return this.aggregate<number>(
      () => 0,
      (_k, _v, n) => n + 1,
      materialized,
    );
  }

  reduce(reducer: (aggregate: V, value: V) => V, materialized: WindowMaterialized<V> = {}): KTable<Windowed<K>, V> {
    return this.fold<V>((_k, v, old) => (old === undefined ? v : reducer(old, v)), materialized);
  }

  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    materialized: WindowMaterialized<VA> = {},
  ): KTable<Windowed<K>, VA> {
    return this.fold<VA>((k, v, old) => aggregator(k, v, old === undefined ? initializer() : old), materialized);
  }

  private fold<VA>(
    step: (key: K, value: V, old: VA | undefined) => VA,
    materialized: WindowMaterialized<VA>,
  ): KTable<Windowed<K>, VA> {
    const storeName = materialized.storeName ?? this.topology.newName('KSTREAM-AGGREGATE-STATE-STORE');
    const parent = this.parentFor(storeName);
    const name = this.topology.newName('KSTREAM-AGGREGATE');
    const { windows } = this;
    if (windows instanceof SlidingWindows) {
      const ctx = { topic: storeName, part: 'value' as const, headers: {} };
      const inner = defaultValueSerde(materialized.valueSerde);
      const copy = (a: VA): VA => deserializeNow(inner, serializeNow(inner, a, ctx), ctx);
      this.topology.addProcessor(name, slidingAggregateProcessor<K, V, VA>(windows, storeName, step, copy), parent);
    } else this.topology.addProcessor(name, timeAggregateProcessor<K, V, VA>(windows, storeName, step), parent);
    this.topology.addStateStore(
      windows instanceof SlidingWindows
        ? windowStoreSpec(
            storeName,
            this.keySerde,
            retentionOf(materialized.retentionMs, windows.retentionMs, storeName),
            timestampedSerde(materialized.valueSerde),
            materialized.storeType,
          )
        : windowStoreSpec(
            storeName,
            this.keySerde,
            retentionOf(materialized.retentionMs, windows.sizeMs + windows.graceMs, storeName),
            materialized.valueSerde,
            materialized.storeType,
          ),
      name,
    );
    // A sliding window includes its end, so it closes a millisecond later than its end plus grace.
    const closesAfterEndMs = windows instanceof SlidingWindows ? windows.graceMs + 1 : windows.graceMs;
    return new KTable<Windowed<K>, VA>(this.topology, name, storeName, closesAfterEndMs);
  }
}
