/**
 * `millrace bench scale`: how the control plane copes with many partitions. It starts a cluster
 * as the other benchmarks do, creates topics until it has the partitions asked for, and measures
 * the time to full ISR on every broker, fencing events while creating and while idle, idle CPU
 * and RSS per broker, how fast a SIGKILLed broker's leaderships move, and how fast it rejoins
 * every ISR once restarted.
 */
import * as fs from 'node:fs';
import { Millrace, type TopicDescription } from '../client/index.js';
import { startBenchCluster, type BenchCluster } from './workloads.js';

export interface ScaleOptions {
  brokers: number;
  partitions: number;
  replicationFactor: number;
  /** Partitions per topic (Kafka clusters hold many topics of tens to hundreds). */
  topicPartitions: number;
  /** How long the cluster is watched idle after creation (fencing events, CPU). */
  idleMs: number;
  /** Bound on each wait; a figure not reached within it is reported as null. */
  timeoutMs: number;
  /** Where to append the brokers' log lines (for finding what bounds a figure). */
  logFile?: string;
}

const FENCING =
  /"msg":"(broker missed its session timeout: fencing it|broker has no subscription on NATS: fencing it now)"/;
const METRICS = /"metrics":"(http[^"]+)"/;
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it holds; resolves with the milliseconds taken, or null at the bound. */
async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 500): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - started;
    await sleep(everyMs);
  }
  return null;
}

/** The samples of one metric (every label set) in a Prometheus text page. */
function samples(page: string, name: string): number[] {
  const values: number[] = [];
  for (const line of page.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    values.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return values;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

export async function scaleBench(o: ScaleOptions): Promise<Record<string, unknown>> {
  let phase: 'start' | 'creation' | 'idle' | 'failover' = 'start';
  const fencing = { creation: 0, idle: 0, failover: 0, start: 0 };
  const metricsUrl = new Map<number, string>();
  const logFd = o.logFile ? fs.openSync(o.logFile, 'a') : null;
  const cluster: BenchCluster = await startBenchCluster(o.brokers, {
    onLog: (id, line) => {
      if (logFd !== null) fs.writeSync(logFd, `${id} ${line}\n`);
      if (FENCING.test(line)) fencing[phase]++;
      const m = METRICS.exec(line);
      if (m) metricsUrl.set(id, m[1]!);
    },
  });
  // A short request timeout: a request in flight to the broker the bench kills is lost, and must not
  // hold up the measurement of how fast its leaderships move.
  const client = new Millrace({
    servers: cluster.nats,
    cluster: cluster.cluster,
    clientId: 'millrace-bench-scale',
    requestTimeoutMs: 1_000,
  });
  const ids = Array.from({ length: o.brokers }, (_, i) => i + 1);
  const topics = Array.from({ length: Math.ceil(o.partitions / o.topicPartitions) }, (_, i) => `scale-${i}`);
  const admin = client.admin();
  const describe = (): Promise<TopicDescription[]> => admin.describeTopics(topics);
  /** Every broker hosts its replicas, followers have fetched, no ISR is short. */
  const fullIsr = async (): Promise<boolean> => {
    const described = await describe();
    const all = described.flatMap((t) => t.partitions);
    if (all.length !== o.partitions || all.some((p) => p.leader < 0 || p.isr.length !== p.replicas.length))
      return false;
    for (const id of ids) {
      const page = await (await fetch(metricsUrl.get(id)!)).text();
      const hosted = all.filter((p) => p.replicas.includes(id)).length;
      const leading = all.filter((p) => p.leader === id).length;
      if (sum(samples(page, 'millrace_partitions')) !== hosted) return false;
      if (sum(samples(page, 'millrace_leader_partitions')) !== leading) return false;
      // A follower's lag is -1 until its first fetch from the leader.
      if (samples(page, 'millrace_follower_lag_offsets').filter((v) => v >= 0).length !== hosted - leading)
        return false;
      if (sum(samples(page, 'millrace_under_replicated_partitions')) !== 0) return false;
    }
    return true;
  };
  try {
    phase = 'creation';
    const started = Date.now();
    for (let i = 0; i < topics.length; i += 10) {
      await admin.createTopics({
        topics: topics.slice(i, i + 10).map((topic, j) => ({
          topic,
          numPartitions: Math.min(o.topicPartitions, o.partitions - (i + j) * o.topicPartitions),
          replicationFactor: o.replicationFactor,
        })),
      });
    }
    const createCallMs = Date.now() - started;
    const waited = await until(fullIsr, o.timeoutMs, 1000);
    const fullIsrMs = waited === null ? null : Date.now() - started;

    phase = 'idle';
    await sleep(Math.min(10_000, o.idleMs / 4));
    const cpuBefore = new Map(ids.map((id) => [id, cpuSeconds(cluster.pid(id)!)]));
    const idleStarted = Date.now();
    await sleep(o.idleMs - Math.min(10_000, o.idleMs / 4));
    const idleSeconds = (Date.now() - idleStarted) / 1000;
    const perBroker = ids.map((id) => {
      const pid = cluster.pid(id)!;
      return {
        broker: id,
        idleCpuPercent: +((100 * (cpuSeconds(pid) - cpuBefore.get(id)!)) / idleSeconds).toFixed(2),
        rssMB: +(rssBytes(pid) / 1e6).toFixed(1),
      };
    });

    phase = 'failover';
    const described = await describe();
    const { controllerId } = await admin.describeCluster();
    const victim = ids.find((id) => id !== controllerId) ?? ids[0]!;
    const led = described.flatMap((t) => t.partitions).filter((p) => p.leader === victim).length;
    cluster.kill(victim);
    const killedAt = Date.now();
    const moved = await until(
      async () => (await describe()).every((t) => t.partitions.every((p) => p.leader !== victim)),
      o.timeoutMs,
      50,
    );
    const leadershipsMovedMs = moved === null ? null : Date.now() - killedAt;
    const restartedAt = Date.now();
    await cluster.restart(victim);
    const processStartMs = Date.now() - restartedAt;
    const rejoined = await until(
      async () =>
        (await describe()).every((t) =>
          t.partitions.every((p) => !p.replicas.includes(victim) || p.isr.includes(victim)),
        ),
      o.timeoutMs,
      200,
    );
    return {
      bench: 'scale',
      ...o,
      topics: topics.length,
      replicas: o.partitions * o.replicationFactor,
      createCallMs,
      fullIsrMs,
      fencingEvents: { duringCreation: fencing.creation, whileIdle: fencing.idle, afterKill: fencing.failover },
      perBroker,
      killed: { broker: victim, leaderships: led, leadershipsMovedMs },
      restart: { processStartMs, backInEveryIsrMs: rejoined === null ? null : Date.now() - restartedAt },
    };
  } finally {
    await client.close();
    await cluster.stop();
    if (logFd !== null) fs.closeSync(logFd);
  }
}
