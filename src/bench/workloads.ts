/**
 * Benchmark workloads over a running cluster (or one this module starts: a nats-server and a
 * `millrace broker` child process, so broker and client do not share an event loop). Every
 * figure is printed as JSON by the caller.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Millrace, type Acks, type CompressionName, type Serde } from '../client/index.js';
import { startNatsServer, type NatsServerHandle } from '../transport/nats-server.js';
import { observeLoad, type ObservedProcess } from './observe.js';

export interface BenchCluster {
  nats: string;
  cluster: string;
  /** The process id of a broker this module started (undefined while it is down). */
  pid(brokerId: number): number | undefined;
  /** SIGKILLs a broker process this module started. */
  kill(brokerId: number): void;
  /** Starts a killed broker again on its data directory; resolves when it is running. */
  restart(brokerId: number): Promise<void>;
  /** The nats-server and the running brokers (with their metrics endpoints), to observe their load. */
  processes(): ObservedProcess[];
  stop(): Promise<void>;
}

export interface BenchClusterOptions {
  /** Every line a broker writes to stdout (its JSON log), for benchmarks that count events. */
  onLog?: (brokerId: number, line: string) => void;
  logLevel?: string;
  /** Gives each broker a Kafka listener on a free loopback port. */
  kafkaListeners?: boolean;
  /** A nats-server configuration (millrace auth's), and broker settings as MILLRACE_* variables. */
  natsConfigFile?: string;
  brokerEnv?: Record<string, string>;
}

export const BENCH_CLUSTER = 'bench';

/** A nats-server and `brokers` broker processes in a temporary directory. */
export async function startBenchCluster(brokers = 1, options: BenchClusterOptions = {}): Promise<BenchCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-bench-'));
  const nats: NatsServerHandle = await startNatsServer({
    storeDir: path.join(dir, 'nats'),
    ...(options.natsConfigFile ? { configFile: options.natsConfigFile } : {}),
  });
  const cluster = BENCH_CLUSTER;
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js');
  const children = new Map<number, ChildProcess>();
  const metricsUrls = new Map<number, string>();
  const start = (id: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          // Node flags for the broker processes only, to profile them: MILLRACE_BENCH_BROKER_NODE_ARGS='--cpu-prof'.
          ...(process.env.MILLRACE_BENCH_BROKER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
          cli,
          'broker',
          '--id',
          String(id),
          '--nats',
          nats.url,
          '--cluster',
          cluster,
          '--data-dir',
          path.join(dir, `b${id}`),
          '--log-level',
          options.logLevel ?? 'info',
          ...(options.kafkaListeners ? ['--kafka-listener', '127.0.0.1:0'] : []),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...options.brokerEnv } },
      );
      children.set(id, child);
      let running = false;
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        options.onLog?.(id, line);
        if (line.includes('"msg":"metrics endpoint"')) {
          const url = /"metrics":"([^"]+)"/.exec(line)?.[1];
          if (url) metricsUrls.set(id, url);
        }
        if (!running && line.includes('"msg":"running"')) {
          running = true;
          resolve();
        }
      });
      child.once('exit', (code) => {
        if (!running) reject(new Error(`broker ${id} exited with ${code} during start`));
      });
    });
  await Promise.all(Array.from({ length: brokers }, (_, i) => start(i + 1)));
  const exited = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;
  return {
    nats: nats.url,
    cluster,
    pid: (id) => {
      const c = children.get(id);
      return c && !exited(c) ? c.pid : undefined;
    },
    kill(brokerId: number) {
      children.get(brokerId)?.kill('SIGKILL');
    },
    processes() {
      const brokers = [...children].flatMap(([id, c]) =>
        exited(c) || c.pid === undefined ? [] : [{ name: `broker ${id}`, pid: c.pid, metricsUrl: metricsUrls.get(id) }],
      );
      return nats.process.pid === undefined ? brokers : [{ name: 'nats-server', pid: nats.process.pid }, ...brokers];
    },
    async restart(brokerId: number) {
      const c = children.get(brokerId);
      if (c && !exited(c)) await new Promise((r) => (c.once('exit', r), c.kill('SIGKILL')));
      await start(brokerId);
    },
    async stop() {
      await Promise.all(
        [...children.values()].map(
          (c) => new Promise((r) => (exited(c) ? r(null) : (c.once('exit', r), c.kill('SIGTERM')))),
        ),
      );
      await nats.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface WorkloadOptions {
  records: number;
  recordSize: number;
  partitions: number;
  replicationFactor: number;
  acks: Acks;
  producers: number;
  batchSize: number;
  lingerMs: number;
  compression: CompressionName;
  /** Records per second to offer (0: as fast as possible): latency is measured at a set rate. */
  throughput: number;
  /** false turns idempotence off; otherwise the producer's default (on with acks=all). */
  idempotent: boolean;
  /** Values as Buffers, or objects through a serializer (`serde`) producing `recordSize` bytes. */
  serde?: Serde<unknown>;
}

/** One idempotent-or-not producer, acks=1, linger 5 ms, 256 KiB batches, as fast as it goes: the comparisons' workload. */
export const plainProduce = (
  o: { records: number; recordSize: number; partitions: number },
  idempotent: boolean,
): WorkloadOptions => ({
  ...o,
  replicationFactor: 1,
  acks: 1,
  producers: 1,
  batchSize: 256 * 1024,
  lingerMs: 5,
  compression: 'none',
  throughput: 0,
  idempotent,
});

export function percentiles(samples: number[]): { p50: number; p99: number; p999: number; max: number } {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number =>
    sorted.length ? +sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(3) : 0;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1) };
}

