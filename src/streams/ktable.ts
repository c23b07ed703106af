/**
 * Grouped streams and tables, as Kafka Streams' KGroupedStream and KTable: count, reduce and
 * aggregate keep one value per key in a key-value store and emit each update; a table's filter
 * and mapValues emit its updates transformed (a key filtered out becomes a tombstone, as Kafka's),
 * and toStream turns the updates into a stream. Every update is emitted (Kafka's behaviour with
 * record caching off); records with a null key or value are skipped by aggregations, as Kafka's.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { Serde } from '../client/index.js';
import { KStream, type Grouped } from './kstream.js';
import type { KeyValueStore } from './stores.js';
import { keyValueStoreSpec, type StoreType } from './store-specs.js';
import { TimeWindowedKStream, type TimeWindows } from './windows.js';
import { SessionWindowedKStream, SessionWindows } from './sessions.js';
import type { SlidingWindows } from './sliding-windows.js';
import { bytesSerde, passThrough, type StreamRecord, type Topology } from './topology.js';

export interface Materialized<K, V = unknown> {
  /** The store's name (Kafka's Materialized.as); default `KSTREAM-AGGREGATE-STATE-STORE-<n>`. */
  storeName?: string;
  keySerde?: Serde<K>;
  /** The serde of the store's values in its changelog (default: JSON). */
  valueSerde?: Serde<V>;
  /** Default 'persistent' (on local disk), as Kafka's default RocksDB store. */
  storeType?: StoreType;
}

export class KTable<K, V> {
  constructor(
    private readonly topology: Topology,
    /** The node emitting the table's updates. */
    readonly nodeName: string,
    /** The store holding the table, when it is materialized. */
    readonly storeName: string | null,
    /** A windowed table's grace period: when its windows close, for suppress(). */
    readonly windowGraceMs: number | null = null,
  ) {}

  /**
   * Kafka's suppress(untilWindowCloses): a windowed table emits each window's final value once,
   * when stream time passes the window's end plus its grace period, instead of every update.
   */
  suppressUntilWindowCloses(): KTable<K, V> {
    if (this.windowGraceMs === null)
      throw new MillraceError('INVALID_CONFIG', 'suppress(untilWindowCloses) needs a windowed table');
    const grace = this.windowGraceMs;
    const name = this.topology.newName('KTABLE-SUPPRESS');
    this.topology.addProcessor(
      name,
      () => {
        const pending = new Map<string, StreamRecord<unknown, unknown>>();
        let streamTime = -1;
        return (record, context) => {
          streamTime = Math.max(streamTime, record.timestamp);
          const w = record.key as { key: unknown; window: { start: number; end: number } };
          pending.set(`${JSON.stringify(w.key)}\u0000${w.window.start}`, record);
          for (const [id, r] of [...pending].sort(([, a], [, b]) => endOf(a) - endOf(b))) {
            if (endOf(r) + grace > streamTime) break;
            pending.delete(id);
            context.forward(r);
          }
        };
      },
      this.nodeName,
    );
    return new KTable<K, V>(this.topology, name, null, grace);
  }

  private then<V2>(prefix: string, update: (r: StreamRecord<K, V>) => StreamRecord<K, V2>): KTable<K, V2> {
    const name = this.topology.newName(prefix);
    this.topology.addProcessor(
      name,
      () => (record, context) =>
        context.forward(update(record as StreamRecord<K, V>) as StreamRecord<unknown, unknown>),
      this.nodeName,
    );
    return new KTable<K, V2>(this.topology, name, null, this.windowGraceMs);
  }

  /** Keys whose value fails the predicate leave the table (a tombstone is emitted for them). */
  filter(predicate: (key: K | null, value: V) => boolean): KTable<K, V> {
    return this.then('KTABLE-FILTER', (r) =>
      r.value !== null && predicate(r.key, r.value) ? r : { ...r, value: null },
    );
  }

  filterNot(predicate: (key: K | null, value: V) => boolean): KTable<K, V> {
    return this.filter((k, v) => !predicate(k, v));
  }

  mapValues<V2>(mapper: (value: V, key: K | null) => V2): KTable<K, V2> {
    return this.then('KTABLE-MAPVALUES', (r) => ({ ...r, value: r.value === null ? null : mapper(r.value, r.key) }));
  }

