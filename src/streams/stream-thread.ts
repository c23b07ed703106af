/**
 * A stream thread, as Kafka Streams' StreamThread: one consumer in the application's group
 * (`application.id`), one producer, and the tasks of the partitions the group gave it. Each
 * task's lifecycle is a machine (actors/stream-task.ts); records of a partition go through its
 * task once it is Running, what the sinks and store changelogs write is sent as one request per
 * topic after each fetched batch, and every `commitIntervalMs` (and before partitions are
 * revoked) the thread commits:
 *
 * - at_least_once: the sends are awaited, the stores flushed, then the consumed offsets committed;
 * - exactly_once_v2: the output, the changelog writes and the consumed offsets are one
 *   transaction of the thread's producer (offsets with the consumer's group metadata, KIP-447).
 *
 * Batches, commits and rebalance callbacks run one at a time (`serial`), so a commit never
 * interleaves with processing. A thread that fails is stopped dirty; the application's
 * exception handler decides what comes next.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  Consumer,
  ConsumerBatch,
  ConsumerOptions,
  Message,
  Millrace,
  Producer,
  TopicPartition,
} from '../client/index.js';
import type { Transaction } from '../client/producer.js';
import { NO_HEADERS, type StoredRecord } from './task.js';
import { hasCheckpoint, writeCheckpoint } from './checkpoint.js';
import { streamsAssignor, type StreamsAssignmentInfo, type StreamsSubscriptionInfo } from './assignor.js';
import { StandbyTasks } from './standby.js';
import { startActiveTask, type RunningTask } from './active-task.js';
import type { TimestampExtractor } from './timestamps.js';
import type { RestoreProgress } from './restore.js';
import type { Topology } from './topology.js';
import type { StateStore } from './stores.js';

export type ProcessingGuarantee = 'at_least_once' | 'exactly_once_v2';

export interface ThreadSettings {
  applicationId: string;
  /** `<application.id>-<process id>-StreamThread-<n>`: the thread's name and transactional id. */
  name: string;
  processingGuarantee: ProcessingGuarantee;
  commitIntervalMs: number;
  /** Group membership settings of the consumer. */
  consumer: Pick<ConsumerOptions, 'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs'>;
  /** The application's state directory; each task's persistent stores live under `<task id>/`. */
  stateDir: string;
  /** Partition counts of the topics sinks write (for partitioners). */
  partitionCount: (topic: string) => number;
  changelogTopic: (store: string) => string;
  /** The instance's global stores, shared by every task. */
  globalStores: ReadonlyMap<string, StateStore>;
  defaultTimestampExtractor: TimestampExtractor;
  /** How often committed records of repartition topics are deleted (Kafka's repartition.purge.interval.ms). */
  repartitionPurgeIntervalMs: number;
  /** Standby replicas of each task the group should keep (Kafka's num.standby.replicas). */
  numStandbys: number;
  processId: string;
  /** `host:port` of the instance's interactive-query server, or null. */
  endpoint: string | null;
  /** Every rebalance's assignment of this member, with every endpoint's tasks. */
  onAssignmentInfo: (info: StreamsAssignmentInfo) => void;
  onRestore: (progress: RestoreProgress & { taskId: string }) => void;
  onError: (err: Error) => void;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

/** How often wall-clock punctuations are checked. */
const WALL_CLOCK_TICK_MS = 50;

/** What the thread reads of a fetched batch: its records through the consumer's reused view. */
type FetchedBatch = Pick<ConsumerBatch, 'topic' | 'partition' | 'records'>;

