import type { RecordView } from '../../protocol/records/view.js';
import type { NatsCredentials } from '../transport/security.js';
import type { CompressionName } from '../../protocol/records/compression.js';
import type { Assignor, TopicPartition } from './assignors.js';
import type { Partitioner } from './partitioners.js';
import type { ClientMetricsOptions } from './client-metrics.js';
import type { Logger } from './instrumentation.js';
import type { Deserializers, Serializers } from './serializers.js';

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
  /** A pino logger, or anything with error/warn/info/debug(obj, msg). Default: silent. */
  logger?: Logger;
  /** Client metrics into the application's prom-client registry: `{ register, prefix? }`. */
  metrics?: ClientMetricsOptions;
}

export type HeadersInput =
  Record<string, string | Buffer | null> | Array<{ key: string; value: string | Buffer | null }>;

/** A record to send; with serializers, `key` and `value` are the application's types. */
export interface Message<K = Buffer | string, V = Buffer | string> {
  key?: K | null;
  value: V | null;
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

export interface ProducerOptions<K = Buffer | string, V = Buffer | string> {
  /** Turn keys and values into bytes (string, JSON, protobuf, Avro, or registry-aware ones). */
  serializers?: Serializers<K, V>;
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
  /**
   * transactional.id: the producer writes in transactions (`producer.transaction()`), is
   * idempotent with acks 'all', and fences any earlier producer with the same id.
   */
  transactionalId?: string;
  /** transaction.timeout.ms: the coordinator aborts a transaction open longer (Kafka's default: 60000). */
  transactionTimeoutMs?: number;
}

export interface ConsumerMessage<K = Buffer, V = Buffer> {
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: number;
  key: K | null;
  value: V | null;
  headers: Record<string, Buffer | null>;
}

/** Records of one partition handed to `eachBatch` together, in offset order. */
export interface ConsumerBatch<K = Buffer, V = Buffer> {
  topic: string;
  partition: number;
  /** The records as message objects (a bigint offset, keys and values deserialized), made on first access. */
  readonly messages: Array<ConsumerMessage<K, V>>;
  /**
   * The records read in place through one reused view: no object, Buffer or bigint per record
   * unless its `key()`, `value()` or `headers()` is called. A view is valid until the next one;
   * keep what you need of it (`view.value()`, or copy from `view.buffer`).
   */
  records(): IterableIterator<RecordView>;
  readonly recordCount: number;
  highWatermark: bigint;
  isEmpty(): boolean;
  /** The first record's offset (null for an empty batch). */
  firstOffset(): bigint | null;
  /** The last record's offset. */
  lastOffset(): bigint;
  /** Records between the batch's last offset and the high watermark. */
  offsetLag(): bigint;
}

/** Offsets grouped by topic, as kafkajs's `uncommittedOffsets()` and `commitOffsetsIfNecessary()`. */
export interface OffsetsByTopic {
  topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: bigint | number | string }> }>;
}

export interface EachMessagePayload<K = Buffer, V = Buffer> {
  topic: string;
  partition: number;
  message: ConsumerMessage<K, V>;
  /** Tells the group the member is alive and the handler is making progress. */
  heartbeat(): Promise<void>;
  /** Pauses this partition after this message; returns the function that resumes it. */
  pause(): () => void;
}

export interface EachBatchPayload<K = Buffer, V = Buffer> {
  batch: ConsumerBatch<K, V>;
  /** Marks the batch processed up to and including `offset`: what a commit records. */
  resolveOffset(offset: bigint | number | string): void;
  /** Tells the group the member is alive and the handler is making progress. */
  heartbeat(): Promise<void>;
  /** Commits the given offsets, or the resolved positions when autoCommit's interval has passed. */
  commitOffsetsIfNecessary(offsets?: OffsetsByTopic): Promise<void>;
  /** Resolved positions the group has not committed yet. */
  uncommittedOffsets(): OffsetsByTopic;
  /** False once the consumer is stopping: a long batch should return. */
  isRunning(): boolean;
  /** True once the partition was revoked or seeked: the rest of the batch is not this member's to process. */
  isStale(): boolean;
  /** Pauses this partition; returns the function that resumes it. */
  pause(): () => void;
}

export interface RunOptions<K = Buffer, V = Buffer> {
  eachMessage?: (payload: EachMessagePayload<K, V>) => Promise<void> | void;
  eachBatch?: (payload: EachBatchPayload<K, V>) => Promise<void> | void;
  /** Resolve a batch's last offset when eachBatch returns (default: true). */
  eachBatchAutoResolve?: boolean;
  /** Partitions handled at once, each by one handler call at a time, in order (default: 1). */
  partitionsConsumedConcurrently?: number;
}

/**
 * What a failing handler gets: `retries` more tries of the failed record (or the batch from its
 * first unresolved record) after backoffs growing from initialRetryTimeMs by `multiplier` up to
 * maxRetryTimeMs, jittered by 20%; then a `consumer.crash` event, and `restartOnFailure(error)`
 * decides whether the consumer goes on trying that partition (true) or stops, run() rejecting.
 */
export interface RetryOptions {
  /** Default: 5. */
  retries?: number;
  /** Default: 300. */
  initialRetryTimeMs?: number;
  /** Default: 30000. */
  maxRetryTimeMs?: number;
  /** Default: 2. */
  multiplier?: number;
  /** Default: restart (kafkajs's default): a failing record is never skipped. */
  restartOnFailure?: (error: Error) => boolean | Promise<boolean>;
}

export type OffsetSpec = bigint | number | 'earliest' | 'latest';

export type OffsetReset = 'earliest' | 'latest' | 'none';

/** Consumer options: fetching, plus the group's when `groupId` is set (then `subscribe`, not `assign`). */
export type ConsumerOptions<K = Buffer, V = Buffer> = FetchOptions &
  RunnerOptions &
  Partial<GroupOptions> & {
    /** Turn record keys and values into the application's types; null stays null. */
    deserializers?: Deserializers<K, V>;
  };

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
  /**
   * isolation.level: 'read_committed' reads up to the last stable offset and never hands out
   * records of aborted transactions; 'read_uncommitted' reads up to the high watermark, aborted
   * records included. Transaction markers are never handed out. Default: read_uncommitted, as
   * Kafka's (kafkajs defaults to read_committed).
   */
  isolationLevel?: IsolationLevel;
}

export type IsolationLevel = 'read_committed' | 'read_uncommitted';

/** Consumer options that are not about fetching: failure handling. */
export interface RunnerOptions {
  retry?: RetryOptions;
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
