/**
 * The stateless part of the Streams DSL, as Kafka Streams' KStream: each operation adds a
 * processor node to the builder's topology and returns the stream of its output, typed end to
 * end. Keys and values are the application's types; serdes apply at the topology's edges only.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { Serde } from '../client/index.js';
import {
  bytesSerde,
  passThrough,
  type ProcessorSupplier,
  type StreamPartitioner,
  type StreamRecord,
  type Topology,
} from './topology.js';
import { KGroupedStream, type KTable } from './ktable.js';
import type { GlobalKTable } from './builder.js';
import { JoinWindows, addStreamStreamJoin, type StreamJoinKind, type StreamJoined } from './stream-joins.js';
import type { KeyValueStore } from './stores.js';
import type { TimestampExtractor } from './timestamps.js';

/** A key and a value, as Kafka's KeyValue: what map and flatMap return. */
export type KeyValue<K, V> = [key: K | null, value: V | null];

export interface Consumed<K, V> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  /** The time the source's records count at (default: the instance's `defaultTimestampExtractor`). */
  timestampExtractor?: TimestampExtractor;
}

export interface Produced<K, V> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  partitioner?: StreamPartitioner<K, V>;
}

/** How a repartition topic is named and written (Kafka's Repartitioned). */
export interface Repartitioned<K, V> {
  /** The topic is `<applicationId>-<name>-repartition` (default: a generated `KSTREAM-REPARTITION-<n>`). */
  name?: string;
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
}

/** How a grouping is named and its records serialized when it repartitions (Kafka's Grouped). */
export interface Grouped<K, V> {
  /** Names the repartition topic (default: after the aggregation's store). */
  name?: string;
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
}

export class KStream<K, V> {
  constructor(
    protected readonly topology: Topology,
    /** The node whose output this stream is. */
    readonly nodeName: string,
    /** The key changed since the records were read: grouping or joining by it repartitions first. */
    readonly repartitionRequired = false,
  ) {}

  /** Adds a processor under this stream's node, returning its output stream. */
  private then<K2, V2>(
    prefix: string,
    process: (r: StreamRecord<K, V>, forward: (r: StreamRecord<K2, V2>) => void) => void,
    keyChanges = false,
  ): KStream<K2, V2> {
    const name = this.topology.newName(prefix);
    this.topology.addProcessor(
      name,
      () => (record, context) =>
        process(record as StreamRecord<K, V>, (r) => context.forward(r as StreamRecord<unknown, unknown>)),
      this.nodeName,
    );
    return new KStream<K2, V2>(this.topology, name, keyChanges || this.repartitionRequired);
  }

  filter(predicate: (key: K | null, value: V | null) => boolean): KStream<K, V> {
    return this.then('KSTREAM-FILTER', (r, forward) => {
      if (predicate(r.key, r.value)) forward(r);
    });
  }

  filterNot(predicate: (key: K | null, value: V | null) => boolean): KStream<K, V> {
    return this.then('KSTREAM-FILTER', (r, forward) => {
      if (!predicate(r.key, r.value)) forward(r);
    });
  }

  map<K2, V2>(mapper: (key: K | null, value: V | null) => KeyValue<K2, V2>): KStream<K2, V2> {
    return this.then(
      'KSTREAM-MAP',
      (r, forward) => {
        const [key, value] = mapper(r.key, r.value);
        forward({ ...r, key, value });
      },
      true,
    );
  }

  mapValues<V2>(mapper: (value: V | null, key: K | null) => V2 | null): KStream<K, V2> {
    return this.then('KSTREAM-MAPVALUES', (r, forward) => forward({ ...r, value: mapper(r.value, r.key) }));
  }

  flatMap<K2, V2>(mapper: (key: K | null, value: V | null) => Iterable<KeyValue<K2, V2>>): KStream<K2, V2> {
    return this.then(
      'KSTREAM-FLATMAP',
      (r, forward) => {
        for (const [key, value] of mapper(r.key, r.value)) forward({ ...r, key, value });
      },
      true,
    );
  }

  flatMapValues<V2>(mapper: (value: V | null, key: K | null) => Iterable<V2 | null>): KStream<K, V2> {
    return this.then('KSTREAM-FLATMAPVALUES', (r, forward) => {
      for (const value of mapper(r.value, r.key)) forward({ ...r, value });
    });
  }

  /** Sees each record and passes it on unchanged. */
  peek(action: (key: K | null, value: V | null) => void): KStream<K, V> {
    return this.then('KSTREAM-PEEK', (r, forward) => {
      action(r.key, r.value);
      forward(r);
    });
  }

  /** A new key for each record (a later grouping or join by it needs a repartition). */
  selectKey<K2>(selector: (key: K | null, value: V | null) => K2 | null): KStream<K2, V> {
    return this.then('KSTREAM-KEY-SELECT', (r, forward) => forward({ ...r, key: selector(r.key, r.value) }), true);
  }

