import type { RecordView } from '../../protocol/records/view.js';
import type { NatsCredentials } from '../transport/security.js';
import type { CompressionName } from '../../protocol/records/compression.js';
import type { Assignor, TopicPartition } from './assignors.js';
import type { Partitioner } from './partitioners.js';

export interface MillraceOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** Cluster name: the `--cluster` the brokers run with. */
  cluster: string;
  clientId?: string;
  /** Per request, as Kafka's request.timeout.ms. */
  requestTimeoutMs?: number;
  /**
   * How to authenticate to NATS and whether to use TLS: `{ user, pass }`, `{ token }`,
   * `{ nkeySeedFile }` or `{ credsFile }`, and `tls: { caFile, certFile, keyFile, verify }`.
   * The reply inbox prefix follows from the identity (see docs/security.md).
   */
  credentials?: NatsCredentials;
}

export type HeadersInput =
  Record<string, string | Buffer | null> | Array<{ key: string; value: string | Buffer | null }>;

export interface Message {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: HeadersInput;
  partition?: number;
  /** Milliseconds since the epoch; default: now. */
  timestamp?: number | Date;
}

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1n with acks=0, where the broker does not answer. */
  offset: bigint;
  timestamp: number;
}

export type Acks = 0 | 1 | -1 | 'all';

export interface ProducerOptions {
  /** Kafka's default since 3.0: all. */
  acks?: Acks;
  /** linger.ms: how long a batch waits for more records (Kafka 4's default: 5). */
  lingerMs?: number;
  /** batch.size in bytes (uncompressed). */
  batchSize?: number;
  /** Produce requests in flight per broker (at most 5 when idempotent, which is also the per-partition limit). */
  maxInFlight?: number;
  /**
   * enable.idempotence: each record is written once per partition and in order through retries
   * and leader changes. Default: true with acks 'all' (Kafka's default since 3.0), else false.
   */
  idempotent?: boolean;
  /** Retries of a retriable failure within deliveryTimeoutMs. */
  retries?: number;
  retryBackoffMs?: number;
  /** delivery.timeout.ms: a record fails if not acknowledged within it. */
  deliveryTimeoutMs?: number;
  compression?: CompressionName;
  partitioner?: Partitioner;
}

export interface ConsumerMessage {
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null>;
}

/** Records of one partition handed to `eachBatch` together, in offset order. */
export interface ConsumerBatch {
  topic: string;
  partition: number;
  /** The records as message objects (a bigint offset, Buffers for key and value), made on first access. */
  readonly messages: ConsumerMessage[];
  /**
   * The records read in place through one reused view: no object, Buffer or bigint per record
   * unless its `key()`, `value()` or `headers()` is called. A view is valid until the next one;
   * keep what you need of it (`view.value()`, or copy from `view.buffer`).
   */
  records(): IterableIterator<RecordView>;
  readonly recordCount: number;
  highWatermark: bigint;
}

export type OffsetSpec = bigint | number | 'earliest' | 'latest';

export type OffsetReset = 'earliest' | 'latest' | 'none';

/** Consumer options: fetching, plus the group's when `groupId` is set (then `subscribe`, not `assign`). */
export type ConsumerOptions = FetchOptions & Partial<GroupOptions>;

export interface FetchOptions {
  /** fetch.max.wait.ms */
  maxWaitMs?: number;
  /** fetch.min.bytes */
  minBytes?: number;
  /** fetch.max.bytes (bounded by the NATS max_payload). */
  maxBytes?: number;
  /** max.partition.fetch.bytes */
  maxBytesPerPartition?: number;
  /** Bytes buffered per partition before its fetching pauses: the prefetch back-pressure. */
  maxBufferedBytesPerPartition?: number;
  /**
   * auto.offset.reset: where a partition starts with no committed offset (a group) or no offset
   * given (`assign`), and where it goes when its position is out of range. `none` throws a
   * NoOffsetForPartitionError / OffsetOutOfRangeError instead. Default: latest, as Kafka.
   */
  autoOffsetReset?: OffsetReset;
  /** Concurrent fetches per broker, each over its own share of the partitions. */
  fetchConcurrency?: number;
}

export interface GroupOptions {
  groupId: string;
  /** group.instance.id: a static member gets its partitions back after a restart within its session, with no rebalance. */
  groupInstanceId?: string;
  /** session.timeout.ms (Kafka's default: 45000). */
  sessionTimeoutMs?: number;
  /** heartbeat.interval.ms: heartbeats run on their own timer, never behind message handling. */
  heartbeatIntervalMs?: number;
  /** max.poll.interval.ms: a handler running longer makes the member leave the group until it returns. */
  maxPollIntervalMs?: number;
  /** How long the group waits for members to rejoin (default: maxPollIntervalMs, as Kafka). */
  rebalanceTimeoutMs?: number;
  /** In order of preference; the group uses one every member offers. Default: cooperative-sticky. */
  assignors?: Array<'range' | 'roundrobin' | 'cooperative-sticky' | 'RoundRobinAssigner' | Assignor>;
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
  /** metadata.max.age.ms: how often pattern subscriptions and partition counts are checked. */
  metadataMaxAgeMs?: number;
}

/** Called around rebalances; a returned promise is awaited. */
export interface RebalanceListener {
  assigned?: (partitions: TopicPartition[]) => Promise<void> | void;
  /** Before revoked partitions go to other members (their positions were committed with autoCommit). */
  revoked?: (partitions: TopicPartition[]) => Promise<void> | void;
  /** The member fell out of the group: these partitions may already be consumed elsewhere. */
  lost?: (partitions: TopicPartition[]) => Promise<void> | void;
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset?: OffsetSpec;
}

export interface NewTopic {
  topic: string;
  numPartitions?: number;
  replicationFactor?: number;
  configs?: Record<string, string>;
}

export interface PartitionDescription {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  earliestOffset?: bigint;
  /** The high watermark: consumers read below it. */
  latestOffset?: bigint;
  /** The leader's log end: above the high watermark while followers catch up. */
  logEndOffset?: bigint;
  error?: string;
}

export interface TopicDescription {
  name: string;
  id: string;
  configs: Record<string, string>;
  partitions: PartitionDescription[];
}

/** A topic's configs as describeConfigs gives them. */
export interface TopicConfigs {
  topic: string;
  /** `source`: the topic's own setting, the broker's configured default, or the built-in default. */
  configs: Array<{ name: string; value: string; source: 'topic' | 'broker' | 'default' }>;
}

export interface ClusterDescription {
  cluster: string;
  controllerId: number;
  controllerEpoch: number;
  /** Each broker, with the advertised host:port of its Kafka listener (null when it has none). */
  brokers: Array<{ id: number; rack: string | null; fenced: boolean; kafkaEndpoint: string | null }>;
  metadataVersion: number;
}

export interface ElectionOutcome {
  topic: string;
  partition: number;
  leader: number;
  /** ELECTED, ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION. */
  outcome: string;
  detail: string;
}

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: string;
}

export interface GroupDescription {
  groupId: string;
  /** Empty, PreparingRebalance, CompletingRebalance, Stable or Dead. */
  state: string;
  protocolType: string;
  protocol: string;
  generation: number;
  members: Array<{
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    assignment: TopicPartition[];
  }>;
}
