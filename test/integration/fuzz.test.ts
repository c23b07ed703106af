/**
 * Bad input everywhere: the fuzzer (test/harness/fuzz.ts) sends random bytes and mutated valid
 * requests to every NATS API subject and every Kafka API and version of a real broker, checking
 * after each that it still answers on both doors; a 2 GiB length prefix allocates nothing. The
 * bounded run here takes MILLRACE_FUZZ_MS (60 s by default); `npm run fuzz -- --minutes 30` runs
 * it for longer. The seed is printed, and MILLRACE_FUZZ_SEED replays one.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apis } from '../../protocol/kafka/index.js';
import { Millrace } from '../../src/client/index.js';
import { connectNats } from '../../src/transport/connection.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { startBroker, stopAll, uniqueCluster, type TestBroker } from '../harness/cluster.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { fuzzKafka, fuzzNats, newCounts } from '../harness/fuzz.js';
import { RawKafkaClient, frame } from '../harness/kafka.js';
import { readFromEarliest } from '../harness/read.js';

const budgetMs = Number(process.env.MILLRACE_FUZZ_MS ?? 60_000);
const seed = Number(process.env.MILLRACE_FUZZ_SEED ?? Date.now() % 2 ** 31);
const cluster = uniqueCluster('fuzz');
const TOPIC = 'fuzzed';
let brokers: TestBroker[] = [];
let endpoint = '';
let client: Millrace;
let nc: NatsConnection;

beforeAll(async () => {
  brokers = [
    await startBroker(inject('natsUrl'), cluster, 1, {
      kafkaListener: '127.0.0.1:0',
      offsetsTopicReplicationFactor: 1,
      offsetsTopicPartitions: 2,
      groupInitialRebalanceDelayMs: 0,
    }),
  ];
  endpoint = brokers[0]!.broker.kafkaEndpoint!;
  client = new Millrace({ servers: inject('natsUrl'), cluster, requestTimeoutMs: 5_000 });
  await client.admin().createTopics({ topics: [{ topic: TOPIC, numPartitions: 2 }] });
  nc = await connectNats({ servers: inject('natsUrl'), name: 'fuzzer' });
});

afterAll(async () => {
  probe?.end();
  await nc?.close();
  await client?.close();
  await stopAll(brokers);
});

/** The broker answers on both doors: ApiVersions on a Kafka connection kept open, metadata over NATS. */
let probe: RawKafkaClient | null = null;
let correlation = 0;
async function healthy(): Promise<boolean> {
  if (!probe || probe.closed) {
    probe = new RawKafkaClient(endpoint);
    await probe.ready();
  }
  const answered = probe.frames.length + 1;
  probe.send(frame(apis.ApiVersions, 0, ++correlation, {}));
  const answeredInTime = await probe.until(answered, 5_000);
  const reply = await nc.request(
    subjects.metadata(cluster),
    wire.MetadataRequest.encode({ topics: [TOPIC] }).finish(),
    {
      timeout: 5_000,
    },
  );
  const metadata = wire.MetadataResponse.decode(reply.data);
  return answeredInTime && metadata.topics[0]?.errorCode === 0;
}

describe(`fuzzing every API on both doors (seed ${seed}, ${budgetMs} ms)`, () => {
  it('closes a connection announcing a 2 GiB frame without allocating it, and a negative one', async () => {
    const before = process.memoryUsage().arrayBuffers;
    for (const prefix of [0x7fffffff, 0x80000000]) {
      const c = new RawKafkaClient(endpoint);
      await c.ready();
      const size = Buffer.alloc(4);
      size.writeUInt32BE(prefix, 0);
      c.send(Buffer.concat([size, Buffer.alloc(1024)]));
      const closed = await new Promise<boolean>((resolve) => {
        const deadline = Date.now() + 5_000;
        const poll = () => (c.closed ? resolve(true) : Date.now() > deadline ? resolve(false) : setTimeout(poll, 5));
        poll();
      });
      expect(closed, `prefix 0x${prefix.toString(16)}`).toBe(true);
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    expect(await healthy()).toBe(true);
  });

  it('survives random and mutated requests to every NATS subject and every Kafka API and version', async () => {
    const counts = newCounts();
    await fuzzKafka(endpoint, budgetMs / 2, seed, healthy, counts);
    const epoch = () => brokers[0]!.broker.image.controller?.epoch ?? 1;
    await fuzzNats(nc, cluster, 1, epoch, TOPIC, budgetMs / 2, seed, healthy, counts);
    const { byTarget, ...totals } = counts;
    console.log(JSON.stringify({ fuzz: { seed, budgetMs, ...totals, targets: Object.keys(byTarget).length } }));
    expect(counts.sent).toBeGreaterThan(100);
    expect(counts.answered).toBeGreaterThan(0);
    // Still whole: what is written is read back.
    await client.producer({ acks: 'all' }).send({ topic: TOPIC, messages: [{ key: 'after', value: 'fuzz' }] });
    const read = await readFromEarliest(client, TOPIC, 2, 1);
    expect(read.length).toBeGreaterThan(0);
  });
});
