/**
 * Standby tasks, as Kafka Streams' StandbyTask: a copy of a task's state on a member that does
 * not run it, kept by following the task's changelog partitions (read_committed under
 * exactly_once_v2, so it holds committed writes only). When the task's active moves to this
 * member its stores are handed over (Kafka's task recycling) and the new active task restores
 * only what the standby had not read yet. Persistent stores are flushed and checkpointed every
 * `checkpointIntervalMs` and on close, so a restarted instance resumes from there too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Consumer, IsolationLevel, Millrace } from '../client/index.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { StateStore, StoreContext } from './stores.js';
import type { Topology } from './topology.js';

export interface StandbySettings {
  stateDir: string;
  changelogTopic: (store: string) => string;
  isolationLevel: IsolationLevel;
  checkpointIntervalMs: number;
  onError: (err: Error) => void;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

/** A standby's stores, with the contexts they write through (set to log once they become active). */
export interface HandedOverStores {
  stores: Map<string, { store: StateStore; context: StoreContext }>;
  /** The next changelog offset each store has not applied, by changelog topic. */
  positions: Map<string, number>;
}

interface Standby extends HandedOverStores {
  partition: number;
  dir: string;
  /** By changelog topic. */
  byTopic: Map<string, StateStore>;
}

export class StandbyTasks {
  private readonly standbys = new Map<number, Standby>();
  private consumer: Consumer | null = null;
  private running: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;
  private chain: Promise<unknown> = Promise.resolve();
  /** Changelog records applied, across every standby (metrics). */
  appliedRecords = 0;

  constructor(
    private readonly client: Millrace,
    private readonly topology: Topology,
    private readonly s: StandbySettings,
  ) {
    this.timer = setInterval(() => void this.serial(() => this.checkpointAll()), s.checkpointIntervalMs);
    this.timer.unref();
  }

  /** The standby tasks, by partition. */
  get tasks(): number[] {
    return [...this.standbys.keys()].sort((a, b) => a - b);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.chain.then(work);
    this.chain = result.catch((err: unknown) => this.s.onError(err instanceof Error ? err : new Error(String(err))));
    return result;
  }

  /**
   * Follows exactly `tasks`: others are closed (checkpointed), except those in `keep` (becoming
   * active here, to be handed over by `take`).
   */
  update(tasks: readonly number[], keep: readonly number[]): Promise<void> {
    return this.serial(async () => {
      for (const [p, sb] of this.standbys)
        if (!tasks.includes(p) && !keep.includes(p)) {
          this.standbys.delete(p);
          await this.closeOne(sb);
        }
      for (const p of tasks) if (!this.standbys.has(p)) this.standbys.set(p, this.open(p));
      this.follow();
    });
  }

  /** Hands a standby's stores over to its new active task, or null when there is none. */
  take(partition: number): HandedOverStores | null {
    const sb = this.standbys.get(partition);
    if (!sb) return null;
    this.standbys.delete(partition);
    this.s.log('standby task handed over', { taskId: `0_${partition}`, positions: Object.fromEntries(sb.positions) });
    return { stores: sb.stores, positions: sb.positions };
  }

  private open(partition: number): Standby {
    const dir = path.join(this.s.stateDir, `0_${partition}`);
    fs.mkdirSync(dir, { recursive: true });
    const checkpoint = readCheckpoint(dir);
    const sb: Standby = { partition, dir, stores: new Map(), positions: new Map(), byTopic: new Map() };
    for (const spec of this.topology.stores) {
      const context: StoreContext = { changelog: null, stateDir: dir };
      const store = spec.create(context);
      const topic = this.s.changelogTopic(spec.name);
      const from = store.persistent ? checkpoint[topic] : undefined;
      if (store.persistent && from === undefined) store.wipe?.();
      sb.stores.set(spec.name, { store, context });
      sb.byTopic.set(topic, store);
      sb.positions.set(topic, from ?? 0);
    }
    this.s.log('standby task opened', { taskId: `0_${partition}` });
    return sb;
  }

  /** (Re)assigns the changelog consumer to every standby's partitions, from their positions. */
  private follow(): void {
    const partitions = [...this.standbys.values()].flatMap((sb) =>
      [...sb.positions].map(([topic, offset]) => ({ topic, partition: sb.partition, offset })),
    );
    if (partitions.length === 0 && !this.consumer) return;
    if (!this.consumer) {
      this.consumer = this.client.consumer({ isolationLevel: this.s.isolationLevel, autoOffsetReset: 'earliest' });
      this.consumer.assign(partitions);
      this.running = this.consumer.run({
        eachBatch: ({ batch }) => {
          const sb = this.standbys.get(batch.partition);
          const store = sb?.byTopic.get(batch.topic);
          if (!sb || !store) return;
          let position = sb.positions.get(batch.topic) ?? 0;
          for (const r of batch.records()) {
            // A fetch from before a reassignment may repeat what was applied.
            if (r.offset < position) continue;
            store.restore(Buffer.from(r.key() ?? Buffer.alloc(0)), r.value() === null ? null : Buffer.from(r.value()!));
            position = r.offset + 1;
            this.appliedRecords++;
          }
          sb.positions.set(batch.topic, position);
        },
      });
      this.running.catch((err: unknown) => this.s.onError(err instanceof Error ? err : new Error(String(err))));
    } else this.consumer.assign(partitions);
  }

  private async checkpointOne(sb: Standby): Promise<void> {
    const positions = new Map(sb.positions);
    for (const { store } of sb.stores.values()) await store.flush();
    if ([...sb.stores.values()].some(({ store }) => store.persistent)) writeCheckpoint(sb.dir, positions);
  }

  private async checkpointAll(): Promise<void> {
    for (const sb of this.standbys.values()) await this.checkpointOne(sb);
  }

  private async closeOne(sb: Standby): Promise<void> {
    await this.checkpointOne(sb);
    for (const { store } of sb.stores.values()) await store.close();
    this.s.log('standby task closed', { taskId: `0_${sb.partition}` });
  }

  /** Checkpoints and closes every standby. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.serial(async () => {
      await this.consumer?.close().catch(() => undefined);
      await this.running?.catch(() => undefined);
      this.consumer = null;
      for (const sb of this.standbys.values()) await this.closeOne(sb);
      this.standbys.clear();
    });
  }
}