const SEND_CHUNK = 1_000;

/** Produces `records` values of `recordSize` bytes; latency is per send() call of SEND_CHUNK records. */
export async function produceWorkload(
  client: Millrace,
  topic: string,
  o: WorkloadOptions,
): Promise<Record<string, unknown>> {
  // With a serializer, one object whose JSON is recordSize bytes, as the raw run sends one Buffer.
  const value = o.serde
    ? { id: 1, text: 'a'.repeat(Math.max(0, o.recordSize - 20)) }
    : Buffer.alloc(o.recordSize, 0x61);
  const latencies: number[] = [];
  const perProducer = Math.ceil(o.records / o.producers);
  const chunk = o.throughput > 0 ? Math.max(1, Math.min(SEND_CHUNK, Math.floor(o.throughput / 1000))) : SEND_CHUNK;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: o.producers }, async () => {
      const producer = client.producer<Buffer | string, unknown>({
        ...(o.serde ? { serializers: { value: o.serde } } : {}),
        acks: o.acks,
        ...(o.idempotent ? {} : { idempotent: false }),
        batchSize: o.batchSize,
        lingerMs: o.lingerMs,
        compression: o.compression,
      });
      const outstanding = new Set<Promise<unknown>>();
      const messages = Array.from({ length: chunk }, () => ({ value }));
      const startNs = process.hrtime.bigint();
      for (let sent = 0; sent < perProducer; sent += chunk) {
        if (o.throughput > 0) {
          // Open-loop pacing: send each chunk at its scheduled time.
          const due = startNs + BigInt(Math.round(((sent * o.producers) / o.throughput) * 1e9));
          const wait = Number(due - process.hrtime.bigint()) / 1e6;
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        const t0 = process.hrtime.bigint();
        const p = producer
          .send({ topic, messages: messages.slice(0, Math.min(chunk, perProducer - sent)) })
          .then(() => {
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            outstanding.delete(p);
          });
        outstanding.add(p);
        if (outstanding.size >= 64) await Promise.race(outstanding);
      }
      await Promise.all(outstanding);
      await producer.flush();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const total = perProducer * o.producers;
  return {
    records: total,
    seconds: +seconds.toFixed(3),
    recordsPerSec: Math.round(total / seconds),
    MBps: +((total * o.recordSize) / 1e6 / seconds).toFixed(1),
    latencyMs: percentiles(latencies),
    latencyUnit: `send() of ${chunk} records, from call to acknowledgement`,
  };
}

/** Reads every record of `topic` from the beginning. */
export async function consumeWorkload(
  client: Millrace,
  topic: string,
  partitions: number,
  records: number,
  recordSize: number,
): Promise<Record<string, unknown>> {
  const consumer = client.consumer({ maxBytesPerPartition: 1024 * 1024, maxWaitMs: 100 });
  consumer.assign(
    Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })),
  );
  let n = 0;
  let bytes = 0;
  const started = process.hrtime.bigint();
  await consumer.run({
    // Records read in place (batch.records()): the SDK's path without an object per record.
    eachBatch: ({ batch }) => {
      n += batch.recordCount;
      for (const r of batch.records()) bytes += Math.max(0, r.valueLength);
      if (n >= records) void consumer.close();
    },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    records: n,
    seconds: +seconds.toFixed(3),
    recordsPerSec: Math.round(n / seconds),
    MBps: +(bytes / 1e6 / seconds).toFixed(1),
    recordSize,
    path: 'eachBatch, batch.records()',
  };
}

