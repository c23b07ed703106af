/**
 * `millrace/streams`: Kafka Streams' model in TypeScript, built on the SDK only: the processor
 * topology and its DSL, the TopologyTestDriver, and MillraceStreams, the runtime (tasks per
 * partition, stores logged to changelogs and restored from them, at_least_once and
 * exactly_once_v2). docs/streams.md says what is there and what is not yet.
 */
export { GlobalKTable, StreamsBuilder } from './builder.js';
export {
  BranchedKStream,
  KStream,
  type Consumed,
  type Grouped,
  type KeyValue,
  type Produced,
  type Repartitioned,
} from './kstream.js';
export { KGroupedStream, KTable, type Materialized } from './ktable.js';
export { keyValueStoreSpec, type StoreType } from './store-specs.js';
export { SessionWindowedKStream, SessionWindows, type SessionMaterialized } from './sessions.js';
export { InMemorySessionStore, type Session, type SessionStore } from './session-store.js';
export { InMemoryWindowStore, type WindowStore } from './window-store.js';
export { PersistentSessionStore, PersistentWindowStore } from './persistent-windowed.js';
export { SlidingWindows } from './sliding-windows.js';
export {
  failOnInvalidTimestamp,
  logAndSkipOnInvalidTimestamp,
  usePartitionTimeOnInvalidTimestamp,
  wallclockTimestampExtractor,
  type ConsumedRecord,
  type TimestampExtractor,
} from './timestamps.js';
export { JoinBuffer, JoinWindows, type StreamJoined } from './stream-joins.js';
export { InMemoryKeyValueStore, type KeyValueStore, type StateStore, type StoreContext } from './stores.js';
export {
  MillraceStreams,
  type ExceptionResponse,
  type ProcessingGuarantee,
  type StreamsConfig,
  type StreamsState,
} from './runtime.js';
export type { RestoreProgress } from './restore.js';
export type {
  HostInfo,
  KeyQueryMetadata,
  ReadOnlySessionStore,
  ReadOnlyWindowStore,
  StreamsMetadata,
} from './queries.js';
export { TimeWindowedKStream, TimeWindows, type Window, type WindowMaterialized, type Windowed } from './windows.js';
export {
  Topology,
  bytesSerde,
  type ProcessFn,
  type Processor,
  type ProcessorContext,
  type ProcessorSupplier,
  type PunctuationType,
  type StoreSpec,
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
