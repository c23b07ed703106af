/**
 * The consumer: manual assignment (`assign`), or a member of a consumer group (`groupId` and
 * `subscribe`, see group.ts). Fetching runs ahead of the application: long-poll fetches per leader
 * broker, each partition buffering up to maxBufferedBytesPerPartition before its fetching pauses.
 * Messages are handed out round-robin across partitions, in offset order within each; a
 * partition's position to commit moves once the application has finished a message.
 */
import { MillraceError } from '../../protocol/errors.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { maxPayload } from '../transport/connection.js';
import { request } from '../transport/rpc.js';
import { needsMetadataRefresh, sleep, type ClientContext } from './context.js';
import { FetchedBatch, newPartitionState, type PartitionState } from './fetched.js';
import { whileBrokerAlive } from './liveness.js';
import { EARLIEST, LATEST, listOffsets } from './offsets.js';
import type { TopicPartition } from './assignors.js';
import { GroupMember, type GroupHost } from './group.js';
import { NoOffsetForPartitionError, OffsetOutOfRangeError } from './errors.js';
import type {
  ConsumerBatch,
  ConsumerMessage,
  ConsumerOptions,
  FetchOptions,
  OffsetReset,
  OffsetSpec,
  RebalanceListener,
  TopicPartitionOffset,
} from './types.js';
import { tpKey } from '../../protocol/topic-partition.js';

export class Consumer implements AsyncIterable<ConsumerMessage> {
  private readonly states = new Map<string, PartitionState>();
  private readonly ready: PartitionState[] = [];
  /** Fetches in flight, by leader and partition group. */
  private readonly inflight = new Set<string>();
  private readonly opts: Required<FetchOptions>;
  private group: GroupMember | null = null;
  /** When the application's handler started on the current message or batch (0: not running). */
  private busySince = 0;
  private running = false;
  private closed = false;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;
  private wakeReader: (() => void) | null = null;
  private failure: Error | null = null;
  /** auto.offset.reset, or 'earliest' when a subscription asked `fromBeginning`. */
  private reset: OffsetReset;

  constructor(
    private readonly ctx: ClientContext,
    private readonly options: ConsumerOptions = {},
  ) {
    const maxBytesPerPartition = options.maxBytesPerPartition ?? 1024 * 1024;
    this.opts = {
      maxWaitMs: options.maxWaitMs ?? 500,
      minBytes: options.minBytes ?? 1,
      maxBytes: options.maxBytes ?? 50 * 1024 * 1024,
      maxBytesPerPartition,
      maxBufferedBytesPerPartition: options.maxBufferedBytesPerPartition ?? 2 * maxBytesPerPartition,
      autoOffsetReset: options.autoOffsetReset ?? 'latest',
      fetchConcurrency: options.fetchConcurrency ?? 4,
    };
    this.reset = this.opts.autoOffsetReset;
  }

  /** Replaces the assignment. Each partition starts at its offset, or by autoOffsetReset. */
  assign(partitions: TopicPartitionOffset[]): void {
    if (this.options.groupId)
      throw new MillraceError('INVALID_REQUEST', 'a consumer with a groupId gets its partitions from subscribe()');
    this.states.clear();
    this.ready.length = 0;
    this.addPartitions(partitions);
    this.start();
  }

  /**
   * Joins the consumer's group for these topics (names or patterns); partitions arrive as the group
   * assigns them, starting at the committed offsets, or by autoOffsetReset without one.
   * `fromBeginning: true` is kafkajs's shorthand for autoOffsetReset 'earliest'.
   */
  subscribe(subscription: {
    topics: Array<string | RegExp>;
    fromBeginning?: boolean;
    listener?: RebalanceListener;
  }): void {
    const { groupId } = this.options;
    if (!groupId) throw new MillraceError('INVALID_REQUEST', 'subscribe needs a consumer created with a groupId');
    if (this.group) throw new MillraceError('INVALID_REQUEST', 'the consumer is already subscribed');
    if (!Array.isArray(subscription.topics) || subscription.topics.length === 0)
      throw new MillraceError('INVALID_REQUEST', 'subscribe needs at least one topic or pattern');
    if (subscription.fromBeginning) this.reset = 'earliest';
    this.group = new GroupMember(
      this.ctx,
      this.host(),
      { ...this.options, groupId },
      subscription.topics,
      subscription.listener,
    );
    this.group.start();
    this.start();
  }

