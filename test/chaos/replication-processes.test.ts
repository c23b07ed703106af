/**
 * Replication under real faults, with brokers as separate processes on one nats-server:
 * SIGKILL of a partition leader under acks=all production, a SIGSTOPped follower, a SIGSTOPped
 * controller that comes back as a zombie, and a whole-cluster kill -9.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Millrace, type ConsumerMessage, type RecordMetadata } from '../../src/client/index.js';
import { startNatsServer, type NatsServerHandle } from '../../src/transport/nats-server.js';
import { waitFor } from '../harness/cluster.js';
import { spawnBroker, type BrokerProcess } from '../harness/processes.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-chaos-repl-'));
const configFile = path.join(root, 'broker.json');
const cluster = 'chaosrepl';
const brokers = new Map<number, BrokerProcess>();
let nats: NatsServerHandle;
let client: Millrace;
const acked: Array<{ meta: RecordMetadata; value: string }> = [];

async function start(id: number): Promise<BrokerProcess> {
  const b = await spawnBroker(id, nats.url, cluster, path.join(root, `b${id}`), {}, ['--config', configFile]);
  brokers.set(id, b);
  return b;
}

async function partitionState(topic = 'orders') {
  return (await client.admin().describeTopics([topic]))[0]!.partitions[0]!;
}

async function writeFor(count: number): Promise<void> {
  const producer = client.producer({ acks: 'all', lingerMs: 1, deliveryTimeoutMs: 60_000 });
  for (let i = 0; i < count; i += 100) {
    const messages = Array.from({ length: 100 }, (_, j) => ({ value: `v${acked.length + i + j}` }));
    const res = await producer.send({ topic: 'orders', messages });
    res.forEach((meta, j) => acked.push({ meta, value: messages[j]!.value }));
  }
}

async function readEverything(): Promise<ConsumerMessage[]> {
  const end = Number((await partitionState()).latestOffset);
  const consumer = client.consumer();
  consumer.assign([{ topic: 'orders', partition: 0, offset: 'earliest' }]);
  const out: ConsumerMessage[] = [];
  if (end > 0) {
    for await (const m of consumer) {
      out.push(m);
      if (Number(m.offset) >= end - 1) break;
    }
  }
  await consumer.close();
  return out;
}

function expectEveryAckedAtItsOffset(read: ConsumerMessage[]): void {
  const byOffset = new Map(read.map((m) => [m.offset, m.value!.toString()]));
  for (const a of acked) expect(byOffset.get(a.meta.offset)).toBe(a.value);
  const offsets = read.map((m) => Number(m.offset));
  expect(offsets).toEqual(offsets.map((_, i) => offsets[0]! + i)); // contiguous, in order
}

beforeAll(async () => {
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      sessionTimeoutMs: 2000,
      heartbeatIntervalMs: 200,
      controllerLeaseMs: 2000,
      replicaLagTimeMaxMs: 1500,
    }),
  );
  nats = await startNatsServer({ storeDir: path.join(root, 'nats') });
  for (const id of [1, 2, 3]) await start(id);
  client = new Millrace({ servers: nats.url, cluster, requestTimeoutMs: 5_000 });
  await waitFor(
    'three live brokers',
    async () => (await client.admin().describeCluster()).brokers.filter((b) => !b.fenced).length === 3,
  );
  await client.admin().createTopics({
    topics: [{ topic: 'orders', numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }],
  });
});

// On a failure, the brokers' last log lines go with it: the evidence a rerun may not reproduce.
afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  for (const [id, b] of brokers) console.error(`--- broker ${id}, last log lines:\n${b.logs.slice(-40).join('\n')}`);
});

afterAll(async () => {
  await client?.close();
  for (const b of brokers.values()) b.child.kill('SIGKILL');
  await nats?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('replication with broker processes', () => {
  it('keeps every acks=all record through a SIGKILL of the leader', async () => {
    await writeFor(3_000);
    const leader = (await partitionState()).leader;
    let stop = false;
    const writing = (async () => {
      while (!stop) await writeFor(200);
    })();
    await new Promise((r) => setTimeout(r, 200));
    brokers.get(leader)!.child.kill('SIGKILL');
    try {
      await waitFor('a new leader', async () => {
        const l = (await partitionState()).leader;
        return l > 0 && l !== leader;
      });
      const atFailover = acked.length;
      await waitFor('writes acknowledged by the new leader', () => acked.length >= atFailover + 1_000, 30_000);
    } finally {
      stop = true;
      await writing;
      await start(leader);
    }
    expectEveryAckedAtItsOffset(await readEverything());
    await waitFor('the killed broker back in the ISR', async () => (await partitionState()).isr.length === 3, 30_000);
  });

  it('a paused follower leaves the ISR after the lag time and rejoins after catching up', async () => {
    const state = await partitionState();
    const follower = state.replicas.find((r) => r !== state.leader)!;
    brokers.get(follower)!.child.kill('SIGSTOP');
    try {
      await writeFor(500);
      await waitFor(
        'the paused follower out of the ISR',
        async () => !(await partitionState()).isr.includes(follower),
        20_000,
      );
      await writeFor(500);
    } finally {
      brokers.get(follower)!.child.kill('SIGCONT');
    }
    await waitFor('the follower back in the ISR', async () => (await partitionState()).isr.includes(follower), 30_000);
    expectEveryAckedAtItsOffset(await readEverything());
  });

  it('fences a paused controller that comes back (zombie) and keeps one active controller', async () => {
    const before = await client.admin().describeCluster();
    const zombie = brokers.get(before.controllerId)!;
    zombie.child.kill('SIGSTOP');
    let after;
    try {
      after = await waitFor(
        'a new controller',
        async () => {
          const c = await client.admin().describeCluster();
          return c.controllerId !== before.controllerId && c.controllerEpoch > before.controllerEpoch ? c : false;
        },
        20_000,
      );
    } finally {
      zombie.child.kill('SIGCONT');
    }
    await waitFor(
      'the zombie to step down',
      async () =>
        /millrace_active_controller 0/.test(
          await (await fetch(`http://127.0.0.1:${zombie.metricsPort}/metrics`)).text(),
        ),
      20_000,
    );
    // Paused past its session, the zombie's broker was fenced; it is unfenced once it heartbeats the new controller.
    await waitFor(
      'three live brokers again',
      async () => (await client.admin().describeCluster()).brokers.filter((b) => !b.fenced).length === 3,
      20_000,
    );
    const settled = await client.admin().describeCluster();
    expect(settled.controllerEpoch).toBeGreaterThanOrEqual(after.controllerEpoch);
    expect(
      await client
        .admin()
        .createTopics({ topics: [{ topic: 'after-zombie', numPartitions: 1, replicationFactor: 3 }] }),
    ).toBe(true);
    await writeFor(300);
  });

  it('loses nothing acknowledged with acks=all when the whole cluster is killed with kill -9 and restarted', async () => {
    await waitFor('ISR of three', async () => (await partitionState()).isr.length === 3, 30_000);
    await writeFor(1_000);
    for (const b of brokers.values()) b.child.kill('SIGKILL');
    await Promise.all([...brokers.values()].map((b) => b.exited));
    for (const id of [1, 2, 3]) await start(id);
    await waitFor('a leader again', async () => (await partitionState()).leader > 0, 30_000);
    expectEveryAckedAtItsOffset(await readEverything());
    expect(acked.length).toBeGreaterThanOrEqual(8_300);
  });
});
