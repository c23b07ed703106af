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
import { serializeNow, type Topology } from './topology.js';

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
    if (!Number.isInteger(sizeMs) || sizeMs <= 0)
      throw new MillraceError('INVALID_CONFIG', `a window size must be a positive integer of ms, got ${sizeMs}`);
    if (!Number.isInteger(graceMs) || graceMs < 0)
      throw new MillraceError('INVALID_CONFIG', `a grace period must be a non-negative integer of ms, got ${graceMs}`);
    return new TimeWindows(sizeMs, sizeMs, graceMs);
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

/** A window store: one value per key and window start, kept while the window may still change. */
export class InMemoryWindowStore<K, V> {
  private readonly entries = new Map<string, { key: K; start: number; value: V }>();

  constructor(
    readonly name: string,
    private readonly keySerde: Serde<K>,
    readonly retentionMs: number,
  ) {}

  private id(key: K, start: number): string {
    return `${serializeNow(this.keySerde, key, { topic: this.name, part: 'key', headers: {} }).toString('latin1')}\u0000${start}`;
  }

  get(key: K, start: number): V | undefined {
    return this.entries.get(this.id(key, start))?.value;
  }

  put(key: K, start: number, value: V): void {
    this.entries.set(this.id(key, start), { key, start, value });
  }

  /** The key's windows that start within [from, to], oldest first. */
  fetch(key: K, from: number, to: number): Array<[number, V]> {
    const prefix = this.id(key, 0).replace(/0$/, '');
    return [...this.entries.entries()]
      .filter(([id, e]) => id.startsWith(prefix) && e.start >= from && e.start <= to)
      .map(([, e]): [number, V] => [e.start, e.value])
      .sort((a, b) => a[0] - b[0]);
  }

  /** Drops windows that ended before `streamTime - retention`. */
  expire(streamTime: number): void {
    for (const [id, e] of this.entries) if (e.start + this.retentionMs <= streamTime) this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** A stream grouped by key and windowed in time (Kafka's TimeWindowedKStream). */
export class TimeWindowedKStream<K, V> {
  constructor(
    private readonly topology: Topology,
    private readonly parent: string,
    private readonly windows: TimeWindows,
    private readonly keySerde: Serde<K>,
  ) {}

  count(materialized: { storeName?: string } = {}): KTable<Windowed<K>, number> {
    return this.aggregate<number>(
      () => 0,
      (_k, _v, n) => n + 1,
      materialized,
    );
  }

  reduce(reducer: (aggregate: V, value: V) => V, materialized: { storeName?: string } = {}): KTable<Windowed<K>, V> {
    return this.fold<V>((_k, v, old) => (old === undefined ? v : reducer(old, v)), materialized);
  }

  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    materialized: { storeName?: string } = {},
  ): KTable<Windowed<K>, VA> {
    return this.fold<VA>((k, v, old) => aggregator(k, v, old === undefined ? initializer() : old), materialized);
  }

  private fold<VA>(
    step: (key: K, value: V, old: VA | undefined) => VA,
    materialized: { storeName?: string },
  ): KTable<Windowed<K>, VA> {
    const storeName = materialized.storeName ?? this.topology.newName('KSTREAM-AGGREGATE-STATE-STORE');
    const name = this.topology.newName('KSTREAM-AGGREGATE');
    const { windows } = this;
    this.topology.addProcessor(
      name,
      () => {
        // Stream time is the task's: each instance of the processor keeps its own.
        let streamTime = -1;
        return (record, context) => {
          if (record.key === null || record.value === null) return;
          streamTime = Math.max(streamTime, record.timestamp);
          const store = context.getStateStore<InMemoryWindowStore<K, VA>>(storeName);
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
      },
      this.parent,
    );
    const retention = windows.sizeMs + windows.graceMs;
    this.topology.addStateStore(
      { name: storeName, create: () => new InMemoryWindowStore<K, VA>(storeName, this.keySerde, retention) },
      name,
    );
    return new KTable<Windowed<K>, VA>(this.topology, name, storeName, windows.graceMs);
  }
}