/** Produces at a set rate while consuming; latency is record timestamp to consumption. */
export async function e2eWorkload(
  client: Millrace,
  topic: string,
  o: WorkloadOptions,
): Promise<Record<string, unknown>> {
  const consumer = client.consumer({ maxWaitMs: 100 });
  consumer.assign(
    Array.from({ length: o.partitions }, (_, partition) => ({ topic, partition, offset: 'latest' as const })),
  );
  const latencies: number[] = [];
  let received = 0;
  const done = consumer.run({
    eachBatch: ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) latencies.push(now - m.timestamp);
      received += batch.messages.length;
      if (received >= o.records) void consumer.close();
    },
  });
  await new Promise((r) => setTimeout(r, 500));
  const produced = await produceWorkload(client, topic, o);
  // The bound's timer is cleared: left pending, it would keep the bench process alive after its result.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise((r) => (bound = setTimeout(r, 30_000)))]);
  clearTimeout(bound);
  await consumer.close();
  return {
    produced,
    received,
    endToEndLatencyMs: percentiles(latencies),
    latencyUnit: 'record timestamp (set at send) to consumption, ms resolution',
  };
}

/** Which broker a failover run kills: a partition leader that is not the controller, or one that is. */
export type FailoverVictim = 'leader' | 'controller';

/**
 * Produces with acks=all at a steady rate to one partition, SIGKILLs its leader, and measures how
 * long production stalls: the longest gap between acknowledgements and the time from the kill
 * to the first acknowledgement after it. The partition is one whose leader is the active
 * controller (`victim` 'controller': a new controller must take over first) or is not.
 */