export class StreamThread {
  private readonly consumer: Consumer;
  private readonly producer: Producer<Buffer, Buffer>;
  private readonly tasks = new Map<number, RunningTask>();
  /** The output since the last send, by topic. */
  private readonly outgoing = new Map<string, Message<Buffer, Buffer>[]>();
  /** Sends not yet known to have landed (at_least_once). */
  private sends: Array<Promise<unknown>> = [];
  /** exactly_once_v2: the open transaction, and whether anything was sent in it. */
  private txn: Transaction<Buffer, Buffer> | null = null;
  private txnDirty = false;
  /** The offset after the last record processed, by source partition, since the last commit. */
  private readonly processed = new Map<string, { topic: string; partition: number; offset: number }>();
  private lastCommit = Date.now();
  private chain: Promise<unknown> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | null = null;
  private punctuationTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** A batch failed part way: nothing is committed any more (the thread is replaced or shut down). */
  private broken = false;
  private readonly standbys: StandbyTasks;
  /** The changelog topics, whose send results feed the checkpoints. */
  private readonly changelogs: Set<string>;
  private running: Promise<void> | null = null;
  /** The repartition topics: what was committed of them may be deleted. */
  private readonly repartitionTopics: Set<string>;
  /** Committed offsets of repartition partitions not yet purged, by topic and partition. */
  private readonly purgeable = new Map<string, Map<number, number>>();
  private lastPurge = Date.now();
  /** Records processed since the thread started, for the metrics. */
  processedRecords = 0;
  /** When the thread began processing its first batch (performance.now()), for rates. */
  firstBatchAt: number | null = null;
  commits = 0;

  constructor(
    private readonly client: Millrace,
    private readonly topology: Topology,
    private readonly s: ThreadSettings,
  ) {
    const eos = this.eos;
    this.changelogs = new Set(topology.stores.map((st) => s.changelogTopic(st.name)));
    this.repartitionTopics = new Set(topology.internalTopics);
    this.consumer = client.consumer({
      ...s.consumer,
      groupId: s.applicationId,
      autoCommit: false,
      autoOffsetReset: 'earliest',
      isolationLevel: eos ? 'read_committed' : 'read_uncommitted',
      assignors: [
        streamsAssignor(
          s.numStandbys,
          () => this.subscriptionInfo(),
          (info) => this.assignmentInfo(info),
        ),
      ],
      // A failed batch fails the thread at once (the exception handler decides): retrying it in
      // place would process its first records twice.
      retry: { retries: 0, restartOnFailure: () => false },
    });
    this.producer = client.producer<Buffer, Buffer>(
      eos ? { transactionalId: s.name, transactionTimeoutMs: 10_000, lingerMs: 5 } : { lingerMs: 5 },
    );
    this.standbys = new StandbyTasks(client, topology, {
      stateDir: s.stateDir,
      changelogTopic: s.changelogTopic,
      isolationLevel: eos ? 'read_committed' : 'read_uncommitted',
      checkpointIntervalMs: Math.max(1000, s.commitIntervalMs),
      onError: (err) => this.fail(err),
      log: s.log,
    });
  }

  /** What this member tells the group's leader: its state beyond its active tasks included. */
  private subscriptionInfo(): StreamsSubscriptionInfo {
    const onDisk = fs.existsSync(this.s.stateDir)
      ? fs
          .readdirSync(this.s.stateDir)
          .filter((d) => /^0_\d+$/.test(d) && hasCheckpoint(path.join(this.s.stateDir, d)))
          .map((d) => Number(d.slice(2)))
      : [];
    const stateful = [...new Set([...this.standbys.tasks, ...onDisk])].filter((p) => !this.tasks.has(p));
    return { processId: this.s.processId, endpoint: this.s.endpoint, stateful };
  }

  /**
   * The leader's assignment, before its partitions are applied: standbys follow it (a standby of
   * a task still active here waits for the follow-up rebalance, after the task is revoked).
   */
  private assignmentInfo(info: StreamsAssignmentInfo): void {
    this.s.onAssignmentInfo(info);
    void this.serial(() =>
      this.standbys.update(
        info.standby.filter((p) => !this.tasks.has(p)),
        info.active,
      ),
    ).catch((err: unknown) => this.fail(err));
  }

  /** The standby tasks this thread keeps. */
  get standbyTasks(): number[] {
    return this.standbys.tasks;
  }

