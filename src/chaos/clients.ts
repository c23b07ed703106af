/**
 * The workload's producers and group members behind one interface, so a chaos run can drive
 * either door: the NATS SDK, or Kafka clients on the brokers' Kafka listeners (kafka-clients.ts).
 */
import { MillraceError } from '../../protocol/errors.js';
import { Millrace } from '../client/index.js';

export interface ChaosProducer {
  /** Idempotent, acks=all; resolves with each record's partition and offset. */
  send(messages: Array<{ value: string; partition: number }>): Promise<Array<{ partition: number; offset: number }>>;
  close(): Promise<void>;
}

export interface MemberHooks {
  onMessage(partition: number, offset: number, value: string): void;
  /** Partitions were assigned, revoked or lost. */
  onRebalance(): void;
  /** The member stopped on an error; the workload replaces it, as an application would. */
  onFailed(): void;
}

export interface ChaosClients {
  producer(name: string, topic: string): ChaosProducer;
  member(name: string, group: string, topic: string, hooks: MemberHooks): { close(): Promise<void> };
  /** Whether a failed send says for sure the write did not happen (any other failure leaves it unknown). */
  definitelyFailed(err: unknown): boolean;
  close(): Promise<void>;
}

/** Errors that say the write did not happen. */
export const DEFINITE_FAILURES = new Set([
  'INVALID_RECORD',
  'MESSAGE_TOO_LARGE',
  'INVALID_TOPIC_EXCEPTION',
  'UNKNOWN_TOPIC_OR_PARTITION',
]);

/** The NATS door: the SDK, one client per producer and member. */
export function natsClients(servers: string[], cluster: string): ChaosClients {
  const clients: Millrace[] = [];
  const client = (clientId: string): Millrace => {
    const c = new Millrace({ servers, cluster, clientId, requestTimeoutMs: 5_000 });
    clients.push(c);
    return c;
  };
  return {
    producer(name, topic) {
      const producer = client(`chaos-${name}`).producer({ lingerMs: 5, deliveryTimeoutMs: 60_000 });
      return {
        send: async (messages) =>
          (await producer.send({ topic, messages })).map((r) => ({ partition: r.partition, offset: Number(r.offset) })),
        close: () => producer.close(),
      };
    },
    member(name, group, topic, hooks) {
      const consumer = client(`chaos-${name}`).consumer({
        groupId: group,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        autoCommitIntervalMs: 1_000,
      });
      const rebalanced = (): void => hooks.onRebalance();
      consumer.subscribe({
        topics: [topic],
        fromBeginning: true,
        listener: { assigned: rebalanced, revoked: rebalanced, lost: rebalanced },
      });
      consumer
        .run({
          eachMessage: ({ partition, message }) =>
            hooks.onMessage(partition, Number(message.offset), message.value!.toString()),
        })
        .catch(() => hooks.onFailed());
      return { close: () => consumer.close() };
    },
    definitelyFailed: (err) => err instanceof MillraceError && DEFINITE_FAILURES.has(err.errorName),
    close: async () => void (await Promise.allSettled(clients.map((c) => c.close()))),
  };
}
