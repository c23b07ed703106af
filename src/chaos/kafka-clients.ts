/**
 * The Kafka door for chaos runs: kafkajs producers (idempotent, acks=-1) and group members on the
 * brokers' Kafka listeners. kafkajs is loaded on demand: it is a development dependency, and only
 * `millrace chaos run --client kafka` needs it.
 */
import { MillraceError } from '../../protocol/errors.js';
import { DEFINITE_FAILURES, type ChaosClients } from './clients.js';

type Kafkajs = typeof import('kafkajs');
type Producer = ReturnType<InstanceType<Kafkajs['Kafka']>['producer']>;

async function loadKafkajs(): Promise<Kafkajs> {
  try {
    return await import('kafkajs');
  } catch (err) {
    throw new MillraceError('INVALID_CONFIG', '--client kafka drives the workload with kafkajs: npm install kafkajs', {
      cause: err,
    });
  }
}

export async function kafkaClients(bootstrap: string[]): Promise<ChaosClients> {
  const { Kafka, logLevel } = await loadKafkajs();
  const kafka = new Kafka({
    clientId: 'millrace-chaos',
    brokers: bootstrap,
    logLevel: logLevel.NOTHING,
    requestTimeout: 5_000,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 2_000 },
  });
  const closers: Array<() => Promise<void>> = [];
  return {
    producer(_name, topic) {
      // Seen in this workload across a leader's SIGKILL: kafkajs resolved a send without the result
      // of one partition while it still retried that partition, and the retry's answer (the
      // broker rightly recognising the batch as a duplicate) then came back as the next send's
      // offsets, whose own records were written elsewhere. So a send that fails or comes back
      // incomplete retires the producer (as the Java client bumps its epoch, KIP-360), and the
      // next send starts a new one.
      let current: Producer | null = null;
      const live = async (): Promise<Producer> => {
        if (!current) {
          const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
          await p.connect();
          current = p;
        }
        return current;
      };
      closers.push(async () => void (await current?.disconnect()));
      const sendNow = async (messages: Array<{ value: string; partition: number }>) => {
        const producer = await live();
        let next: Map<number, number>;
        try {
          const res = await producer.send({
            topic,
            acks: -1,
            messages: messages.map((m) => ({ value: m.value, partition: m.partition })),
          });
          // One result per partition written, with the batch's first offset: records follow in order.
          next = new Map(res.map((r) => [r.partition, Number(r.baseOffset)]));
          // A partition missing from the result: its outcome is unknown, the producer not trusted.
          const missing = messages.find((m) => !next.has(m.partition));
          if (missing) throw new Error(`kafkajs reported no offset for partition ${missing.partition}`);
        } catch (err) {
          current = null;
          void producer.disconnect().catch(() => undefined);
          throw err;
        }
        return messages.map((m) => {
          const offset = next.get(m.partition)!;
          next.set(m.partition, offset + 1);
          return { partition: m.partition, offset };
        });
      };
      // One send at a time, so no send can take another's answer.
      let previous: Promise<unknown> = Promise.resolve();
      return {
        send(messages) {
          const result = previous.catch(() => undefined).then(() => sendNow(messages));
          previous = result;
          return result;
        },
        close: async () => void (await current?.disconnect()),
      };
    },
    member(_name, group, topic, hooks) {
      const consumer = kafka.consumer({
        groupId: group,
        sessionTimeout: 6_000,
        heartbeatInterval: 500,
        maxWaitTimeInMs: 500,
        retry: { retries: 30 },
      });
      closers.push(() => consumer.disconnect());
      consumer.on(consumer.events.GROUP_JOIN, () => hooks.onRebalance());
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) hooks.onFailed();
      });
      void (async () => {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          autoCommitInterval: 1_000,
          eachMessage: async ({ partition, message }) =>
            hooks.onMessage(partition, Number(message.offset), message.value!.toString()),
        });
      })().catch(() => hooks.onFailed());
      return { close: () => consumer.disconnect() };
    },
    definitelyFailed: (err) => DEFINITE_FAILURES.has((err as { type?: string }).type ?? ''),
    close: async () => void (await Promise.allSettled(closers.map((c) => c()))),
  };
}
