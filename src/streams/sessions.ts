/**
 * Session windows, as Kafka Streams' SessionWindows: a key's records closer than the inactivity
 * gap belong to one session; a record joining sessions merges them. Each merge emits a tombstone
 * for every session it replaced and the merged session's new value, keyed by `Windowed<K>`
 * (start and end are the first and last record's timestamps). A record whose session would end
 * before stream time minus the grace period is dropped as late, as Kafka drops it.
 */
import type { Serde } from '../client/index.js';
import { KTable } from './ktable.js';
import type { SessionStore } from './session-store.js';
import { sessionStoreSpec, type StoreType } from './store-specs.js';
import type { Topology } from './topology.js';
import { requireMs, retentionOf, type Window, type Windowed } from './windows.js';

export class SessionWindows {
  private constructor(
    readonly gapMs: number,
    readonly graceMs: number,
  ) {}

  static ofInactivityGapWithNoGrace(gapMs: number): SessionWindows {
    return SessionWindows.ofInactivityGapAndGrace(gapMs, 0);
  }

  static ofInactivityGapAndGrace(gapMs: number, graceMs: number): SessionWindows {
    return new SessionWindows(requireMs('an inactivity gap', gapMs, 1), requireMs('a grace period', graceMs, 0));
  }
}

/** A session aggregation's store: its name, the serde of its values (default JSON) and its type. */
export interface SessionMaterialized<V> {
  storeName?: string;
  valueSerde?: Serde<V>;
  /** Default 'persistent' (on local disk), as Kafka's default RocksDB session store. */
  storeType?: StoreType;
  /** How long sessions stay in the store (Kafka's withRetention): at least two gaps plus grace, the default. */
  retentionMs?: number;
}

/** A stream grouped by key and windowed into sessions (Kafka's SessionWindowedKStream). */
export class SessionWindowedKStream<K, V> {
  constructor(
    private readonly topology: Topology,
    private readonly parentFor: (storeName: string) => string,
    private readonly windows: SessionWindows,
    private readonly keySerde: Serde<K>,
  ) {}

  count(materialized: SessionMaterialized<number> = {}): KTable<Windowed<K>, number> {
    return this.aggregate<number>(
      () => 0,
      (_k, _v, n) => n + 1,
      (_k, a, b) => a + b,
      materialized,
    );
  }

  reduce(reducer: (aggregate: V, value: V) => V, materialized: SessionMaterialized<V> = {}): KTable<Windowed<K>, V> {
    return this.fold<V>(
      (_k, v, old) => (old === undefined ? v : reducer(old, v)),
      (_k, a, b) => reducer(a, b),
      materialized,
    );
  }

  /** `merger` combines the aggregates of two sessions a record joins into one. */
  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    merger: (key: K, a: VA, b: VA) => VA,
    materialized: SessionMaterialized<VA> = {},
  ): KTable<Windowed<K>, VA> {
    return this.fold<VA>(
      (k, v, old) => aggregator(k, v, old === undefined ? initializer() : old),
      merger,
      materialized,
    );
  }

  private fold<VA>(
    step: (key: K, value: V, old: VA | undefined) => VA,
    merger: (key: K, a: VA, b: VA) => VA,
    materialized: SessionMaterialized<VA>,
  ): KTable<Windowed<K>, VA> {
    const storeName = materialized.storeName ?? this.topology.newName('KSTREAM-AGGREGATE-STATE-STORE');
    const parent = this.parentFor(storeName);
    const name = this.topology.newName('KSTREAM-AGGREGATE');
    const { gapMs, graceMs } = this.windows;
    this.topology.addProcessor(
      name,
      () => {
        let streamTime = -1;
        return (record, context) => {
          if (record.key === null || record.value === null) return;
          streamTime = Math.max(streamTime, record.timestamp);
          const ts = record.timestamp;
          const store = context.getStateStore<SessionStore<K, VA>>(storeName);
          const key = record.key as K;
          const merged = store.find(key, ts - gapMs, ts + gapMs);
          let start = ts;
          let end = ts;
          for (const s of merged) {
            start = Math.min(start, s.start);
            end = Math.max(end, s.end);
          }
          // Late, as Kafka judges it: the session the record would make ends before stream time minus grace.
          if (end < streamTime - graceMs) return;
          let aggregate: VA | undefined;
          for (const s of merged) {
            aggregate = aggregate === undefined ? s.value : merger(key, aggregate, s.value);
            store.remove(key, s);
            const window: Window = { start: s.start, end: s.end };
            context.forward({ ...record, key: { key, window }, value: null });
          }
          const value = step(key, record.value as V, aggregate);
          store.put(key, { start, end, value });
          store.expire(streamTime);
          context.forward({ ...record, key: { key, window: { start, end } }, value });
        };
      },
      parent,
    );
    this.topology.addStateStore(
      sessionStoreSpec<K, VA>(
        storeName,
        this.keySerde,
        materialized.valueSerde,
        // A record within grace may bridge to a session up to two gaps before the open one.
        retentionOf(materialized.retentionMs, 2 * gapMs + graceMs, storeName),
        materialized.storeType,
      ),
      name,
    );
    return new KTable<Windowed<K>, VA>(this.topology, name, storeName, graceMs);
  }
}
