/** Millrace's npm SDK: `import { Millrace } from 'millrace'`. */
export { Millrace } from './millrace.js';
export { Admin } from './admin.js';
export { Producer, Transaction, type SendOffsetsInput, type TopicMessages } from './producer.js';
export { Consumer } from './consumer.js';
export {
  cooperativeStickyAssignor,
  rangeAssignor,
  roundRobinAssignor,
  type AssignmentWithData,
  type Assignor,
  type AssignorMember,
  type TopicPartition,
} from './assignors.js';
export {
  defaultPartitioner,
  murmur2,
  roundRobinPartitioner,
  toPositive,
  type Partitioner,
  type PartitionerArgs,
} from './partitioners.js';
export { MillraceError, type ErrorName } from '../../protocol/errors.js';
export { NoOffsetForPartitionError, OffsetOutOfRangeError } from './errors.js';
export type { CompressionName } from '../../protocol/records/compression.js';
export type { RecordView } from '../../protocol/records/view.js';
export type * from './types.js';
export type { OffsetResetTarget } from './admin-groups.js';
export {
  avroSerde,
  jsonSerde,
  protobufSerde,
  stringSerde,
  type AvroType,
  type Deserializer,
  type Deserializers,
  type ProtobufType,
  type Serde,
  type SerdeContext,
  type Serialized,
  type Serializer,
  type Serializers,
} from './serializers.js';
export {
  ADMIN_EVENTS,
  CONSUMER_EVENTS,
  PRODUCER_EVENTS,
  type AdminEvents,
  type BatchPayload,
  type ConsumerEvents,
  type InstrumentationEvent,
  type Logger,
  type ProducerEvents,
  type RequestPayload,
  type RequestTimeoutPayload,
} from './instrumentation.js';
export type { ClientMetricsOptions } from './client-metrics.js';
export {
  SchemaRegistryClient,
  registrySerde,
  type RegistryReference,
  type RegistrySchema,
  type RegistrySchemaType,
  type RegistrySerdeOptions,
} from './registry.js';
export type { NatsCredentials, NatsTls } from '../transport/security.js';
export type { AclEntry, AclFilter, QuotaEntity, QuotaValues, ScramUser } from './admin-security.js';
export type { TransactionDescription, TransactionListing } from './admin-transactions.js';