  /** Changelog records its standby tasks applied. */
  get standbyRecords(): number {
    return this.standbys.appliedRecords;
  }

  private get eos(): boolean {
    return this.s.processingGuarantee === 'exactly_once_v2';
  }

  /** Joins the group and processes until stopped. */
  async start(): Promise<void> {
    // The first transaction fences an earlier producer of the thread's transactional id.
    if (this.eos) this.txn = await this.producer.transaction();
    this.consumer.subscribe({
      topics: this.topology.sourceTopics,
      listener: {
        assigned: (tps) => this.serial(() => this.assigned(tps)),
        revoked: (tps) => this.serial(() => this.revoked(tps)),
        lost: (tps) => this.serial(() => this.lost(tps)),
      },
    });
    this.running = this.consumer.run({ eachBatch: ({ batch }) => this.serial(() => this.processBatch(batch)) });
    this.running.catch((err: unknown) => this.fail(err));
    this.commitTimer = setInterval(
      () => {
        if (Date.now() - this.lastCommit >= this.s.commitIntervalMs)
          void this.serial(() => this.commit()).catch((err: unknown) => this.fail(err));
      },
      Math.max(10, Math.min(this.s.commitIntervalMs, 1000)),
    );
    this.commitTimer.unref();
    this.punctuationTimer = setInterval(() => {
      void this.serial(async () => this.punctuateWallClock()).catch((err: unknown) => this.fail(err));
    }, WALL_CLOCK_TICK_MS);
    this.punctuationTimer.unref();
  }

  /** Wall-clock punctuations of the running tasks, and what they produced sent. */
  private punctuateWallClock(): void {
    if (this.stopped || this.broken) return;
    const now = Date.now();
    try {
      for (const t of this.tasks.values())
        if (t.actor.getSnapshot().value === 'Running') t.task.punctuateWallClock(now);
    } catch (err) {
      this.broken = true;
      this.outgoing.clear();
      throw err;
    }
    this.flushOutgoing();
  }

  /** Task ids this thread runs, with their states. */
  taskStates(): Array<{ taskId: string; state: string }> {
    return [...this.tasks.values()].map((t) => ({ taskId: t.task.id, state: String(t.actor.getSnapshot().value) }));
  }

  /** The running tasks' stores named `name`, by partition (interactive queries). */
  stores(name: string): Map<number, unknown> {
    const out = new Map<number, unknown>();
    for (const [p, t] of this.tasks)
      if (t.actor.getSnapshot().value === 'Running' && t.task.stateStores.has(name))
        out.set(p, t.task.stateStores.get(name));
    return out;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.chain.then(work);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.s.onError(err instanceof Error ? err : new Error(String(err)));
  }

  private createTask(partition: number): RunningTask {
    return startActiveTask(partition, {
      client: this.client,
      topology: this.topology,
      settings: this.s,
      eos: this.eos,
      collect: (topic, record) => this.collect(topic, record),
      // A standby of the task here hands its stores over.
      handedOver: this.standbys.take(partition),
      isStopped: () => this.stopped,
    });
  }

  private async assigned(tps: TopicPartition[]): Promise<void> {
    for (const tp of tps)
      if (!this.tasks.has(tp.partition)) this.tasks.set(tp.partition, this.createTask(tp.partition));
  }

  /** Commits everything, then suspends and closes the revoked partitions' tasks. */
  private async revoked(tps: TopicPartition[]): Promise<void> {
    // A failed thread, or one stopping dirty (its consumer's close revokes everything), commits nothing.
    const clean = !this.stopped && !this.broken;
    if (clean) await this.commit();
    await this.closeTasks(this.ownedTasks(tps), clean);
  }

  /** The partitions went to other members already: their work is dropped, not committed. */
  private async lost(tps: TopicPartition[]): Promise<void> {
    this.outgoing.clear();
    this.processed.clear();
    if (this.eos) await this.abortTransaction(!this.stopped);
    await this.closeTasks(this.ownedTasks(tps), false);
  }