  /**
   * Groups by the current key, for count, reduce and aggregate. When the key changed since the
   * records were read (selectKey, map, flatMap), the aggregation first repartitions by it through
   * `<applicationId>-<name>-repartition`, so each key's records meet in one task (Kafka's rule).
   * `keySerde` is how the store compares keys; both serdes write the repartition topic.
   */
  groupByKey(grouped: Grouped<K, V> = {}): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(this.topology, this, grouped);
  }

  /** Groups by a new key (always through a repartition topic, as Kafka's groupBy). */
  groupBy<K2>(
    selector: (key: K | null, value: V | null) => K2 | null,
    grouped: Grouped<K2, V> = {},
  ): KGroupedStream<K2, V> {
    return this.selectKey(selector).groupByKey(grouped);
  }

  /**
   * Writes the stream to an internal topic `<applicationId>-<name>-repartition` and reads it back,
   * so records are partitioned by their current key (Kafka's repartition()).
   */
  repartition(repartitioned: Repartitioned<K, V> = {}): KStream<K, V> {
    const base = repartitioned.name ?? this.topology.newName('KSTREAM-REPARTITION');
    const topic = `${base}-repartition`;
    const keySerde = (repartitioned.keySerde ?? bytesSerde()) as Serde<unknown>;
    const valueSerde = (repartitioned.valueSerde ?? bytesSerde()) as Serde<unknown>;
    this.topology.addSink(`${base}-repartition-sink`, topic, keySerde, valueSerde, null, [this.nodeName], true);
    const source = `${base}-repartition-source`;
    this.topology.addSource(source, [topic], keySerde, valueSerde, true);
    return new KStream<K, V>(this.topology, source);
  }

  /** Writes the stream to `topic` (which must exist) and reads it back (Kafka's through()). */
  through(topic: string, produced: Produced<K, V> = {}): KStream<K, V> {
    this.to(topic, produced);
    const source = this.topology.newName('KSTREAM-SOURCE');
    this.topology.addSource(
      source,
      [topic],
      (produced.keySerde ?? bytesSerde()) as Serde<unknown>,
      (produced.valueSerde ?? bytesSerde()) as Serde<unknown>,
    );
    return new KStream<K, V>(this.topology, source);
  }

  /**
   * KStream-KTable inner join: each record with a key the table holds is joined with the
   * table's current value; records with a null key or no match are dropped (Kafka's).
   */
  join<VT, VR>(
    table: KTable<K, VT>,
    joiner: (value: V | null, tableValue: VT) => VR,
    joined?: Repartitioned<K, V>,
  ): KStream<K, VR>;
  /**
   * KStream-KStream windowed inner join: each record joins the other stream's records of its
   * key within `windows` (either side arriving first); the result takes the later timestamp.
   */
  join<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO) => VR,
    windows: JoinWindows,
    joined?: StreamJoined<K, V, VO>,
  ): KStream<K, VR>;
  join<VO, VR>(
    other: KTable<K, VO> | KStream<K, VO>,
    joiner: ((value: V | null, tableValue: VO) => VR) | ((value: V, otherValue: VO) => VR),
    windowsOrJoined?: JoinWindows | Repartitioned<K, V>,
    streamJoined: StreamJoined<K, V, VO> = {},
  ): KStream<K, VR> {
    if (other instanceof KStream)
      return this.streamJoin(
        'inner',
        other,
        joiner as (value: V | null, otherValue: VO | null) => VR,
        windowsOrJoined,
        streamJoined,
      );
    const tableJoiner = joiner as (value: V | null, tableValue: VO) => VR;
    return this.lookup(
      'KSTREAM-JOIN',
      other,
      (v, t) => (t === undefined ? undefined : tableJoiner(v, t)),
      (windowsOrJoined ?? {}) as Repartitioned<K, V>,
    );
  }

  /** The stream-stream joins: both sides repartitioned first if their keys changed (`joined` serdes). */
  private streamJoin<VO, VR>(
    kind: StreamJoinKind,
    other: KStream<K, VO>,
    joiner: (value: V | null, otherValue: VO | null) => VR,
    windows: JoinWindows | Repartitioned<K, V> | undefined,
    joined: StreamJoined<K, V, VO>,
  ): KStream<K, VR> {
    if (!(windows instanceof JoinWindows))
      throw new MillraceError('INVALID_CONFIG', 'a stream-stream join needs JoinWindows');
    const left = this.repartitionRequired
      ? this.repartition({ keySerde: joined.keySerde, valueSerde: joined.valueSerde })
      : this;
    const right = other.repartitionRequired
      ? other.repartition({ keySerde: joined.keySerde, valueSerde: joined.otherValueSerde })
      : other;
    const node = addStreamStreamJoin<K, V, VO, VR>(
      this.topology,
      left.nodeName,
      right.nodeName,
      joiner,
      windows,
      joined,
      bytesSerde() as Serde<unknown>,
      kind,
    );
    return new KStream<K, VR>(this.topology, node);
  }

  /**
   * KStream-KStream windowed outer join: records of either side are joined as by join(); a record
   * that finds no partner within the window is emitted with null for the other side once the
   * window has closed (KIP-633), not before.
   */
  outerJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V | null, otherValue: VO | null) => VR,
    windows: JoinWindows,
    joined: StreamJoined<K, V, VO> = {},
  ): KStream<K, VR> {
    return this.streamJoin('outer', other, joiner, windows, joined);
  }

  /**
   * KStream-GlobalKTable join: each record is joined with the global table's value for the key
   * `keySelector` computes (no repartition); records without a match are dropped.
   */
  joinGlobal<GK, GV, VR>(
    table: GlobalKTable<GK, GV>,
    keySelector: (key: K | null, value: V | null) => GK | null,
    joiner: (value: V | null, tableValue: GV) => VR,
  ): KStream<K, VR> {
    return this.globalLookup('KSTREAM-JOIN', table, keySelector, (v, t) =>
      t === undefined ? undefined : joiner(v, t),
    );
  }

  /** KStream-GlobalKTable left join: every record, with the table's value or null. */
  leftJoinGlobal<GK, GV, VR>(
    table: GlobalKTable<GK, GV>,
    keySelector: (key: K | null, value: V | null) => GK | null,
    joiner: (value: V | null, tableValue: GV | null) => VR,
  ): KStream<K, VR> {
    return this.globalLookup('KSTREAM-LEFTJOIN', table, keySelector, (v, t) => joiner(v, t ?? null));
  }

  private globalLookup<GK, GV, VR>(
    prefix: string,
    table: GlobalKTable<GK, GV>,
    keySelector: (key: K | null, value: V | null) => GK | null,
    join: (value: V | null, tableValue: GV | undefined) => VR | undefined,
  ): KStream<K, VR> {
    const name = this.topology.newName(prefix);
    const storeName = table.storeName;
    this.topology.addProcessor(
      name,
      () => (record, context) => {
        const lookupKey = keySelector(record.key as K | null, record.value as V | null);
        const found =
          lookupKey === null ? undefined : context.getStateStore<KeyValueStore<GK, GV>>(storeName).get(lookupKey);
        const joined = join(record.value as V | null, found);
        if (joined !== undefined) context.forward({ ...record, value: joined });
      },
      this.nodeName,
    );
    this.topology.connectStore(storeName, name);
    return new KStream<K, VR>(this.topology, name, this.repartitionRequired);
  }

  /** KStream-KTable left join: every record with a key, joined with the table's value or null. */
  leftJoin<VT, VR>(
    table: KTable<K, VT>,
    joiner: (value: V | null, tableValue: VT | null) => VR,
    joined?: Repartitioned<K, V>,
  ): KStream<K, VR>;
  /**
   * KStream-KStream windowed left join: every record of this stream is joined as by join(), or,
   * finding no partner within the window, emitted with null once the window has closed (KIP-633).
   */
  leftJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO | null) => VR,
    windows: JoinWindows,
    joined?: StreamJoined<K, V, VO>,
  ): KStream<K, VR>;
  leftJoin<VO, VR>(
    other: KTable<K, VO> | KStream<K, VO>,
    joiner: ((value: V | null, tableValue: VO | null) => VR) | ((value: V, otherValue: VO | null) => VR),
    windowsOrJoined?: JoinWindows | Repartitioned<K, V>,
    streamJoined: StreamJoined<K, V, VO> = {},
  ): KStream<K, VR> {
    const join = joiner as (value: V | null, otherValue: VO | null) => VR;
    if (other instanceof KStream) return this.streamJoin('left', other, join, windowsOrJoined, streamJoined);
    return this.lookup(
      'KSTREAM-LEFTJOIN',
      other,
      (v, t) => join(v, t ?? null),
      (windowsOrJoined ?? {}) as Repartitioned<K, V>,
    );
  }

  /** The stream-table joins: a stream whose key changed is repartitioned first (`joined` serdes). */
  private lookup<VT, VR>(
    prefix: string,
    table: KTable<K, VT>,
    join: (value: V | null, tableValue: VT | undefined) => VR | undefined,
    joined: Repartitioned<K, V>,
  ): KStream<K, VR> {
    if (this.repartitionRequired) return this.repartition(joined).lookup(prefix, table, join, {});
    const storeName = table.storeName;
    if (storeName === null)
      throw new MillraceError(
        'INVALID_CONFIG',
        'a stream-table join needs a materialized table (table(), count, reduce, aggregate)',
      );
    const name = this.topology.newName(prefix);
    this.topology.addProcessor(
      name,
      () => (record, context) => {
        if (record.key === null) return;
        const found = context.getStateStore<KeyValueStore<K, VT>>(storeName).get(record.key as K);
        const joined = join(record.value as V | null, found);
        if (joined !== undefined) context.forward({ ...record, value: joined });
      },
      this.nodeName,
    );
    this.topology.connectStore(storeName, name);
    return new KStream<K, VR>(this.topology, name);
  }

  /**
   * Runs a processor of your own on each record (Kafka's process()): it forwards what it likes,
   * may use the named stores (added with `builder.addStateStore`) and schedule punctuations.
   */
  process<K2, V2>(supplier: ProcessorSupplier, ...storeNames: string[]): KStream<K2, V2> {
    const name = this.topology.newName('KSTREAM-PROCESSOR');
    this.topology.addProcessor(name, supplier, this.nodeName);
    for (const store of storeNames) this.topology.connectStore(store, name);
    return new KStream<K2, V2>(this.topology, name, true);
  }

  /** The records of both streams, as they arrive. */
  merge(other: KStream<K, V>): KStream<K, V> {
    const name = this.topology.newName('KSTREAM-MERGE');
    this.topology.addProcessor(name, passThrough, this.nodeName, other.nodeName);
    return new KStream<K, V>(this.topology, name, this.repartitionRequired || other.repartitionRequired);
  }

  /**
   * Splits the stream by predicates (Kafka's split()/BranchedKStream): each record goes to the
   * first branch whose predicate holds, else to the default branch if there is one, else nowhere.
   */
  split(named = ''): BranchedKStream<K, V> {
    return new BranchedKStream<K, V>(this.topology, this.nodeName, named, this.repartitionRequired);
  }

  /** Kafka's older branch(): one stream per predicate, in order; a record goes to the first that holds. */
  branch(...predicates: Array<(key: K | null, value: V | null) => boolean>): Array<KStream<K, V>> {
    const split = this.split();
    predicates.forEach((p, i) => split.branch(p, String(i)));
    const branches = split.noDefaultBranch();
    return predicates.map((_, i) => branches[String(i)]!);
  }

  /** Writes the stream to a topic. */
  to(topic: string, produced: Produced<K, V> = {}): void {
    this.topology.addSink(
      this.topology.newName('KSTREAM-SINK'),
      topic,
      (produced.keySerde ?? bytesSerde()) as Serde<unknown>,
      (produced.valueSerde ?? bytesSerde()) as Serde<unknown>,
      (produced.partitioner ?? null) as StreamPartitioner<unknown, unknown> | null,
      [this.nodeName],
    );
  }
}

