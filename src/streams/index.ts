/**
 * `millrace/streams`: Kafka Streams' model in TypeScript, built on the SDK only. This first part
 * is the stateless DSL, the processor topology and the TopologyTestDriver; stateful operations,
 * windows, joins, state stores and the runtime (tasks, exactly_once_v2) come next.
 */
export { StreamsBuilder } from './builder.js';
export { BranchedKStream, KStream, type Consumed, type KeyValue, type Produced } from './kstream.js';
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