  /**
   * KTable-KTable inner join: a key is in the result while both tables hold it; an update on
   * either side emits the joined value, or a tombstone when the key left the result (Kafka's).
   */
  join<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO) => VR): KTable<K, VR> {
    const both = (v: V | undefined, o: VO | undefined): VR | null =>
      v !== undefined && o !== undefined ? joiner(v, o) : null;
    return this.tableJoin('KTABLE-JOIN', other, both, false, true);
  }

  /** Left join: every key of this table, joined with the other's value or null. */
  leftJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO | null) => VR): KTable<K, VR> {
    return this.tableJoin('KTABLE-LEFT', other, (v, o) => (v !== undefined ? joiner(v, o ?? null) : null), true);
  }

  /** Outer join: every key of either table, with null for the side that lacks it. */
  outerJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V | null, otherValue: VO | null) => VR): KTable<K, VR> {
    return this.tableJoin('KTABLE-OUTER', other, (v, o) =>
      v !== undefined || o !== undefined ? joiner(v ?? null, o ?? null) : null,
    );
  }

  /**
   * Both tables' updates, each looked up in the other's store (both must be materialized and
   * co-partitioned); `join` says the result for the key's two current values (null: not in it).
   * `leftOnly`: an update of the other table for a key this one lacks emits nothing; `inner`:
   * an update for a key the other side lacks emits nothing.
   */
  private tableJoin<VO, VR>(
    prefix: string,
    other: KTable<K, VO>,
    join: (value: V | undefined, otherValue: VO | undefined) => VR | null,
    leftOnly = false,
    inner = false,
  ): KTable<K, VR> {
    const mine = this.storeName;
    const theirs = other.storeName;
    if (mine === null || theirs === null)
      throw new MillraceError(
        'INVALID_CONFIG',
        'a table-table join needs both tables materialized (table(), count, reduce, aggregate)',
      );
    const side = (parent: string, store: string, fromThis: boolean): string => {
      const name = this.topology.newName(`${prefix}${fromThis ? 'THIS' : 'OTHER'}`);
      this.topology.addProcessor(
        name,
        () => (record, context) => {
          if (record.key === null) return;
          const found = context.getStateStore<KeyValueStore<K, unknown>>(store).get(record.key as K);
          const updated = record.value === null ? undefined : record.value;
          // As Kafka's processors: nothing when the looked-up side lacks the key, for an inner
          // join on both sides and a left join on the other side (the key is not in the result).
          if (found === undefined && (inner || (!fromThis && leftOnly))) return;
          const value = fromThis
            ? join(updated as V | undefined, found as VO | undefined)
            : join(found as V | undefined, updated as VO | undefined);
          context.forward({ ...record, value });
        },
        parent,
      );
      this.topology.connectStore(store, name);
      return name;
    };
    const left = side(this.nodeName, theirs, true);
    const right = side(other.nodeName, mine, false);
    const merge = this.topology.newName('KTABLE-MERGE');
    this.topology.addProcessor(merge, passThrough, left, right);
    return new KTable<K, VR>(this.topology, merge, null);
  }

  /** The table's updates as a stream (a deleted key as a null value). */
  toStream(): KStream<K, V> {
    const name = this.topology.newName('KTABLE-TOSTREAM');
    this.topology.addProcessor(name, passThrough, this.nodeName);
    return new KStream<K, V>(this.topology, name);
  }
}

export class KGroupedStream<K, V> {
  constructor(
    private readonly topology: Topology,
    private readonly stream: KStream<K, V>,
    private readonly grouped: Grouped<K, V>,
  ) {}

  private get keySerde(): Serde<K> | undefined {
    return this.grouped.keySerde;
  }

  /**
   * The node the aggregation reads: the stream itself, or its repartition by the new key
   * (`<applicationId>-<Grouped name, else the store's>-repartition`).
   */
  private parentFor(storeName: string): string {
    if (!this.stream.repartitionRequired) return this.stream.nodeName;
    return this.stream.repartition({ ...this.grouped, name: this.grouped.name ?? storeName }).nodeName;
  }

  /** Windows the grouped stream in time (tumbling, hopping or sliding), for windowed count, reduce and aggregate. */
  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>;
  /** Windows the grouped stream into sessions of activity. */
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(
    windows: TimeWindows | SlidingWindows | SessionWindows,
  ): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    if (windows instanceof SessionWindows)
      return new SessionWindowedKStream<K, V>(
        this.topology,
        (storeName) => this.parentFor(storeName),
        windows,
        (this.keySerde ?? bytesSerde()) as Serde<K>,
      );
    return new TimeWindowedKStream<K, V>(
      this.topology,
      (storeName) => this.parentFor(storeName),
      windows,
      (this.keySerde ?? bytesSerde()) as Serde<K>,
    );
  }

  /** The number of records per key. */
  count(materialized: Materialized<K, number> = {}): KTable<K, number> {
    return this.aggregate<number>(
      () => 0,
      (_k, _v, n) => n + 1,
      materialized,
    );
  }

  /** Combines each key's values with `reducer`, the first value as it is. */
  reduce(reducer: (aggregate: V, value: V) => V, materialized: Materialized<K, V> = {}): KTable<K, V> {
    return this.fold<V>((_key, value, old) => (old === undefined ? value : reducer(old, value)), materialized);
  }

  /** Folds each key's values into an aggregate that starts at `initializer()`. */
  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    materialized: Materialized<K, VA> = {},
  ): KTable<K, VA> {
    return this.fold<VA>(
      (key, value, old) => aggregator(key, value, old === undefined ? initializer() : old),
      materialized,
    );
  }

  private fold<VA>(
    step: (key: K, value: V, old: VA | undefined) => VA,
    materialized: Materialized<K, VA>,
  ): KTable<K, VA> {
    const storeName = materialized.storeName ?? this.topology.newName('KSTREAM-AGGREGATE-STATE-STORE');
    const parent = this.parentFor(storeName);
    const name = this.topology.newName('KSTREAM-AGGREGATE');
    const keySerde = (materialized.keySerde ?? this.keySerde ?? bytesSerde()) as Serde<K>;
    this.topology.addProcessor(
      name,
      () => (record, context) => {
        if (record.key === null || record.value === null) return;
        const store = context.getStateStore<KeyValueStore<K, VA>>(storeName);
        const key = record.key as K;
        const updated = step(key, record.value as V, store.get(key));
        store.put(key, updated);
        context.forward({ ...record, value: updated });
      },
      parent,
    );
    this.topology.addStateStore(
      keyValueStoreSpec<K, VA>(storeName, keySerde, materialized.valueSerde, materialized.storeType),
      name,
    );
    return new KTable<K, VA>(this.topology, name, storeName);
  }
}

const endOf = (r: StreamRecord<unknown, unknown>): number => (r.key as { window: { end: number } }).window.end;