/** The branches of a split stream (Kafka's BranchedKStream). */
export class BranchedKStream<K, V> {
  private readonly branches: Array<{ name: string; predicate: (key: K | null, value: V | null) => boolean }> = [];
  private readonly splitName: string;

  constructor(
    private readonly topology: Topology,
    parent: string,
    private readonly prefix: string,
    private readonly repartitionRequired: boolean,
  ) {
    this.splitName = topology.newName('KSTREAM-BRANCH');
    const branches = this.branches;
    topology.addProcessor(
      this.splitName,
      () => (record, context) => {
        const taken = branches.find((b) => b.predicate(record.key as K | null, record.value as V | null));
        const target = taken?.name ?? this.defaultName;
        if (target !== null) context.forward(record, target);
      },
      parent,
    );
  }

  private defaultName: string | null = null;

  /** Records for which `predicate` holds (and no earlier branch's did) go to this branch. */
  branch(predicate: (key: K | null, value: V | null) => boolean, name?: string): this {
    const branchName = `${this.prefix}${name ?? String(this.branches.length + 1)}`;
    if (this.branches.some((b) => b.name === branchName))
      throw new MillraceError('INVALID_CONFIG', `the split already has a branch named '${branchName}'`);
    this.topology.addProcessor(branchName, passThrough, this.splitName);
    this.branches.push({ name: branchName, predicate });
    return this;
  }

  /** Ends the split with a branch for the records no predicate took; returns every branch by name. */
  defaultBranch(name = '0'): Record<string, KStream<K, V>> {
    const branchName = `${this.prefix}${name}`;
    this.topology.addProcessor(branchName, passThrough, this.splitName);
    this.defaultName = branchName;
    return {
      ...this.noDefaultBranch(),
      [branchName]: new KStream<K, V>(this.topology, branchName, this.repartitionRequired),
    };
  }

  /** Ends the split: records no predicate took are dropped. */
  noDefaultBranch(): Record<string, KStream<K, V>> {
    return Object.fromEntries(
      this.branches.map((b) => [b.name, new KStream<K, V>(this.topology, b.name, this.repartitionRequired)]),
    );
  }
}
