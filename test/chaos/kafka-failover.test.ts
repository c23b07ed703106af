/**
 * The Kafka door through a failover: a kafkajs producer with acks=-1 writing while the partition
 * leader is SIGKILLed on a three-broker cluster (broker processes on one nats-server). Every
 * record kafkajs saw acknowledged is read back, at its offset, through the NATS door.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Millrace, type ConsumerMessage } from '../../src/client/index.js';
import { startNatsServer, type NatsServerHandle } from '../../src/transport/nats-server.js';
import { waitFor } from '../harness/cluster.js';
import { spawnBroker, type BrokerProcess } from '../harness/processes.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-chaos-kafka-'));
const configFile = path.join(root, 'broker.json');
const cluster = 'chaoskafka';
const brokers = new Map<number, BrokerProcess>();
let nats: NatsServerHandle;
let client: Millrace;

beforeAll(async () => {
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      sessionTimeoutMs: 2000,
      heartbeatIntervalMs: 200,
      controllerLeaseMs: 2000,
      replicaLagTimeMaxMs: 1500,
      kafkaListener: '127.0.0.1:0',
    }),
  );
  nats = await startNatsServer({ storeDir: path.join(root, 'nats') });
  for (const id of [1, 2, 3])
    brokers.set(id, await spawnBroker(id, nats.url, cluster, path.join(root, `b${id}`), {}, ['--config', configFile]));
  client = new Millrace({ servers: nats.url, cluster, requestTimeoutMs: 5_000 });
  await waitFor(
    'three live brokers with Kafka listeners',
    async () =>
      (await client.admin().describeCluster()).brokers.filter((b) => !b.fenced && b.kafkaEndpoint).length === 3,
  );
}, 90_000);

afterAll(async () => {
  await client?.close();
  for (const b of brokers.values()) b.child.kill('SIGKILL');
  await nats?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('Kafka door failover', () => {
  it('keeps every record a kafkajs producer saw acknowledged (acks=-1) through a SIGKILL of the leader', async () => {
    const admin = client.admin();
    await admin.createTopics({
      topics: [{ topic: 'kfail', numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }],
    });
    await waitFor('full ISR', async () => (await admin.describeTopics(['kfail']))[0]!.partitions[0]!.isr.length === 3);
    const endpoints = (await admin.describeCluster()).brokers.map((b) => b.kafkaEndpoint!);
    const kafka = new Kafka({
      clientId: 'failover',
      brokers: endpoints,
      logLevel: logLevel.NOTHING,
      requestTimeout: 5_000,
      retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const acked = new Map<string, bigint>();
    let next = 0;
    const writeBatches = async (batches: number) => {
      for (let b = 0; b < batches; b++) {
        const values = Array.from({ length: 20 }, () => `v${next++}`);
        const [meta] = await producer.send({ topic: 'kfail', acks: -1, messages: values.map((value) => ({ value })) });
        const base = BigInt(meta!.baseOffset!);
        values.forEach((v, i) => acked.set(v, base + BigInt(i)));
      }
    };
    try {
      await writeBatches(25);
      const leader = (await admin.describeTopics(['kfail']))[0]!.partitions[0]!.leader;
      const writing = writeBatches(50);
      brokers.get(leader)!.child.kill('SIGKILL');
      await writing;
      await waitFor('a new leader', async () => {
        const p = (await admin.describeTopics(['kfail']))[0]!.partitions[0]!;
        return p.leader > 0 && p.leader !== leader;
      });
      await writeBatches(10);
    } finally {
      await producer.disconnect();
    }
    expect(acked.size).toBe(1700);
    const consumer = client.consumer();
    consumer.assign([{ topic: 'kfail', partition: 0, offset: 'earliest' }]);
    const read: ConsumerMessage[] = [];
    const last = [...acked.values()].reduce((a, b) => (a > b ? a : b));
    for await (const m of consumer) {
      read.push(m);
      if (m.offset >= last) break;
    }
    await consumer.close();
    const atOffset = new Map(read.map((m) => [m.offset, m.value!.toString()]));
    for (const [value, offset] of acked) expect(atOffset.get(offset)).toBe(value);
  }, 120_000);
});