  /** Aborts the open transaction, beginning the next one when the thread goes on. */
  private async abortTransaction(next: boolean): Promise<void> {
    if (this.txn?.isActive()) await this.txn.abort().catch(() => undefined);
    this.txn = null;
    this.txnDirty = false;
    if (next) this.txn = await this.producer.transaction();
  }

  /** Tasks of which every source partition was taken (a task spans its partition of every source topic). */
  private ownedTasks(tps: TopicPartition[]): number[] {
    const owned = new Set(this.consumer.assignment().map((tp) => tp.partition));
    return [...new Set(tps.map((tp) => tp.partition))].filter((p) => !owned.has(p));
  }

  /** Closes tasks; a clean close (after a commit) leaves a checkpoint for their persistent stores. */
  private async closeTasks(partitions: number[], clean: boolean): Promise<void> {
    for (const p of partitions) {
      const t = this.tasks.get(p);
      if (!t) continue;
      this.tasks.delete(p);
      t.actor.send({ type: 'SUSPEND' });
      t.actor.send({ type: 'CLOSE' });
      t.actor.stop();
      if (clean) await t.task.flush();
      await t.task.close();
      if (clean && t.actor.getSnapshot().value === 'Closed') this.writeCheckpoint(t);
      this.s.log('task closed', { taskId: t.task.id, clean });
    }
  }

  private async processBatch(batch: FetchedBatch): Promise<void> {
    if (this.stopped || this.broken) return;
    const t = this.tasks.get(batch.partition);
    if (!t) return;
    await t.ready;
    this.firstBatchAt ??= performance.now();
    try {
      this.processRecords(t, batch);
    } catch (err) {
      // The task's state and the output so far hold part of the batch: nothing may be
      // committed from here on (not even by the revocation the consumer's failure brings).
      this.broken = true;
      this.outgoing.clear();
      throw err;
    }
    this.flushOutgoing();
    if (Date.now() - this.lastCommit >= this.s.commitIntervalMs) await this.commit();
  }

  private processRecords(t: RunningTask, batch: FetchedBatch): void {
    let last = -1;
    for (const r of batch.records()) {
      const stored: StoredRecord = {
        key: r.key(),
        value: r.value(),
        timestamp: r.timestamp,
        headers: r.headerCount > 0 ? r.headers() : NO_HEADERS,
        partition: batch.partition,
      };
      t.task.process(batch.topic, stored, r.offset);
      last = r.offset;
      this.processedRecords++;
    }
    if (last >= 0) {
      this.processed.set(`${batch.topic}\u0000${batch.partition}`, {
        topic: batch.topic,
        partition: batch.partition,
        offset: last + 1,
      });
    }
  }

  private collect(topic: string, record: StoredRecord): void {
    let list = this.outgoing.get(topic);
    if (!list) this.outgoing.set(topic, (list = []));
    const m: Message<Buffer, Buffer> = { key: record.key, value: record.value, timestamp: record.timestamp };
    if (record.headers !== NO_HEADERS) m.headers = record.headers;
    if (record.partition !== null) m.partition = record.partition;
    list.push(m);
  }

  /** Sends what the batch produced: one request per topic. */
  private flushOutgoing(): void {
    if (this.outgoing.size === 0) return;
    const eos = this.eos;
    if (eos) this.txnDirty = true;
    for (const [topic, messages] of this.outgoing) {
      const sent = eos ? this.txn!.send({ topic, messages }) : this.producer.send({ topic, messages });
      // A failed send fails the commit that awaits it (at_least_once) or the transaction's commit.
      sent.catch(() => undefined);
      if (this.changelogs.has(topic))
        void sent.then(
          (meta) => this.changelogWritten(meta),
          () => undefined,
        );
      if (!eos) this.sends.push(sent);
    }
    this.outgoing.clear();
  }

