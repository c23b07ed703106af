/** Reads through the SDK (the NATS door), for tests that check what was stored. */
import type { ConsumerMessage, Millrace } from '../../src/client/index.js';

/** The first `expected` records of a topic's partitions, each from its earliest offset. */
export async function readFromEarliest(
  client: Millrace,
  topic: string,
  partitions: number,
  expected: number,
): Promise<ConsumerMessage[]> {
  const consumer = client.consumer();
  consumer.assign(
    Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })),
  );
  const out: ConsumerMessage[] = [];
  for await (const m of consumer) {
    out.push(m);
    if (out.length === expected) break;
  }
  await consumer.close();
  return out;
}
