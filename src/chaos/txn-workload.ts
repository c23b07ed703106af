/**
 * The transactional part of the chaos workload (SDK, NATS door), recording a history for
 * txn-checker.ts:
 *
 * - writers: transactional producers, each transaction writing one numbered value to each of
 *   several partitions of `<topic>-txn`; every `abortEvery`-th transaction is aborted on purpose.
 *   A writer whose transaction failed aborts it if it can, and starts again as a new producer of
 *   the same transactional id (fencing the old one), as an application would;
 * - a read_committed reader of `<topic>-txn` during the run;
 * - a copy pipeline: consumes `<topic>` (the plain workload's records) and writes each record to
 *   `<topic>-copy`, the consumed offsets committed in the same transaction. After any failure it
 *   starts again from the group's committed offsets, with a new producer of its transactional id
 *   (whose initialisation waits for the previous transaction to complete);
 * - after the run: a sentinel transaction to every partition, then read_committed reads up to
 *   the sentinels (everything before them is decided), of the writers' topic and of the copy.
 */
import { Millrace, type Consumer, type ConsumerMessage, type Producer } from '../client/index.js';
import type { PartitionValues, TxnHistory, TxnRecord } from './txn-checker.js';

export interface TxnWorkloadOptions {
  servers: string[];
  cluster: string;
  /** The plain workload's topic: the copy pipeline's input. */
  topic: string;
  partitions: number;
  writers: number;
  partitionsPerTransaction: number;
  abortEvery: number;
  copy: boolean;
}

export const txnTopic = (topic: string): string => `${topic}-txn`;
export const copyTopic = (topic: string): string => `${topic}-copy`;

