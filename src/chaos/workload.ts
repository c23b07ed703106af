/**
 * The chaos workload, recording a history for the checker: idempotent acks=all producers
 * writing unique numbered values (producer p writes p * 1e9 + i to partition i mod N, so each
 * producer's values rise within every partition), consumers in one group committing offsets, an
 * observer of the group's committed offsets, and after the run plain readers of whole partitions.
 * Producers and members use either door (clients.ts); the observer and the readers use the SDK.
 * Workload clients talk to the NATS nodes directly: the faults are the brokers' and the nodes'.
 */
import { Millrace } from '../client/index.js';
import type { FinalRead, History, PollRecord, SendRecord } from './checker.js';
import type { ChaosClients, ChaosProducer } from './clients.js';

export interface WorkloadOptions {
  servers: string[];
  cluster: string;
  topic: string;
  partitions: number;
  producers: number;
  /** Records per second per producer. */
  rate: number;
  consumers: number;
  group: string;
}

const PRODUCER_STRIDE = 1_000_000_000;
const READ_TIMEOUT_MS = 60_000;
const TICK_MS = 100;
/** Sends a producer may have waiting; beyond it, it skips ticks (the cluster is unavailable). */
const MAX_OUTSTANDING = 20;

export class Workload {
  readonly history: History;
  private readonly clients: Millrace[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly outstanding = new Set<Promise<unknown>>();
  private readonly producers: ChaosProducer[] = [];
  private readonly consumers: Array<{ close(): Promise<void> }> = [];
  private producing = false;
  private consuming = false;

  constructor(
    private readonly o: WorkloadOptions,
    /** The door producers and group members use. */
    private readonly door: ChaosClients,
  ) {
    this.history = { topic: o.topic, sends: [], polls: [], rebalances: [], commits: [], finalReads: [] };
  }

  private client(clientId: string): Millrace {
    const c = new Millrace({ servers: this.o.servers, cluster: this.o.cluster, clientId, requestTimeoutMs: 5_000 });
    this.clients.push(c);
    return c;
  }

  start(): void {
    this.producing = true;
    this.consuming = true;
    for (let p = 0; p < this.o.producers; p++) this.startProducer(p);
    for (let c = 0; c < this.o.consumers; c++) this.startConsumer(`consumer-${c}`);
    const observer = this.client('chaos-commit-observer');
    const observe = setInterval(() => {
      void observer
        .admin()
        .fetchOffsets({ groupId: this.o.group, topics: [this.o.topic] })
        .then((offsets) => {
          const time = Date.now();
          for (const o of offsets)
            if (o.offset >= 0n)
              this.history.commits.push({
                group: this.o.group,
                partition: o.partition,
                offset: Number(o.offset),
                time,
              });
        })
        .catch(() => undefined);
    }, 1_000);
    this.timers.push(observe);
  }

  private startProducer(p: number): void {
    const name = `producer-${p}`;
    const producer = this.door.producer(name, this.o.topic);
    this.producers.push(producer);
    const perTick = Math.max(1, Math.round((this.o.rate * TICK_MS) / 1000));
    let next = 0;
    const tick = setInterval(() => {
      if (!this.producing || this.outstanding.size >= MAX_OUTSTANDING * this.o.producers) return;
      const values = Array.from({ length: perTick }, () => p * PRODUCER_STRIDE + next++);
      const time = Date.now();
      const send = producer
        .send(values.map((v) => ({ value: String(v), partition: v % this.o.partitions })))
        .then(
          (res) =>
            res.forEach((r, i) =>
              this.record({
                producer: name,
                value: values[i]!,
                partition: r.partition,
                status: 'ok',
                offset: r.offset,
                time,
                completedAt: Date.now(),
              }),
            ),
          (err: unknown) => {
            const status = this.door.definitelyFailed(err) ? 'fail' : 'unknown';
            const completedAt = Date.now();
            for (const v of values)
              this.record({ producer: name, value: v, partition: v % this.o.partitions, status, time, completedAt });
          },
        )
        .finally(() => this.outstanding.delete(send));
      this.outstanding.add(send);
    }, TICK_MS);
    this.timers.push(tick);
  }

  private record(s: SendRecord): void {
    this.history.sends.push(s);
  }

  private startConsumer(name: string): void {
    const rebalanced = (): void => void this.history.rebalances.push({ consumer: name, time: Date.now() });
    const member = this.door.member(name, this.o.group, this.o.topic, {
      onMessage: (partition, offset, value) => {
        const poll: PollRecord = { consumer: name, partition, offset, value: Number(value), time: Date.now() };
        this.history.polls.push(poll);
      },
      onRebalance: rebalanced,
      // A member that failed (e.g. fenced) is replaced by a new one, as an application would.
      onFailed: () => {
        rebalanced();
        if (this.consuming) setTimeout(() => this.startConsumer(`${name}+`), 1_000).unref();
      },
    });
    this.consumers.push(member);
  }

  /** Stops writing and waits for the sends in flight to settle. */
  async stopProducers(): Promise<void> {
    this.producing = false;
    await Promise.allSettled([...this.outstanding]);
    await Promise.allSettled(this.producers.map((p) => p.close()));
  }

  /** Waits (bounded) until the group has polled every acknowledged value, then stops the consumers. */
  async drainConsumers(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const acked = this.history.sends.filter((s) => s.status === 'ok').map((s) => s.value);
    for (;;) {
      const polled = new Set(this.history.polls.map((p) => p.value));
      if (acked.every((v) => polled.has(v)) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    this.consuming = false;
    await Promise.allSettled(this.consumers.map((c) => c.close()));
  }

  /** Reads every partition whole, from the earliest offset to the high watermark, with `readers` separate clients. */
  async finalReads(readers = 2): Promise<void> {
    for (let r = 0; r < readers; r++) {
      const client = this.client(`chaos-reader-${r}`);
      const ends = await client.admin().fetchTopicOffsets(this.o.topic);
      const read: FinalRead[] = ends.map((e) => ({ partition: e.partition, records: [] }));
      const byPartition = new Map(read.map((r) => [r.partition, r]));
      const remaining = new Set(ends.filter((e) => e.offset > 0n).map((e) => e.partition));
      if (remaining.size > 0) {
        const consumer = client.consumer();
        consumer.assign(
          [...remaining].map((partition) => ({ topic: this.o.topic, partition, offset: 'earliest' as const })),
        );
        const endOf = new Map(ends.map((e) => [e.partition, e.offset]));
        // Bounded: a read that cannot finish leaves its partitions short, which the checker reports.
        const timer = setTimeout(() => void consumer.close(), READ_TIMEOUT_MS);
        for await (const m of consumer) {
          byPartition.get(m.partition)!.records.push({ offset: Number(m.offset), value: Number(m.value!.toString()) });
          if (m.offset >= endOf.get(m.partition)! - 1n) remaining.delete(m.partition);
          if (remaining.size === 0) break;
        }
        clearTimeout(timer);
        await consumer.close();
      }
      this.history.finalReads.push(read);
    }
  }

  async stop(): Promise<void> {
    this.producing = false;
    this.consuming = false;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([this.door.close(), ...this.clients.map((c) => c.close())]);
  }
}
