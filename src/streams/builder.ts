/** The entry of the Streams DSL, as Kafka Streams' StreamsBuilder: streams from topics, then build(). */
import type { Serde } from '../client/index.js';
import { KStream, type Consumed } from './kstream.js';
import { Topology, bytesSerde } from './topology.js';

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

  /** The topology built so far (once: a builder makes one topology). */
  build(): Topology {
    this.built = true;
    return this.topology;
  }

  get isBuilt(): boolean {
    return this.built;
  }
}