  /** Commits offsets (default: the position of every partition the member owns). */
  async commit(offsets?: Array<{ topic: string; partition: number; offset: bigint | number }>): Promise<void> {
    if (!this.group) throw new MillraceError('INVALID_REQUEST', 'commit needs a subscribed group consumer');
    await this.group.commit(
      offsets?.map((o) => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) })),
    );
  }

  /** The member's side of the group protocol sees the consumer through this. */
  private host(): GroupHost {
    return {
      addPartitions: (tps) => {
        this.addPartitions(tps);
        this.kick();
      },
      removePartitions: (tps) => this.removePartitions(tps),
      positions: (tps) =>
        tps.flatMap((tp) => {
          const s = this.states.get(tpKey(tp.topic, tp.partition));
          return s?.consumed != null ? [{ topic: tp.topic, partition: tp.partition, offset: s.consumed }] : [];
        }),
      busyForMs: () => (this.busySince > 0 ? Date.now() - this.busySince : 0),
      fail: (err) => this.fail(err),
    };
  }

  private addPartitions(partitions: TopicPartitionOffset[]): void {
    for (const tp of partitions) {
      const state = newPartitionState(tp.topic, tp.partition, this.reset);
      this.applySeek(state, tp.offset);
      this.states.set(tpKey(tp.topic, tp.partition), state);
    }
  }

  private removePartitions(partitions: TopicPartition[]): void {
    for (const tp of partitions) {
      const s = this.states.get(tpKey(tp.topic, tp.partition));
      if (!s) continue;
      this.states.delete(tpKey(tp.topic, tp.partition));
      const i = this.ready.indexOf(s);
      if (i >= 0) this.ready.splice(i, 1);
    }
  }

  assignment(): Array<{ topic: string; partition: number }> {
    return [...this.states.values()].map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  /** Records that the application finished the messages of a partition up to `offset` (inclusive). */
  private finished(key: string, offset: bigint | number): void {
    const s = this.states.get(key);
    if (s) s.consumed = Number(offset) + 1;
  }

  /** Moves a partition's position; buffered messages from the old position are dropped. */
  seek(tp: { topic: string; partition: number; offset: OffsetSpec }): void {
    const state = this.states.get(tpKey(tp.topic, tp.partition));
    if (!state)
      throw new MillraceError('INVALID_REQUEST', `${tp.topic}-${tp.partition} is not assigned to this consumer`);
    this.applySeek(state, tp.offset);
    this.kick();
  }

  private applySeek(state: PartitionState, offset: OffsetSpec | undefined): void {
    state.generation++;
    state.buffer.clear();
    const i = this.ready.indexOf(state);
    if (i >= 0) this.ready.splice(i, 1);
    state.seekTo = null;
    if (offset === 'earliest' || offset === 'latest') {
      state.position = null;
      state.seekTo = offset;
    } else if (offset !== undefined) {
      const n = Number(offset);
      if (!Number.isSafeInteger(n) || n < 0)
        throw new MillraceError('INVALID_REQUEST', `offset ${String(offset)} is not a non-negative integer`);
      state.position = n;
      // A seek is what a commit records from then on, as Kafka's position after seek.
      state.consumed = n;
    } else state.position = null;
  }

  pause(tps: Array<{ topic: string; partition?: number }>): void {
    for (const s of this.matching(tps)) s.paused = true;
  }

  resume(tps: Array<{ topic: string; partition?: number }>): void {
    for (const s of this.matching(tps)) {
      s.paused = false;
      if (!s.buffer.isEmpty && !this.ready.includes(s)) this.ready.push(s);
    }
    this.kick();
    this.notifyReader();
  }

  paused(): Array<{ topic: string; partition: number }> {
    return [...this.states.values()].filter((s) => s.paused).map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  private matching(tps: Array<{ topic: string; partition?: number }>): PartitionState[] {
    return [...this.states.values()].filter((s) =>
      tps.some((tp) => tp.topic === s.topic && (tp.partition === undefined || tp.partition === s.partition)),
    );
  }

  private start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.loop = this.fetchLoop().catch((err: unknown) => this.fail(err as Error));
  }

  private kick(): void {
    const w = this.wakeLoop;
    this.wakeLoop = null;
    w?.();
  }

  private fail(err: Error): void {
    this.failure = err;
    this.running = false;
    this.kick();
    const r = this.wakeReader;
    this.wakeReader = null;
    r?.();
  }

  private async fetchLoop(): Promise<void> {
    while (this.running) {
      await this.resolvePositions();
      const now = Date.now();
      const groups = new Map<string, { leader: number; states: PartitionState[] }>();
      let waitMs = 1_000;
      for (const s of this.states.values()) {
        if (s.paused || s.position === null || s.buffer.bytes >= this.opts.maxBufferedBytesPerPartition) continue;
        if (s.retryAt > now) {
          waitMs = Math.min(waitMs, s.retryAt - now);
          continue;
        }
        const leader = this.ctx.metadata.leader(s.topic, s.partition);
        if (leader < 0) {
          s.retryAt = now + 200;
          this.ctx.metadata.refresh().catch(() => undefined);
          continue;
        }
        // A fetch reply is bounded by the NATS max_payload (1 MiB by default), so several
        // fetches per broker, over disjoint partitions, keep the pipe full.
        if (s.fetchingGeneration === s.generation) continue;
        // A partition seeked while its long poll waits must not wait for it: it fetches on its own.
        const key =
          s.fetchingGeneration >= 0
            ? `${leader}:${tpKey(s.topic, s.partition)}`
            : `${leader}:${s.partition % this.opts.fetchConcurrency}`;
        if (this.inflight.has(key)) continue;
        const group = groups.get(key) ?? { leader, states: [] };
        group.states.push(s);
        groups.set(key, group);
      }
      for (const [key, { leader, states }] of groups) {
        this.inflight.add(key);
        void this.fetchFrom(leader, states)
          .catch((err: unknown) => this.fail(err as Error))
          .finally(() => {
            this.inflight.delete(key);
            this.kick();
          });
      }
      await new Promise<void>((resolve) => {
        this.wakeLoop = resolve;
        setTimeout(resolve, waitMs).unref();
      });
    }
  }

  /** Turns 'earliest'/'latest' positions into offsets with ListOffsets. */
  private async resolvePositions(): Promise<void> {
    const pending = [...this.states.values()].filter((s) => s.position === null && s.retryAt <= Date.now());
    if (pending.length === 0) return;
    const noOffset = pending.filter((s) => (s.seekTo ?? s.reset) === 'none');
    if (noOffset.length > 0)
      throw new NoOffsetForPartitionError(noOffset.map((s) => ({ topic: s.topic, partition: s.partition })));
    await Promise.all(
      pending.map(async (s) => {
        const generation = s.generation;
        try {
          await this.ctx.metadata.partitionsOf(s.topic);
          const leader = this.ctx.metadata.leader(s.topic, s.partition);
          if (leader < 0) throw new MillraceError('LEADER_NOT_AVAILABLE', `${s.topic}-${s.partition} has no leader`);
          const result = (
            await listOffsets(
              this.ctx,
              leader,
              s.topic,
              [s.partition],
              (s.seekTo ?? s.reset) === 'earliest' ? EARLIEST : LATEST,
            )
          ).get(s.partition)!;
          if (result instanceof MillraceError) throw result;
          if (s.generation === generation && s.position === null) {
            s.position = result.offset;
            s.seekTo = null;
          }
        } catch (err) {
          if (err instanceof MillraceError && !err.retriable) throw err;
          if (needsMetadataRefresh(err)) await this.ctx.metadata.refresh([s.topic]).catch(() => undefined);
          s.retryAt = Date.now() + 200;
        }
      }),
    );
  }

  private async fetchFrom(leader: number, states: PartitionState[]): Promise<void> {
    const generations = states.map((s) => s.generation);
    for (const s of states) s.fetchingGeneration = s.generation;
    try {
      await this.fetchPartitions(leader, states, generations);
    } finally {
      states.forEach((s, i) => {
        if (s.fetchingGeneration === generations[i]) s.fetchingGeneration = -1;
      });
    }
  }

  private async fetchPartitions(leader: number, states: PartitionState[], generations: number[]): Promise<void> {
    const positions = states.map((s) => s.position!);
    const topics = new Map<
      string,
      Array<{ partition: number; fetchOffset: number; currentLeaderEpoch: number; partitionMaxBytes: number }>
    >();
    for (const s of states) {
      topics.set(s.topic, [
        ...(topics.get(s.topic) ?? []),
        {
          partition: s.partition,
          fetchOffset: s.position!,
          currentLeaderEpoch: this.ctx.metadata.leaderEpoch(s.topic, s.partition),
          partitionMaxBytes: this.opts.maxBytesPerPartition,
        },
      ]);
    }
    let res;
    try {
      const nc = await this.ctx.connection();
      res = await whileBrokerAlive(
        this.ctx,
        leader,
        request(
          nc,
          subjects.brokerApi(this.ctx.cluster, leader, 'fetch'),
          wire.FetchRequest,
          {
            replicaId: -1,
            maxWaitMs: this.opts.maxWaitMs,
            minBytes: this.opts.minBytes,
            maxBytes: Math.min(this.opts.maxBytes, maxPayload(nc) - 64 * 1024),
            topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
          },
          wire.FetchResponse,
          this.ctx.requestTimeoutMs + this.opts.maxWaitMs,
        ),
        this.opts.maxWaitMs,
      );
    } catch (err) {
      if (err instanceof MillraceError && !err.retriable) throw err;
      await this.ctx.metadata.refresh().catch(() => undefined);
      await sleep(100);
      return;
    }
    const byKey = new Map(states.map((s, i) => [tpKey(s.topic, s.partition), i]));
    for (const t of res.topics) {
      for (const p of t.partitions ?? []) {
        const i = byKey.get(tpKey(t.name, p.partition ?? 0));
        if (i === undefined) continue;
        const s = states[i]!;
        if (s.generation !== generations[i] || this.states.get(tpKey(s.topic, s.partition)) !== s) continue;
        if (p.errorCode) {
          this.partitionError(s, MillraceError.fromCode(p.errorCode, p.errorMessage ?? ''));
          continue;
        }
        s.highWatermark = Number(p.highWatermark);
        if (p.records && p.records.length > 0) this.accept(s, positions[i]!, p.records);
      }
    }
    this.notifyReader();
  }

  private partitionError(s: PartitionState, err: MillraceError): void {
    if (err.errorName === 'OFFSET_OUT_OF_RANGE') {
      if (s.reset === 'none') throw new OffsetOutOfRangeError(s, s.position ?? -1, err.detail);
      s.position = null;
      return;
    }
    if (!err.retriable) throw err;
    if (needsMetadataRefresh(err)) this.ctx.metadata.refresh([s.topic]).catch(() => undefined);
    s.retryAt = Date.now() + 100;
  }

  /** Keeps fetched batches in the partition's buffer, to be read when the application takes them. */
  private accept(s: PartitionState, from: number, records: Uint8Array): void {
    const wasEmpty = s.buffer.isEmpty;
    const next = s.buffer.add(records, from, `${s.topic}-${s.partition}`);
    if (next !== null) s.position = Math.max(s.position ?? 0, next);
    if (wasEmpty && !s.buffer.isEmpty) this.ready.push(s);
  }

  private notifyReader(): void {
    const r = this.wakeReader;
    this.wakeReader = null;
    r?.();
  }

  /** The next records of one partition (at most `maxRecords`), waiting for data when there are none. */
  private async nextBatch(maxRecords: number): Promise<FetchedBatch | null> {
    this.group?.polled();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closed) return null;
      const s = this.ready.shift();
      if (s) {
        if (s.paused || s.buffer.isEmpty) continue;
        const where = `${s.topic}-${s.partition}`;
        const { runs, count, lastOffset } = s.buffer.take(maxRecords, where);
        if (s.buffer.isEmpty) this.kick();
        else this.ready.push(s);
        return new FetchedBatch(s.topic, s.partition, BigInt(s.highWatermark), runs, count, lastOffset);
      }
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ConsumerMessage> {
    for (;;) {
      const batch = await this.nextBatch(1);
      if (!batch) return;
      const m = batch.messages[0]!;
      this.busySince = Date.now();
      try {
        yield m;
      } finally {
        // The application asked for the next message (or stopped): this one is done.
        this.busySince = 0;
        this.finished(tpKey(m.topic, m.partition), m.offset);
      }
    }
  }

  /**
   * Calls the handlers for every message until the consumer is closed; resolves then, or
   * rejects with the first error a handler throws (the consumer stops).
   */
  async run(handlers: {
    eachMessage?: (payload: { topic: string; partition: number; message: ConsumerMessage }) => Promise<void> | void;
    eachBatch?: (payload: { batch: ConsumerBatch }) => Promise<void> | void;
  }): Promise<void> {
    if (!handlers.eachMessage && !handlers.eachBatch)
      throw new MillraceError('INVALID_REQUEST', 'run needs eachMessage or eachBatch');
    for (;;) {
      const batch = await this.nextBatch(handlers.eachBatch ? 10_000 : 1_000);
      if (!batch) return;
      try {
        const key = tpKey(batch.topic, batch.partition);
        if (handlers.eachBatch) {
          this.busySince = Date.now();
          await handlers.eachBatch({ batch });
          this.finished(key, batch.lastOffset);
        } else {
          for (const message of batch.messages) {
            // A partition revoked meanwhile: the rest of its batch belongs to another member now.
            if (!this.states.has(key)) break;
            this.busySince = Date.now();
            await handlers.eachMessage!({ topic: batch.topic, partition: batch.partition, message });
            this.finished(key, message.offset);
          }
        }
      } catch (err) {
        await this.close();
        throw err;
      } finally {
        this.busySince = 0;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // The member commits and revokes what it owns (and leaves) while the partitions are still here.
    await this.group?.close();
    this.closed = true;
    this.running = false;
    this.kick();
    this.notifyReader();
    await this.loop;
  }
}