  /** Where each task's changelog writes landed: what its checkpoint will say. */
  private changelogWritten(meta: Array<{ topic: string; partition: number; offset: bigint }>): void {
    for (const m of meta) {
      const ends = this.tasks.get(m.partition)?.changelogEnds;
      if (ends) ends.set(m.topic, Math.max(ends.get(m.topic) ?? 0, Number(m.offset) + 1));
    }
  }

  /** Writes a task's checkpoint (for its persistent stores): after its stores were flushed. */
  private writeCheckpoint(t: RunningTask): void {
    if (![...t.task.stateStores.values()].some((s) => s.persistent)) return;
    writeCheckpoint(path.join(this.s.stateDir, t.task.id), t.changelogEnds);
  }

  private async commit(): Promise<void> {
    this.lastCommit = Date.now();
    if (this.stopped || this.broken) return;
    const offsets = [...this.processed.values()];
    if (offsets.length === 0 && this.sends.length === 0 && !this.txnDirty) return;
    for (const t of this.tasks.values()) await t.task.flush();
    if (this.eos) {
      const txn = this.txn!;
      if (offsets.length > 0) await txn.sendOffsets({ consumer: this.consumer, topics: groupByTopic(offsets) });
      await txn.commit();
      this.txnDirty = false;
      this.txn = await this.producer.transaction();
    } else {
      const sends = this.sends;
      this.sends = [];
      await Promise.all(sends);
      if (offsets.length > 0) await this.consumer.commit(offsets);
      for (const t of this.tasks.values()) this.writeCheckpoint(t);
    }
    this.processed.clear();
    this.commits++;
    this.purgeRepartitions(offsets);
  }

  /**
   * Deletes what was committed of the repartition topics, every repartitionPurgeIntervalMs
   * (as Kafka Streams does): nobody reads it again. Best effort, off the processing path.
   */
  private purgeRepartitions(committed: ReadonlyArray<{ topic: string; partition: number; offset: number }>): void {
    for (const o of committed) {
      if (!this.repartitionTopics.has(o.topic)) continue;
      let partitions = this.purgeable.get(o.topic);
      if (!partitions) this.purgeable.set(o.topic, (partitions = new Map()));
      partitions.set(o.partition, o.offset);
    }
    if (this.purgeable.size === 0 || Date.now() - this.lastPurge < this.s.repartitionPurgeIntervalMs) return;
    this.lastPurge = Date.now();
    const admin = this.client.admin();
    for (const [topic, partitions] of this.purgeable)
      void admin
        .deleteRecords({ topic, partitions: [...partitions].map(([partition, offset]) => ({ partition, offset })) })
        .catch((err: unknown) => this.s.log('repartition purge failed', { topic, error: (err as Error).message }));
    this.purgeable.clear();
  }

  /** Stops: a clean stop commits first; a dirty one (after a failure) drops what is not committed. */
  async stop(clean: boolean): Promise<void> {
    let committed = false;
    if (clean && !this.stopped && !this.broken)
      committed = await this.serial(() => this.commit()).then(
        () => true,
        (err: unknown) => {
          this.fail(err);
          return false;
        },
      );
    this.stopped = true;
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (this.punctuationTimer) clearInterval(this.punctuationTimer);
    if (this.eos) await this.abortTransaction(false);
    await this.consumer.close().catch(() => undefined);
    await this.running?.catch(() => undefined);
    await this.closeTasks([...this.tasks.keys()], committed);
    await this.standbys.close().catch(() => undefined);
    await this.producer.close().catch(() => undefined);
  }
}

function groupByTopic(
  offsets: Array<{ topic: string; partition: number; offset: number }>,
): Array<{ topic: string; partitions: Array<{ partition: number; offset: number }> }> {
  const byTopic = new Map<string, Array<{ partition: number; offset: number }>>();
  for (const o of offsets) {
    let list = byTopic.get(o.topic);
    if (!list) byTopic.set(o.topic, (list = []));
    list.push({ partition: o.partition, offset: o.offset });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}
