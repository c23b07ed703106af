/** The entry of the Streams DSL, as Kafka Streams' StreamsBuilder: streams from topics, then build(). */
import type { Serde } from '../client/index.js';
import { KStream, type Consumed } from './kstream.js';
import { KTable } from './ktable.js';
import type { KeyValueStore } from './stores.js';
import { keyValueStoreSpec, type StoreType } from './store-specs.js';
import { Topology, bytesSerde, type StoreSpec } from './topology.js';

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
