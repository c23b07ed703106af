/**
 * `millrace/streams`: Kafka Streams' model in TypeScript, built on the SDK only. So far: the
 * processor topology, the stateless DSL, grouping by key with count, reduce and aggregate into
 * tables over in-memory stores, and the TopologyTestDriver. Repartitioning groupBy, windows,
 * joins, persistent stores with changelogs and the runtime (tasks, exactly_once_v2) come next.
 */
export { StreamsBuilder } from './builder.js';
export { BranchedKStream, KStream, type Consumed, type KeyValue, type Produced } from './kstream.js';
export { KGroupedStream, KTable, type Materialized } from './ktable.js';
export { InMemoryKeyValueStore, type KeyValueStore } from './stores.js';
export { InMemoryWindowStore, TimeWindowedKStream, TimeWindows, type Window, type Windowed } from './windows.js';
export {
  Topology,
  bytesSerde,
  type ProcessFn,
  type ProcessorContext,
  type StreamPartitioner,
  type StreamRecord,
} from './topology.js';
export {
  TestInputTopic,
  TestOutputTopic,
  TopologyTestDriver,
  type StoredRecord,
  type TestDriverOptions,
  type TestRecord,
} from './test-driver.js';