export async function failoverWorkload(
  client: Millrace,
  topic: string,
  cluster: BenchCluster,
  o: { durationMs: number; killAtMs: number; ratePerSec: number; victim: FailoverVictim },
): Promise<Record<string, unknown>> {
  const producer = client.producer({ acks: 'all', lingerMs: 0, deliveryTimeoutMs: 60_000 });
  const value = Buffer.alloc(100, 0x61);
  const ackTimes: number[] = [];
  const failures: string[] = [];
  const pending = new Set<Promise<unknown>>();
  const { controllerId } = await client.admin().describeCluster();
  const partitions = (await client.admin().describeTopics([topic]))[0]!.partitions;
  const target = partitions.find((p) => (p.leader === controllerId) === (o.victim === 'controller'));
  if (!target) throw new Error(`no partition of ${topic} has a leader that suits a '${o.victim}' failover`);
  const started = Date.now();
  let killedAt = 0;
  const killedLeader = target.leader;
  const perTick = Math.max(1, Math.round(o.ratePerSec / 100));
  while (Date.now() - started < o.durationMs) {
    if (!killedAt && Date.now() - started >= o.killAtMs) {
      cluster.kill(killedLeader);
      killedAt = Date.now();
    }
    const messages = Array.from({ length: perTick }, () => ({ value, partition: target.partition }));
    const p = producer.send({ topic, messages }).then(
      () => ackTimes.push(Date.now()),
      (err: Error) => failures.push(err.message),
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
  ackTimes.sort((a, b) => a - b);
  let maxGap = 0;
  for (let i = 1; i < ackTimes.length; i++) maxGap = Math.max(maxGap, ackTimes[i]! - ackTimes[i - 1]!);
  const firstAfterKill = ackTimes.find((t) => t > killedAt);
  const newLeader = (await client.admin().describeTopics([topic]))[0]!.partitions[target.partition]!.leader;
  return {
    victim: o.victim,
    killedLeader,
    newLeader,
    acknowledgedSends: ackTimes.length,
    failedSends: failures.length,
    failures: failures.slice(0, 3),
    unavailabilityMs: maxGap,
    killToFirstAckMs: firstAfterKill ? firstAfterKill - killedAt : null,
  };
}

/** The cluster a bench runs on (started here with `brokers` processes, or an existing one) and a client of it. */
export async function benchTarget(
  target: { brokers: number } | { nats: string; cluster: string },
  clientId: string,
): Promise<{ own: BenchCluster | null; client: Millrace }> {
  const own = 'brokers' in target ? await startBenchCluster(target.brokers) : null;
  const client = new Millrace({
    servers: own?.nats ?? (target as { nats: string }).nats,
    cluster: own?.cluster ?? (target as { cluster: string }).cluster,
    clientId,
  });
  return { own, client };
}

/**
 * Runs a produce, consume or e2e workload on a new topic of a cluster: one this module starts
 * with `brokers` broker processes, or an existing one.
 */
export async function runWorkload(
  kind: 'produce' | 'consume' | 'e2e',
  o: WorkloadOptions,
  target: { brokers: number } | { nats: string; cluster: string },
): Promise<Record<string, unknown>> {
  const { own, client } = await benchTarget(target, `millrace-bench-${kind}`);
  try {
    const topic = `bench-${kind}-${Date.now()}`;
    await client
      .admin()
      .createTopics({ topics: [{ topic, numPartitions: o.partitions, replicationFactor: o.replicationFactor }] });
    if (kind === 'consume') await produceWorkload(client, topic, { ...o, acks: 1, throughput: 0 });
    const observer = await observeLoad(own?.processes() ?? []);
    let result: Record<string, unknown>;
    if (kind === 'produce') result = await produceWorkload(client, topic, o);
    else if (kind === 'consume') result = await consumeWorkload(client, topic, o.partitions, o.records, o.recordSize);
    else result = await e2eWorkload(client, topic, o);
    const load = await observer.stop();
    return { bench: kind, ...o, brokers: 'brokers' in target ? target.brokers : 'external', ...result, load };
  } finally {
    await client.close();
    await own?.stop();
  }
}

/** acks=all production across a SIGKILL of the partition leader, on three broker processes of its own. */
export async function failoverBench(o: {
  durationMs: number;
  killAtMs: number;
  rate: number;
  victim: FailoverVictim;
}): Promise<Record<string, unknown>> {
  const own = await startBenchCluster(3);
  const client = new Millrace({
    servers: own.nats,
    cluster: own.cluster,
    clientId: 'millrace-bench-failover',
    requestTimeoutMs: 5_000,
  });
  try {
    const topic = `bench-failover-${Date.now()}`;
    // Six partitions: their leaders spread over the three brokers, one of them the controller.
    await client.admin().createTopics({
      topics: [{ topic, numPartitions: 6, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }],
    });
    const observer = await observeLoad(own.processes());
    const result = await failoverWorkload(client, topic, own, {
      durationMs: o.durationMs,
      killAtMs: o.killAtMs,
      ratePerSec: o.rate,
      victim: o.victim,
    });
    result.load = await observer.stop();
    return { bench: 'failover', brokers: 3, replicationFactor: 3, minInsyncReplicas: 2, acks: 'all', ...o, ...result };
  } finally {
    await client.close();
    await own.stop();
  }
}
