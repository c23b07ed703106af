import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Millrace, type ConsumerMessage } from '../../src/client/index.js';
import { uniqueCluster, waitFor } from '../harness/cluster.js';
import { readFromEarliest } from '../harness/read.js';
import { spawnBroker, type BrokerProcess } from '../harness/processes.js';
import { tempDir } from '../harness/storage.js';

const dataDir = tempDir('millrace-proc-');
const cluster = uniqueCluster('proc');
const running: BrokerProcess[] = [];
let client: Millrace;

afterAll(async () => {
  await client?.close();
  for (const b of running) b.child.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function produce(topic: string, from: number, count: number): Promise<Map<string, number>> {
  const producer = client.producer({ acks: 1, lingerMs: 1 });
  const sends = [];
  for (let i = from; i < from + count; i += 250) {
    sends.push(
      producer.send({
        topic,
        messages: Array.from({ length: Math.min(250, from + count - i) }, (_, j) => ({
          key: `k${(i + j) % 13}`,
          value: `v${i + j}`,
        })),
      }),
    );
  }
  const acked = (await Promise.all(sends)).flat();
  return new Map(acked.map((a, i) => [`${a.partition}:${a.offset}`, from + i]));
}

function expectAllAt(messages: ConsumerMessage[], acked: Map<string, number>): void {
  const found = new Map(messages.map((m) => [`${m.partition}:${m.offset}`, m.value!.toString()]));
  for (const [at, seq] of acked) expect(found.get(at)).toBe(`v${seq}`);
}

describe('broker processes', () => {
  it('serves metrics, survives SIGTERM and kill -9 with every acks=1 record kept, and continues offsets', async () => {
    const dir = path.join(dataDir, 'b1');
    let broker = await spawnBroker(1, inject('natsUrl'), cluster, dir);
    running.push(broker);
    client = new Millrace({ servers: inject('natsUrl'), cluster });
    await client.admin().createTopics({ topics: [{ topic: 'durable', numPartitions: 3 }] });
    const acked = await produce('durable', 0, 10_000);

    const metrics = await (await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/millrace_messages_in_total\{topic="durable"\} 10000/);
    expect(metrics).toMatch(/millrace_active_controller 1/);
    expect(metrics).toMatch(/millrace_log_end_offset\{topic="durable",partition="0"\} \d+/);
    expect(metrics).toMatch(/millrace_requests_total\{api="produce",error="NONE"\} \d+/);
    expect(metrics).toMatch(/millrace_request_duration_seconds_bucket\{le="0.001",api="produce"\}/);
    expect(metrics).toMatch(/millrace_broker_info\{broker_id="1",cluster="[^"]+",rack="",version="[\d.]+"\} 1/);
    expect(metrics).toMatch(/millrace_process_resident_memory_bytes/);
    expect(metrics).toMatch(/millrace_log_dir_free_bytes\{dir="[^"]+"\} [1-9]/);
    expect(metrics).toMatch(/millrace_nats_connected 1/);
    expect((await fetch(`http://127.0.0.1:${broker.metricsPort}/health`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${broker.metricsPort}/ready`)).status).toBe(200);

    // Clean stop: SIGTERM, exit 0, clean-shutdown marker.
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
    expect(fs.existsSync(path.join(dir, '.millrace_cleanshutdown'))).toBe(true);
    broker = await spawnBroker(1, inject('natsUrl'), cluster, dir);
    running.push(broker);
    expect(broker.logs.some((l) => l.includes('"cleanShutdown":true'))).toBe(true);
    expectAllAt(await readFromEarliest(client, 'durable', 3, 10_000), acked);
    const more = await produce('durable', 10_000, 2_000);
    for (const [at] of more) expect(acked.has(at)).toBe(false); // offsets continue past the old log end

    // Crash: kill -9, restart, recover.
    broker.child.kill('SIGKILL');
    await broker.exited;
    expect(fs.existsSync(path.join(dir, '.millrace_cleanshutdown'))).toBe(false);
    broker = await spawnBroker(1, inject('natsUrl'), cluster, dir);
    running.push(broker);
    expect(broker.logs.some((l) => l.includes('"cleanShutdown":false'))).toBe(true);
    await waitFor('leaders back', async () =>
      (await client.admin().describeTopics(['durable']))[0]!.partitions.every((p) => p.leader === 1),
    );
    const all = await readFromEarliest(client, 'durable', 3, 12_000);
    expectAllAt(all, acked);
    expectAllAt(all, more);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  });

  it('fences a SIGKILLed broker when a probe finds it gone from NATS, long before its session timeout', async () => {
    // A session timeout no test waits out: only the probe can fence the killed broker in time.
    const config = path.join(dataDir, 'probe.json');
    fs.writeFileSync(config, JSON.stringify({ sessionTimeoutMs: 120_000, heartbeatIntervalMs: 200 }));
    const probeCluster = uniqueCluster('probe');
    const spawn = (id: number) =>
      spawnBroker(id, inject('natsUrl'), probeCluster, path.join(dataDir, `probe-${id}`), {}, ['--config', config]);
    const first = await spawn(1);
    running.push(first);
    const second = await spawn(2);
    running.push(second);
    const probeClient = new Millrace({ servers: inject('natsUrl'), cluster: probeCluster });
    try {
      const admin = probeClient.admin();
      await waitFor('two live brokers', async () => (await admin.describeCluster()).brokers.length === 2);
      await admin.createTopics({ topics: [{ topic: 'probed', numPartitions: 4, replicationFactor: 2 }] });
      await waitFor('broker 2 leads and follows', async () => {
        const [t] = await admin.describeTopics(['probed']);
        return t!.partitions.some((p) => p.leader === 2) && t!.partitions.every((p) => p.isr.length === 2);
      });
      second.child.kill('SIGKILL');
      await second.exited;
      await waitFor(
        'broker 2 fenced: no leadership, in no ISR',
        async () =>
          (await admin.describeTopics(['probed']))[0]!.partitions.every((p) => p.leader === 1 && !p.isr.includes(2)),
        30_000,
      );
      expect(first.logs.some((l) => l.includes('broker process is gone from NATS: fencing it now'))).toBe(true);
      expect(first.logs.some((l) => l.includes('broker missed its session timeout'))).toBe(false);
    } finally {
      await probeClient.close();
      first.child.kill('SIGTERM');
      await first.exited;
    }
  });

  it('takes the controller lease over from a SIGKILLed controller long before the lease runs out', async () => {
    // A lease and a session timeout no test waits out: only presence probes can move the controller.
    const config = path.join(dataDir, 'takeover.json');
    fs.writeFileSync(config, JSON.stringify({ controllerLeaseMs: 120_000, sessionTimeoutMs: 120_000 }));
    const takeoverCluster = uniqueCluster('takeover');
    const brokers = [];
    for (const id of [1, 2]) {
      const b = await spawnBroker(id, inject('natsUrl'), takeoverCluster, path.join(dataDir, `takeover-${id}`), {}, [
        '--config',
        config,
      ]);
      running.push(b);
      brokers.push(b);
    }
    const client = new Millrace({ servers: inject('natsUrl'), cluster: takeoverCluster });
    try {
      const admin = client.admin();
      await waitFor('two live brokers', async () => (await admin.describeCluster()).brokers.length === 2);
      await admin.createTopics({ topics: [{ topic: 'held', numPartitions: 2, replicationFactor: 2 }] });
      const { controllerId } = await admin.describeCluster();
      const [victim, survivor] = controllerId === 1 ? brokers : [...brokers].reverse();
      victim!.child.kill('SIGKILL');
      await victim!.exited;
      await waitFor(
        'the survivor controls and leads every partition',
        async () =>
          (await admin.describeCluster()).controllerId === survivor!.id &&
          (await admin.describeTopics(['held']))[0]!.partitions.every((p) => p.leader === survivor!.id),
        30_000,
      );
      expect(survivor!.logs.some((l) => l.includes('the controller lease holder is gone from NATS'))).toBe(true);
      const produced = await client.producer({ acks: 'all' }).send({ topic: 'held', messages: [{ value: 'after' }] });
      expect(produced.length).toBe(1);
    } finally {
      await client.close();
      for (const b of brokers) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGTERM');
      await Promise.all(brokers.map((b) => b.exited));
    }
  });
});
