/**
 * The stateless part of the Streams DSL, as Kafka Streams' KStream: each operation adds a
 * processor node to the builder's topology and returns the stream of its output, typed end to
 * end. Keys and values are the application's types; serdes apply at the topology's edges only.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { Serde } from '../client/index.js';
import { bytesSerde, passThrough, type StreamPartitioner, type StreamRecord, type Topology } from './topology.js';
import { KGroupedStream, type KTable } from './ktable.js';
import type { KeyValueStore } from './stores.js';

/** A key and a value, as Kafka's KeyValue: what map and flatMap return. */
export type KeyValue<K, V> = [key: K | null, value: V | null];

export interface Consumed<K, V> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
}

export interface Produced<K, V> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  partitioner?: StreamPartitioner<K, V>;
}

export class KStream<K, V> {
  constructor(
    protected readonly topology: Topology,
    /** The node whose output this stream is. */
    readonly nodeName: string,
  ) {}

  /** Adds a processor under this stream's node, returning its output stream. */
  private then<K2, V2>(
    prefix: string,
    process: (r: StreamRecord<K, V>, forward: (r: StreamRecord<K2, V2>) => void) => void,
  ): KStream<K2, V2> {
    const name = this.topology.newName(prefix);
    this.topology.addProcessor(
      name,
      () => (record, context) =>
        process(record as StreamRecord<K, V>, (r) => context.forward(r as StreamRecord<unknown, unknown>)),
      this.nodeName,
    );
    return new KStream<K2, V2>(this.topology, name);
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
    return this.then('KSTREAM-MAP', (r, forward) => {
      const [key, value] = mapper(r.key, r.value);
      forward({ ...r, key, value });
    });
  }

  mapValues<V2>(mapper: (value: V | null, key: K | null) => V2 | null): KStream<K, V2> {
    return this.then('KSTREAM-MAPVALUES', (r, forward) => forward({ ...r, value: mapper(r.value, r.key) }));
  }

  flatMap<K2, V2>(mapper: (key: K | null, value: V | null) => Iterable<KeyValue<K2, V2>>): KStream<K2, V2> {
    return this.then('KSTREAM-FLATMAP', (r, forward) => {
      for (const [key, value] of mapper(r.key, r.value)) forward({ ...r, key, value });
    });
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
    return this.then('KSTREAM-KEY-SELECT', (r, forward) => forward({ ...r, key: selector(r.key, r.value) }));
  }

  /**
   * Groups by the current key, for count, reduce and aggregate (no repartition: the key is the
   * one the records were read or selected with). `keySerde` is how the store compares keys.
   */
  groupByKey(grouped: { keySerde?: Serde<K> } = {}): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(this.topology, this.nodeName, grouped.keySerde);
  }

  /**
   * KStream-KTable inner join: each record with a key the table holds is joined with the
   * table's current value; records with a null key or no match are dropped (Kafka's).
   */
  join<VT, VR>(table: KTable<K, VT>, joiner: (value: V | null, tableValue: VT) => VR): KStream<K, VR> {
    return this.lookup('KSTREAM-JOIN', table, (v, t) => (t === undefined ? undefined : joiner(v, t)));
  }

  /** KStream-KTable left join: every record with a key, joined with the table's value or null. */
  leftJoin<VT, VR>(table: KTable<K, VT>, joiner: (value: V | null, tableValue: VT | null) => VR): KStream<K, VR> {
    return this.lookup('KSTREAM-LEFTJOIN', table, (v, t) => joiner(v, t ?? null));
  }

  private lookup<VT, VR>(
    prefix: string,
    table: KTable<K, VT>,
    join: (value: V | null, tableValue: VT | undefined) => VR | undefined,
  ): KStream<K, VR> {
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

  /** The records of both streams, as they arrive. */
  merge(other: KStream<K, V>): KStream<K, V> {
    const name = this.topology.newName('KSTREAM-MERGE');
    this.topology.addProcessor(name, passThrough, this.nodeName, other.nodeName);
    return new KStream<K, V>(this.topology, name);
  }

  /**
   * Splits the stream by predicates (Kafka's split()/BranchedKStream): each record goes to the
   * first branch whose predicate holds, else to the default branch if there is one, else nowhere.
   */
  split(named = ''): BranchedKStream<K, V> {
    return new BranchedKStream<K, V>(this.topology, this.nodeName, named);
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
      this.nodeName,
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
    return { ...this.noDefaultBranch(), [branchName]: new KStream<K, V>(this.topology, branchName) };
  }

  /** Ends the split: records no predicate took are dropped. */
  noDefaultBranch(): Record<string, KStream<K, V>> {
    return Object.fromEntries(this.branches.map((b) => [b.name, new KStream<K, V>(this.topology, b.name)]));
  }
}
