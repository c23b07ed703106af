/**
 * Chaos scenario files (ops/chaos/*.json): the cluster, the topic, the workload and the fault
 * schedule, validated with zod so a bad file names its problem.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { MillraceError } from '../../protocol/errors.js';

export const FAULT_KINDS = [
  'kill-broker',
  'pause-broker',
  'partition-broker',
  'kill-nats',
  'rolling-restart',
  'restart-all',
  'kill-streams-instance',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    brokers: z.number().int().min(1).max(9).default(3),
    natsNodes: z.union([z.literal(1), z.literal(3)]).default(1),
    seed: z.number().int().default(1),
    durationMs: z.number().int().min(1_000).default(60_000),
    topic: z
      .object({
        name: z.string().default('chaos'),
        partitions: z.number().int().min(1).default(6),
        replicationFactor: z.number().int().min(1).default(3),
        minInsyncReplicas: z.number().int().min(1).default(2),
      })
      .strict()
      .prefault({}),
    workload: z
      .object({
        /** Idempotent acks=all producers of unique numbered values. */
        producers: z.number().int().min(1).default(2),
        /** Records per second per producer. */
        rate: z.number().int().min(1).default(300),
        /** Members of one consumer group, committing offsets. */
        consumers: z.number().int().min(0).default(2),
        /** Transactional writers and a copy pipeline (txn-workload.ts); none by default. */
        transactions: z
          .object({
            writers: z.number().int().min(0).default(2),
            /** Partitions of `<topic>-txn` each transaction writes to. */
            partitionsPerTransaction: z.number().int().min(1).default(3),
            /** Every n-th transaction of a writer is aborted on purpose. */
            abortEvery: z.number().int().min(2).default(4),
            /** A consume-transform-produce copy of the topic, offsets committed in its transactions. */
            copy: z.boolean().default(true),
          })
          .strict()
          .optional(),
        /**
         * A streams application (streams-workload.ts) aggregating numbered input in child
         * processes, checked like Kafka's EOS test driver; its instances are what
         * `kill-streams-instance` kills.
         */
        streams: z
          .object({
            instances: z.number().int().min(1).default(2),
            guarantee: z.enum(['at_least_once', 'exactly_once_v2']).default('exactly_once_v2'),
            keys: z.number().int().min(1).default(10),
            /** Input records per second. */
            rate: z.number().int().min(1).default(500),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    faults: z
      .object({
        kinds: z.array(z.enum(FAULT_KINDS)).min(1),
        /**
         * Which broker a broker fault hits: any, the active controller, the leader of
         * `targetPartition`, or the transaction coordinator of the first writer or the copy (in turn).
         */
        target: z.enum(['random', 'controller', 'leader', 'txn-coordinator']).default('random'),
        targetPartition: z.number().int().min(0).default(0),
        /** Pause between the end of one fault and the start of the next. */
        intervalMs: z.number().int().min(0).default(2_000),
        /** How long a fault lasts before it is healed. */
        durationMs: z.number().int().min(0).default(3_000),
        /** Faults injected whatever the duration: a short run on a slow machine still injects them. */
        minCount: z.number().int().min(0).default(0),
      })
      .strict(),
    /** The door the workload's producers and group members use: the NATS SDK or Kafka clients (kafkajs). */
    client: z.enum(['nats', 'kafka']).default('nats'),
    /** Broker settings (camelCase, as the broker's JSON config file). */
    brokerConfig: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .refine((s) => !s.faults.kinds.includes('kill-streams-instance') || s.workload.streams !== undefined, {
    message: 'kill-streams-instance needs a streams workload (workload.streams)',
    path: ['faults', 'kinds'],
  });

export type Scenario = z.infer<typeof scenarioSchema>;

export function parseScenario(text: string, source: string): Scenario {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MillraceError('INVALID_CONFIG', `${source} is not JSON: ${(err as Error).message}`);
  }
  const result = scenarioSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(scenario)'}: ${i.message}`).join('; ');
    throw new MillraceError('INVALID_CONFIG', `${source}: ${problems}`);
  }
  return result.data;
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MillraceError('INVALID_CONFIG', `cannot read scenario ${file}: ${(err as Error).message}`);
  }
  return parseScenario(text, file);
}