const WRITER_STRIDE = 1_000_000_000;
const WRITER_BASE = 100 * WRITER_STRIDE;
const SENTINEL = -1;
const COPY_GROUP = 'chaos-copier';
const RESTART_BACKOFF_MS = 300;
const READ_TIMEOUT_MS = 60_000;
const TRANSACTION_TIMEOUT_MS = 10_000;
/** Producers give up on a record after this: a writer stuck in a long outage starts again sooner. */
const DELIVERY_TIMEOUT_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class TxnWorkload {
  readonly history: TxnHistory = { txns: [], polls: [], finalRead: [], copy: null };
  private readonly clients: Millrace[] = [];
  private running = false;
  /** Resolves when the run stops: a copy waiting for input stops waiting. */
  private stopped!: Promise<null>;
  private signalStop: () => void = () => undefined;
  private readonly loops: Array<Promise<void>> = [];
  private reader: Consumer | null = null;
  /** The copy's committed offsets when it stopped, by input partition. */
  private copiedTo = new Map<number, number>();

  constructor(private readonly o: TxnWorkloadOptions) {}

  private client(clientId: string): Millrace {
    const c = new Millrace({ servers: this.o.servers, cluster: this.o.cluster, clientId, requestTimeoutMs: 5_000 });
    this.clients.push(c);
    return c;
  }

  start(): void {
    this.running = true;
    this.stopped = new Promise((resolve) => (this.signalStop = () => resolve(null)));
    for (let w = 0; w < this.o.writers; w++) this.loops.push(this.writer(w));
    if (this.o.copy) this.loops.push(this.copier());
    this.startReader();
  }

  private async writer(w: number): Promise<void> {
    const client = this.client(`chaos-txn-writer-${w}`);
    const transactionalId = `chaos-writer-${w}`;
    let producer: Producer = client.producer({
      transactionalId,
      transactionTimeoutMs: TRANSACTION_TIMEOUT_MS,
      deliveryTimeoutMs: DELIVERY_TIMEOUT_MS,
    });
    let next = 0;
    for (let n = 1; this.running; n++) {
      const partitions = choosePartitions(this.o.partitions, this.o.partitionsPerTransaction, n + w);
      const values = partitions.map(() => WRITER_BASE + w * WRITER_STRIDE + next++);
      const record: TxnRecord = { writer: transactionalId, values, partitions, outcome: 'unknown', commitAt: null };
      this.history.txns.push(record);
      let phase: 'before-end' | 'ending' = 'before-end';
      try {
        const txn = await producer.transaction();
        await txn.send({
          topic: txnTopic(this.o.topic),
          messages: values.map((v, i) => ({ value: String(v), partition: partitions[i]! })),
        });
        phase = 'ending';
        if (n % this.o.abortEvery === 0) {
          await txn.abort();
          record.outcome = 'aborted';
        } else {
          record.commitAt = Date.now();
          await txn.commit();
          record.outcome = 'committed';
        }
      } catch {
        // A transaction commits only through its commit: one that failed before it never will
        // (the next producer of the id fences and aborts it). After it, the outcome is unknown.
        if (phase === 'before-end') record.outcome = 'aborted';
        await producer.close().catch(() => undefined);
        producer = client.producer({
          transactionalId,
          transactionTimeoutMs: TRANSACTION_TIMEOUT_MS,
          deliveryTimeoutMs: DELIVERY_TIMEOUT_MS,
        });
        await sleep(RESTART_BACKOFF_MS);
      }
    }
    await producer.close().catch(() => undefined);
  }

  private startReader(): void {
    const client = this.client('chaos-txn-reader');
    const reader = client.consumer({ isolationLevel: 'read_committed', maxWaitMs: 200 });
    this.reader = reader;
    reader.assign(
      Array.from({ length: this.o.partitions }, (_, partition) => ({
        topic: txnTopic(this.o.topic),
        partition,
        offset: 'earliest' as const,
      })),
    );
    this.loops.push(
      (async () => {
        try {
          for await (const m of reader) {
            const value = Number(m.value!.toString());
            if (value !== SENTINEL) this.history.polls.push({ value, partition: m.partition, time: Date.now() });
            if (!this.running) break;
          }
        } catch {
          // Closed at the end of the run.
        }
      })(),
    );
  }

  /** Copies `<topic>` to `<topic>-copy` exactly once, restarting from the committed offsets after any failure. */
  private async copier(): Promise<void> {
    const client = this.client('chaos-copier');
    const admin = client.admin();
    const input = this.o.topic;
    for (let restart = 0; this.running; restart++) {
      const producer = client.producer({
        transactionalId: 'chaos-copier',
        transactionTimeoutMs: TRANSACTION_TIMEOUT_MS,
      });
      let consumer: Consumer | null = null;
      try {
        // A new producer of the id: its initialisation waits for the previous transaction to end,
        // so the committed offsets read next include it if it committed.
        await (await producer.transaction()).abort();
        const committed = await admin.fetchOffsets({ groupId: COPY_GROUP, topics: [input] });
        consumer = client.consumer({ isolationLevel: 'read_committed', maxWaitMs: 200 });
        consumer.assign(
          committed.map((c) => ({
            topic: input,
            partition: c.partition,
            offset: c.offset >= 0n ? c.offset : ('earliest' as const),
          })),
        );
        for (const c of committed) this.copiedTo.set(c.partition, Math.max(0, Number(c.offset)));
        await this.copyFrom(consumer, producer);
      } catch {
        await sleep(RESTART_BACKOFF_MS);
      } finally {
        await consumer?.close().catch(() => undefined);
        await producer.close().catch(() => undefined);
      }
    }
  }

  /** One transaction per batch of consumed records (per partition), until stopped or a failure. */
  private async copyFrom(consumer: Consumer, producer: Producer): Promise<void> {
    const iterator = consumer[Symbol.asyncIterator]();
    // A next() that lost a race stays pending, to be taken by the next wait: its record is not dropped.
    let pending: Promise<IteratorResult<ConsumerMessage>> | null = null;
    const next = (): Promise<IteratorResult<ConsumerMessage>> => (pending ??= iterator.next());
    while (this.running) {
      const first = await Promise.race([next(), this.stopped]);
      if (first === null) return;
      pending = null;
      if (first.done) return;
      const batch = [first.value];
      // What else is already fetched goes in the same transaction (bounded).
      while (batch.length < 200) {
        const more = await Promise.race([next(), sleep(5).then(() => null)]);
        if (more === null) break;
        pending = null;
        if (more.done) break;
        batch.push(more.value);
      }
      const txn = await producer.transaction();
      try {
        await txn.send({
          topic: copyTopic(this.o.topic),
          messages: batch.map((m) => ({ value: m.value, partition: m.partition })),
        });
        const ends = new Map<number, number>();
        for (const m of batch) ends.set(m.partition, Number(m.offset) + 1);
        await txn.sendOffsets({
          consumerGroupId: COPY_GROUP,
          topics: [
            { topic: this.o.topic, partitions: [...ends].map(([partition, offset]) => ({ partition, offset })) },
          ],
        });
        await txn.commit();
        for (const [p, o] of ends) this.copiedTo.set(p, o);
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
    }
  }

  /** Stops the writers and the copy (waiting for their loops), then takes the final reads. */
  async finish(inputEnds: Map<number, number>, timeoutMs: number): Promise<void> {
    // The copy first catches up with the input (bounded), then everything stops.
    const deadline = Date.now() + timeoutMs;
    while (this.o.copy && Date.now() < deadline) {
      if ([...inputEnds].every(([p, end]) => (this.copiedTo.get(p) ?? 0) >= end)) break;
      await sleep(250);
    }
    this.running = false;
    this.signalStop();
    await this.reader?.close().catch(() => undefined);
    await Promise.allSettled(this.loops);
    const client = this.client('chaos-txn-final');
    await writeSentinels(client, txnTopic(this.o.topic), this.o.partitions);
    this.history.finalRead = await readToSentinels(client, txnTopic(this.o.topic), this.o.partitions);
    if (this.o.copy) {
      await writeSentinels(client, copyTopic(this.o.topic), this.o.partitions);
      const committed = await client.admin().fetchOffsets({ groupId: COPY_GROUP, topics: [this.o.topic] });
      this.copiedTo = new Map(committed.map((c) => [c.partition, Math.max(0, Number(c.offset))]));
      this.history.copy = {
        input: [],
        output: await readToSentinels(client, copyTopic(this.o.topic), this.o.partitions),
      };
    }
  }

  /** The copy's input: the plain workload's final read, below the copy's committed offsets. */
  setCopyInput(read: Array<{ partition: number; records: Array<{ offset: number; value: number }> }>): void {
    if (!this.history.copy) return;
    this.history.copy.input = read.map((p) => ({
      partition: p.partition,
      values: p.records.filter((r) => r.offset < (this.copiedTo.get(p.partition) ?? 0)).map((r) => r.value),
    }));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.signalStop();
    await Promise.allSettled(this.clients.map((c) => c.close()));
  }
}

/** `count` distinct partitions, varying with `n`. */
function choosePartitions(partitions: number, count: number, n: number): number[] {
  const k = Math.min(count, partitions);
  return Array.from({ length: k }, (_, i) => (n * 7 + i * Math.max(1, Math.floor(partitions / k))) % partitions).filter(
    (p, i, all) => all.indexOf(p) === i,
  );
}

/** One committed transaction writing the sentinel to every partition: read_committed readers stop there. */
async function writeSentinels(client: Millrace, topic: string, partitions: number): Promise<void> {
  const producer = client.producer({ transactionalId: `chaos-sentinel-${topic}` });
  try {
    const txn = await producer.transaction();
    await txn.send({
      topic,
      messages: Array.from({ length: partitions }, (_, partition) => ({ value: String(SENTINEL), partition })),
    });
    await txn.commit();
  } finally {
    await producer.close();
  }
}

/** Every record visible under read_committed before each partition's sentinel (bounded in time). */
async function readToSentinels(client: Millrace, topic: string, partitions: number): Promise<PartitionValues[]> {
  const read: PartitionValues[] = Array.from({ length: partitions }, (_, partition) => ({ partition, values: [] }));
  const consumer = client.consumer({ isolationLevel: 'read_committed', maxWaitMs: 200 });
  consumer.assign(read.map((r) => ({ topic, partition: r.partition, offset: 'earliest' as const })));
  const open = new Set(read.map((r) => r.partition));
  // Bounded: a read that cannot finish leaves its partitions short, which the checker reports.
  const timer = setTimeout(() => void consumer.close(), READ_TIMEOUT_MS);
  try {
    for await (const m of consumer) {
      if (!open.has(m.partition)) continue;
      const value = Number(m.value!.toString());
      if (value === SENTINEL) open.delete(m.partition);
      else read[m.partition]!.values.push(value);
      if (open.size === 0) break;
    }
  } finally {
    clearTimeout(timer);
    await consumer.close();
  }
  return read;
}
