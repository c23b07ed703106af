/**
 * The registry's shell onto its log: the compacted `_schemas` topic (one partition, replicated
 * up to three ways), read from the start into the core's state and kept up to date, and written
 * with an idempotent acks=all producer. Writes of one process are serialized; writes of several
 * processes race optimistically (core.ts) and the loser tries again.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Millrace, Producer } from '../client/index.js';
import { RegistryError, RegistryState, type LogRecord } from './core.js';

export const SCHEMAS_TOPIC = '_schemas';
/** How many times a registration that lost a race to another process is decided again. */
const MAX_ATTEMPTS = 20;

export class SchemaLog {
  readonly state = new RegistryState();
  private readonly admin: Admin;
  private readonly producer: Producer;
  private consumer: Consumer | null = null;
  private running: Promise<void> | null = null;
  private waiters: Array<{ offset: number; resolve: () => void }> = [];
  private writes: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;

  constructor(
    private readonly client: Millrace,
    private readonly topic = SCHEMAS_TOPIC,
  ) {
    this.admin = client.admin();
    this.producer = client.producer({ acks: 'all', lingerMs: 0 });
  }

  /** Creates the topic if needed and reads it to its end. */
  async start(): Promise<void> {
    const brokers = (await this.admin.describeCluster()).brokers.filter((b) => !b.fenced).length;
    await this.admin.createTopics({
      topics: [
        {
          topic: this.topic,
          numPartitions: 1,
          replicationFactor: Math.max(1, Math.min(3, brokers)),
          configs: { 'cleanup.policy': 'compact' },
        },
      ],
    });
    const consumer = this.client.consumer({
      autoOffsetReset: 'earliest',
      retry: { retries: 0, restartOnFailure: () => false },
    });
    this.consumer = consumer;
    consumer.assign([{ topic: this.topic, partition: 0, offset: 'earliest' }]);
    this.running = consumer
      .run({
        eachBatch: ({ batch }) => {
          for (const m of batch.messages)
            this.state.apply(
              { key: m.key?.toString('utf8') ?? '', value: m.value?.toString('utf8') ?? null },
              Number(m.offset),
            );
          this.wake();
        },
      })
      .catch((err: unknown) => {
        this.failure = err as Error;
        this.wake();
      });
    await this.catchUp();
  }

  private wake(): void {
    const applied = this.state.applied;
    const ready = this.waiters.filter((w) => w.offset <= applied || this.failure);
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  /** Resolves once the state has applied the log below `offset`. */
  private async appliedTo(offset: number, timeoutMs = 30_000): Promise<void> {
    if (this.state.applied >= offset) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.waiters.push({ offset, resolve })),
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () => reject(new RegistryError(500, 50002, `Timed out reading ${this.topic} to offset ${offset}.`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (this.failure) throw new RegistryError(500, 50001, `Cannot read ${this.topic}: ${this.failure.message}`);
  }

  /** Reads the log to its current end; returns that end. */
  async catchUp(): Promise<number> {
    const [end] = await this.admin.fetchTopicOffsets(this.topic);
    const offset = Number(end!.offset);
    await this.appliedTo(offset);
    return offset;
  }

  /** Appends records and waits until this process has applied them. */
  async append(records: LogRecord[]): Promise<number[]> {
    if (records.length === 0) return [];
    const results = await this.producer.send({
      topic: this.topic,
      messages: records.map((r) => ({ key: r.key, value: r.value })),
    });
    const offsets = results.map((r) => Number(r.offset));
    await this.appliedTo(Math.max(...offsets) + 1);
    return offsets;
  }

  /** Runs a read-decide-append step after this process's earlier writes. */
  serialized<T>(step: () => Promise<T>): Promise<T> {
    const run = this.writes.then(step);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /** Registers a schema: decided on the log's end, retried when another process wrote first. */
  register(subject: string, decide: (basedOn: number, proposal: string) => ReturnType<RegistryState['register']>) {
    return this.serialized(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const end = await this.catchUp();
        const proposal = randomUUID();
        const decision = decide(end, proposal);
        if ('existing' in decision) return { id: decision.existing.id, version: decision.existing.version };
        const [offset] = await this.append([decision.record]);
        if (offset === end) return { id: decision.id, version: decision.version };
      }
      throw new RegistryError(500, 50001, `Could not register under ${subject}: other writers kept winning.`);
    });
  }

  async close(): Promise<void> {
    await this.consumer?.close();
    await this.running;
    await this.producer.close();
  }
}
