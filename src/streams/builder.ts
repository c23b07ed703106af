/** The entry of the Streams DSL, as Kafka Streams' StreamsBuilder: streams from topics, then build(). */
import type { Serde } from '../client/index.js';
import { KStream, type Consumed } from './kstream.js';
import { KTable } from './ktable.js';
import { InMemoryKeyValueStore, type KeyValueStore } from './stores.js';
import { keyValueStoreSpec, type StoreType } from './store-specs.js';
import { Topology, bytesSerde, type StoreSpec } from './topology.js';

/** A topic held whole by every instance, to join streams with (Kafka's GlobalKTable). */
export class GlobalKTable<K, V> {
  /** For the type only: the table's key and value types. */
  declare readonly types?: [K, V];

  constructor(
    readonly storeName: string,
    readonly topic: string,
  ) {}
}

export class StreamsBuilder {
  private readonly topology = new Topology();
  private built = false;

  /** The records of one or more topics, as a stream (keys and values deserialized by `consumed`'s serdes). */
  stream<K = Buffer, V = Buffer>(topics: string | string[], consumed: Consumed<K, V> = {}): KStream<K, V> {
    const name = this.topology.newName('KSTREAM-SOURCE');
    this.topology.addSource(
      name,
      Array.isArray(topics) ? topics : [topics],
      (consumed.keySerde ?? bytesSerde()) as Serde<unknown>,
      (consumed.valueSerde ?? bytesSerde()) as Serde<unknown>,
      false,
      consumed.timestampExtractor ?? null,
    );
    return new KStream<K, V>(this.topology, name);
  }

  /**
   * A topic read as a table (Kafka's table()): each key's latest value, in a key-value store; a
   * null value deletes the key. Joins look values up in it.
   */
  table<K = Buffer, V = Buffer>(
    topic: string,
    consumed: Consumed<K, V> & { storeName?: string; storeType?: StoreType } = {},
  ): KTable<K, V> {
    const source = this.stream<K, V>(topic, consumed);
    const storeName = consumed.storeName ?? this.topology.newName(`${topic}-STATE-STORE`);
    const name = this.topology.newName('KTABLE-SOURCE');
    this.topology.addProcessor(
      name,
      () => (record, context) => {
        if (record.key === null) return;
        context.getStateStore<KeyValueStore<K, V>>(storeName).put(record.key as K, record.value as V | null);
        context.forward(record);
      },
      source.nodeName,
    );
    const keySerde = (consumed.keySerde ?? bytesSerde()) as Serde<K>;
    const valueSerde = (consumed.valueSerde ?? bytesSerde()) as Serde<V>;
    this.topology.addStateStore(keyValueStoreSpec(storeName, keySerde, valueSerde, consumed.storeType), name);
    return new KTable<K, V>(this.topology, name, storeName);
  }

  /**
   * A topic read whole by every instance into a key-value store (Kafka's globalTable): streams
   * join it by any key they compute, with no co-partitioning; it is read from the topic itself.
   */
  globalTable<K = Buffer, V = Buffer>(
    topic: string,
    consumed: Consumed<K, V> & { storeName?: string } = {},
  ): GlobalKTable<K, V> {
    const storeName = consumed.storeName ?? this.topology.newName(`${topic}-STATE-STORE`);
    const keySerde = (consumed.keySerde ?? bytesSerde()) as Serde<K>;
    const valueSerde = (consumed.valueSerde ?? bytesSerde()) as Serde<V>;
    this.topology.addGlobalStore({
      name: storeName,
      topic,
      create: (ctx) => new InMemoryKeyValueStore<K, V>(storeName, keySerde, valueSerde, ctx),
    });
    return new GlobalKTable<K, V>(storeName, topic);
  }

  /** A store for processors of your own (`stream.process(supplier, storeName)`), e.g. from keyValueStoreSpec(). */
  addStateStore(spec: StoreSpec): this {
    this.topology.addStateStore(spec);
    return this;
  }

  /** The topology built so far (once: a builder makes one topology). */
  build(): Topology {
    this.built = true;
    return this.topology;
  }

  get isBuilt(): boolean {
    return this.built;
  }
}
