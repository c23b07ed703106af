/** Millrace's npm SDK: `import { Millrace } from 'millrace'`. */
export { Millrace } from './millrace.js';
export { Admin } from './admin.js';
export { Producer } from './producer.js';
export { Consumer } from './consumer.js';
export {
  cooperativeStickyAssignor,
  rangeAssignor,
  roundRobinAssignor,
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
export type { NatsCredentials, NatsTls } from '../transport/security.js';
export type { AclEntry, AclFilter, QuotaEntity, QuotaValues, ScramUser } from './admin-security.js';
