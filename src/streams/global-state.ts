/**
 * The instance's global stores (Kafka's GlobalStreamThread): each is read whole from its topic,
 * every partition from the start, before the stream thread starts, then kept up to date as the
 * topic grows. The topic is the store's changelog: nothing is written back.
 */
import type { Consumer, IsolationLevel, Millrace } from '../client/index.js';
import type { StateStore } from './stores.js';
import type { GlobalStoreSpec } from './topology.js';

const POLL_MS = 20;

export class GlobalState {
  readonly stores = new Map<string, StateStore>();
  private consumer: Consumer | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly client: Millrace,
    private readonly specs: GlobalStoreSpec[],
    private readonly isolationLevel: IsolationLevel,
    private readonly stateDir: string,
  ) {}

  /** Reads every global topic to its high watermark (as of now), then goes on in the background. */
  async start(onError: (err: Error) => void): Promise<void> {
    if (this.specs.length === 0) return;
    const byTopic = new Map<string, StateStore>();
    for (const spec of this.specs) {
      const store = spec.create({ changelog: null, stateDir: this.stateDir });
      this.stores.set(spec.name, store);
      byTopic.set(spec.topic, store);
    }
    const admin = this.client.admin();
    const ends = new Map<string, number>();
    for (const topic of byTopic.keys())
      for (const o of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}\u0000${o.partition}`, Number(o.offset));
    const consumer = this.client.consumer({ isolationLevel: this.isolationLevel, autoOffsetReset: 'earliest' });
    this.consumer = consumer;
    consumer.assign(
      [...ends.keys()].map((k) => {
        const [topic, partition] = k.split('\u0000') as [string, string];
        return { topic, partition: Number(partition), offset: 'earliest' as const };
      }),
    );
    this.running = consumer.run({
      eachBatch: ({ batch }) => {
        const store = byTopic.get(batch.topic)!;
        for (const r of batch.records()) {
          const key = r.key();
          if (key === null) continue;
          const value = r.value();
          store.restore(Buffer.from(key), value === null ? null : Buffer.from(value));
        }
      },
    });
    this.running.catch((err: unknown) => onError(err instanceof Error ? err : new Error(String(err))));
    const caughtUp = (): boolean =>
      [...ends].every(([k, end]) => {
        const [topic, partition] = k.split('\u0000') as [string, string];
        const position = consumer.position({ topic, partition: Number(partition) });
        return position !== null && Number(position) >= end;
      });
    while (!caughtUp()) await Promise.race([this.running, new Promise((r) => setTimeout(r, POLL_MS))]);
  }

  async stop(): Promise<void> {
    await this.consumer?.close().catch(() => undefined);
    await this.running?.catch(() => undefined);
    for (const s of this.stores.values()) await s.close();
  }
}
