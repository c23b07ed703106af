/**
 * Records of the metadata log (KV bucket mr_<cluster>_meta, history 1): JSON, so operators can
 * read them with the nats CLI; validated on read, so a bad record is reported and skipped rather
 * than crashing a broker.
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
});
export type BrokerRecord = z.infer<typeof brokerRecord>;

export const partitionRecord = z.object({
  partition: z.number().int().nonnegative(),
  replicas: z.array(z.number().int()),
  isr: z.array(z.number().int()),
  /** -1 when no replica can lead (offline). */
  leader: z.number().int(),
  leaderEpoch: z.number().int(),
  partitionEpoch: z.number().int(),
  /** During a reassignment: the replica set to move to once every one of them is in sync. */
  targetReplicas: z.array(z.number().int()).optional(),
});
export type PartitionRecord = z.infer<typeof partitionRecord>;

export const topicRecord = z.object({
  name: z.string(),
  id: z.string(),
  configs: z.record(z.string(), z.string()),
  partitions: z.array(partitionRecord),
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

export const keys = {
  controller: 'controller',
  producerIds: 'producer-ids',
  broker: (id: number): string => `broker.${id}`,
  topic: (name: string): string => `topic.${name}`,
};
