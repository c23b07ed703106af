/**
 * Records of the metadata log (KV bucket mr_<cluster>_meta, history 1): JSON, so operators can
 * read them with the nats CLI; validated on read, so a bad record is reported and skipped rather
 * than crashing a broker.
 *
 * Records are at partition granularity, as KRaft's: a topic record holds what is the topic's own
 * (id, configs, partition count) and each partition has its own key, so a leader or ISR change
 * writes one small record whatever the size of the cluster (DESIGN.md section 4).
 */
import { z } from 'zod';

export const controllerRecord = z.object({ brokerId: z.number().int(), epoch: z.number().int() });
export type ControllerRecord = z.infer<typeof controllerRecord>;

export const brokerRecord = z.object({
  id: z.number().int().nonnegative(),
  rack: z.string().nullable(),
  /** The metadata-log sequence of its registration: Kafka's broker epoch. */
  epoch: z.number().int(),
  incarnationId: z.string(),
  fenced: z.boolean(),
  /** Set when the broker asked for a controlled shutdown. */
  shuttingDown: z.boolean().default(false),
  /** The advertised host:port of its Kafka listener, if it has one. */
  kafkaEndpoint: z.string().nullable().default(null),
});
export type BrokerRecord = z.infer<typeof brokerRecord>;

export const partitionState = z.object({
  partition: z.number().int().nonnegative(),
  replicas: z.array(z.number().int()),
  isr: z.array(z.number().int()),
  /** -1 when no replica can lead (offline). */
  leader: z.number().int(),
  leaderEpoch: z.number().int(),
  partitionEpoch: z.number().int(),
  /** During a reassignment: the replica set to move to once every one of them is in sync. */
  targetReplicas: z.array(z.number().int()).optional(),
  /** During a reassignment: the target replicas that were not replicas before it (being added). */
  addingReplicas: z.array(z.number().int()).optional(),
});
export type PartitionState = z.infer<typeof partitionState>;

/** A partition's own record (`partition.<topic>.<n>`): its state, tied to one incarnation of the topic. */
export const partitionRecord = partitionState.extend({ topicId: z.string() });
export type PartitionRecord = z.infer<typeof partitionRecord>;

export const topicRecord = z.object({
  name: z.string(),
  id: z.string(),
  configs: z.record(z.string(), z.string()),
  /** The topic has partitions 0..partitionCount-1; it is visible once all of them are in the log. */
  partitionCount: z.number().int().nonnegative(),
});
export type TopicRecord = z.infer<typeof topicRecord>;

/** The next producer id the controller hands out; blocks below it belong to brokers (KIP-730). */
export const producerIdsRecord = z.object({
  nextProducerId: z.number().int().nonnegative(),
  /** The broker given the last block, and its epoch then. */
  brokerId: z.number().int(),
  brokerEpoch: z.number().int(),
});
export type ProducerIdsRecord = z.infer<typeof producerIdsRecord>;

export const aclRecord = z.object({
  resourceType: z.number().int(),
  resourceName: z.string(),
  patternType: z.number().int(),
  principal: z.string(),
  host: z.string(),
  operation: z.number().int(),
  permission: z.number().int(),
});
export type AclRecord = z.infer<typeof aclRecord>;

/**
 * A user's SCRAM credential for one mechanism (RFC 5802): the salt and iteration count the
 * client derives its salted password with, and the keys the server verifies proofs with. The
 * password itself is never stored, nor can it be derived from these.
 */
export const scramRecord = z.object({
  user: z.string(),
  /** SCRAM-SHA-256 or SCRAM-SHA-512 */
  mechanism: z.enum(['SCRAM-SHA-256', 'SCRAM-SHA-512']),
  iterations: z.number().int().min(1),
  /** base64 */
  salt: z.string(),
  storedKey: z.string(),
  serverKey: z.string(),
});
export type ScramRecord = z.infer<typeof scramRecord>;

/** A client quota entity's quotas (Kafka's /config/users/<u>/clients/<c>): bytes/s, or percent of a handler. */
export const quotaRecord = z.object({
  /** Sorted by type; a null name is the default of its type. */
  entity: z.array(z.object({ entityType: z.enum(['user', 'client-id']), entityName: z.string().nullable() })),
  values: z
    .object({
      producer_byte_rate: z.number().optional(),
      consumer_byte_rate: z.number().optional(),
      request_percentage: z.number().optional(),
    })
    .strict(),
});
export type QuotaRecord = z.infer<typeof quotaRecord>;

/**
 * A topic name as part of a KV key, which NATS carries as subject tokens: a name with a leading,
 * trailing or doubled '.' (legal in Kafka, not in a subject) has its dots written as '=2E'; '='
 * is never in a topic name, so other names are their own key part and decoding is unambiguous.
 */
export const topicKeyPart = (name: string): string => (/^\.|\.$|\.\./.test(name) ? name.replaceAll('.', '=2E') : name);
export const topicOfKeyPart = (part: string): string => (part.includes('=') ? part.replaceAll('=2E', '.') : part);

export const keys = {
  controller: 'controller',
  producerIds: 'producer-ids',
  broker: (id: number): string => `broker.${id}`,
  topic: (name: string): string => `topic.${topicKeyPart(name)}`,
  /** Topic names may hold '.': the partition number follows the last one. */
  partition: (topic: string, partition: number): string => `partition.${topicKeyPart(topic)}.${partition}`,
  /** User names may hold any character: base64url keeps the key to what NATS KV allows. */
  /** One key per entity: its parts as JSON in base64url. */
  quota: (entity: QuotaRecord['entity']): string =>
    `quota.${Buffer.from(JSON.stringify(entity.map((e) => [e.entityType, e.entityName])), 'utf8').toString('base64url')}`,
  scram: (mechanism: string, user: string): string =>
    `scram.${mechanism}.${Buffer.from(user, 'utf8').toString('base64url') || '-'}`,
};

/** One write to the metadata log: a put, or a delete when `value` is null. */
export interface MetadataRecord {
  key: string;
  value:
    | ControllerRecord
    | BrokerRecord
    | TopicRecord
    | PartitionRecord
    | ProducerIdsRecord
    | AclRecord
    | ScramRecord
    | QuotaRecord
    | null;
}

export const put = (key: string, value: NonNullable<MetadataRecord['value']>): MetadataRecord => ({ key, value });
export const del = (key: string): MetadataRecord => ({ key, value: null });
export const partitionPut = (topic: string, p: PartitionRecord): MetadataRecord =>
  put(keys.partition(topic, p.partition), p);
