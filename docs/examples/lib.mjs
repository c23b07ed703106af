// What the examples share: where the cluster is, its topics, sample input, and reading results.
// Run an example against `millrace dev` (it prints its NATS URL; its cluster is "dev"):
//   node docs/examples/word-count.mjs nats://127.0.0.1:<port> [cluster]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Millrace } from 'millrace';
import { MillraceStreams } from 'millrace/streams';

export const servers = process.argv[2] ?? 'nats://127.0.0.1:4222';
export const cluster = process.argv[3] ?? 'dev';
export const client = new Millrace({ servers, cluster, clientId: 'streams-example' });

/** Creates the topics (existing ones are kept). */
export async function topics(...names) {
  await client.admin().createTopics({ topics: names.map((topic) => ({ topic, numPartitions: 2 })) });
}

/** Runs `topology` as application `applicationId` (a fresh state directory each run). */
export async function run(topology, applicationId) {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `${applicationId}-`));
  const app = new MillraceStreams(topology, { servers, cluster, applicationId, stateDir, commitIntervalMs: 100 });
  await app.start();
  return app;
}

export async function send(topic, messages) {
  const producer = client.producer();
  await producer.send({ topic, messages });
  await producer.close();
}

/** Reads `topic` from its start until `done(latest)` holds (latest value per key), for at most 30 s. */
export async function readUntil(topic, done) {
  const consumer = client.consumer({ maxWaitMs: 100 });
  const parts = (await client.admin().describeTopics([topic]))[0].partitions;
  consumer.assign(parts.map((p) => ({ topic, partition: p.partition, offset: 'earliest' })));
  const latest = {};
  const deadline = Date.now() + 30_000;
  for await (const m of consumer) {
    latest[m.key.toString()] = m.value.toString();
    if (done(latest) || Date.now() > deadline) break;
  }
  await consumer.close();
  return latest;
}

/** Waits until `condition()` holds, for at most 30 s. */
export async function waitFor(condition) {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
