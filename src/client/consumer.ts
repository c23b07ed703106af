/**
 * The consumer: manual assignment (`assign`), or a member of a consumer group (`groupId` and
 * `subscribe`, see group.ts). Fetching runs ahead of the application (fetcher.ts). Records are
 * handed out round-robin across partitions, in offset order within each, one handler per
 * partition at a time (runner.ts); a partition's position to commit moves once the application
 * has finished (or resolved) a record.
 */
import { MillraceError } from '../../protocol/errors.js';
import { forComponent, type ClientContext } from './context.js';
import { FetchedBatch, newPartitionState, type PartitionState } from './fetched.js';
import type { TopicPartition } from './assignors.js';
import { GroupMember, type GroupHost } from './group.js';
import { CONSUMER_EVENTS, Instrumentation, type ConsumerEvents, type InstrumentationEvent } from './instrumentation.js';
import { Fetcher } from './fetcher.js';
import { Runner, retryPolicy, type RunnerHost, type Taken } from './runner.js';
import type { Deserializers } from './serializers.js';
import type {
  ConsumerMessage,
  ConsumerOptions,
  FetchOptions,
  OffsetReset,
  OffsetSpec,
  RebalanceListener,
  RetryOptions,
  RunOptions,
  TopicPartitionOffset,
} from './types.js';
import { tpKey } from '../../protocol/topic-partition.js';

export class Consumer<K = Buffer, V = Buffer> implements AsyncIterable<ConsumerMessage<K, V>> {
  private readonly states = new Map<string, PartitionState>();
  private readonly ready: PartitionState[] = [];
  private readonly opts: Required<FetchOptions>;
  private group: GroupMember | null = null;
  /** When each running handler call started (or last made progress), by worker. */
  private readonly handlerClock = new Map<number, number>();
  private running = false;
  private closed = false;
  private readers: Array<() => void> = [];
  private failure: Error | null = null;
  /** auto.offset.reset, or 'earliest' when a subscription asked `fromBeginning`. */
  private reset: OffsetReset;

  /** kafkajs's event names: `consumer.on(consumer.events.GROUP_JOIN, listener)`. */
  readonly events = CONSUMER_EVENTS;
  private readonly instrumentation: Instrumentation<ConsumerEvents>;
  private readonly ctx: ClientContext;
  private readonly retry: Required<RetryOptions>;
  private readonly fetcher: Fetcher;
  /** A run() or an iterator is handing records out. */
  private handing = false;

  constructor(
    ctx: ClientContext,
    private readonly options: ConsumerOptions<K, V> = {},
  ) {
    const instrumentation = new Instrumentation<ConsumerEvents>(ctx.logger);
    this.instrumentation = instrumentation;
    this.ctx = forComponent(ctx, {
      request: (payload) => instrumentation.emit('consumer.network.request', payload),
      timeout: (payload) => instrumentation.emit('consumer.network.request_timeout', payload),
    });
    this.retry = retryPolicy(options.retry);
    const maxBytesPerPartition = options.maxBytesPerPartition ?? 1024 * 1024;
    this.opts = {
      maxWaitMs: options.maxWaitMs ?? 500,
      minBytes: options.minBytes ?? 1,
      maxBytes: options.maxBytes ?? 50 * 1024 * 1024,
      maxBytesPerPartition,
      maxBufferedBytesPerPartition: options.maxBufferedBytesPerPartition ?? 2 * maxBytesPerPartition,
      autoOffsetReset: options.autoOffsetReset ?? 'latest',
      fetchConcurrency: options.fetchConcurrency ?? 4,
      isolationLevel: options.isolationLevel ?? 'read_uncommitted',
    };
    this.reset = this.opts.autoOffsetReset;
    this.fetcher = new Fetcher(this.ctx, this.opts, this.states, {
      filled: (state) => this.ready.push(state),
      fetched: () => this.notifyReaders(),
      fail: (err) => this.fail(err),
    });
  }

  /** Listens to one of `consumer.events`; returns the function that removes the listener. */
  on<K extends keyof ConsumerEvents & string>(
    type: K,
    listener: (event: InstrumentationEvent<ConsumerEvents[K]>) => void,
  ): () => void {
    return this.instrumentation.on(type, listener);
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
      this.instrumentation,
    );
    this.group.start();
    this.start();
  }

  /**
   * The group membership a transactional producer's `sendOffsets({ consumer })` sends (KIP-447):
   * the group coordinator refuses offsets from a member that is no longer in the generation.
   */
  groupMetadata(): { groupId: string; generationId: number; memberId: string; groupInstanceId: string } {
    const { groupId, groupInstanceId } = this.options;
    if (!groupId) throw new MillraceError('INVALID_REQUEST', 'groupMetadata needs a consumer created with a groupId');
    return {
      groupId,
      generationId: this.group?.generation ?? -1,
      memberId: this.group?.memberId ?? '',
      groupInstanceId: groupInstanceId ?? '',
    };
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
      busyForMs: () => {
        let oldest = Infinity;
        for (const since of this.handlerClock.values()) oldest = Math.min(oldest, since);
        return oldest === Infinity ? 0 : Date.now() - oldest;
      },
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

  /** Whether the partition was revoked, reassigned or seeked since the records were taken. */
  private isStale(taken: Taken): boolean {
    const { state } = taken;
    return this.states.get(tpKey(state.topic, state.partition)) !== state || state.generation !== taken.generation;
  }

  /** Records that the application finished the partition's records up to `offset` (inclusive). */
  private finish(taken: Taken, offset: number): void {
    if (!this.isStale(taken)) taken.state.consumed = taken.state.buffer.after(offset);
  }

  /**
   * Kafka's position(): the offset of the next record the application gets from the partition,
   * past markers and aborted transactions it skipped (null while its start is being resolved).
   */
  position(tp: { topic: string; partition: number }): bigint | null {
    const s = this.states.get(tpKey(tp.topic, tp.partition));
    if (!s) throw new MillraceError('INVALID_REQUEST', `${tp.topic}-${tp.partition} is not assigned to this consumer`);
    const next = s.buffer.isEmpty && !s.inHandler ? s.position : s.consumed;
    return next === null ? null : BigInt(next);
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
    this.notifyReaders();
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
    this.ctx.connection().then(
      () => this.instrumentation.emit('consumer.connect', {}),
      () => undefined, // the fetch loop meets the same failure and reports it
    );
    this.fetcher.start();
  }

  /** Wakes the fetch loop: a partition needs fetching again. */
  private kick(): void {
    this.fetcher.kick();
  }

  private fail(err: Error): void {
    this.failure = err;
    this.running = false;
    this.fetcher.stop();
    this.notifyReaders();
  }

  private notifyReaders(): void {
    const readers = this.readers;
    this.readers = [];
    for (const r of readers) r();
  }

  /**
   * The next records of one partition (at most `maxRecords`), waiting for data when there are
   * none. The partition is the taker's until released: no other handler gets it meanwhile.
   */
  private async next(maxRecords: number): Promise<Taken | null> {
    this.group?.polled();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closed) return null;
      const i = this.ready.findIndex((s) => !s.inHandler);
      if (i >= 0) {
        const s = this.ready.splice(i, 1)[0]!;
        if (s.paused || s.buffer.isEmpty) continue;
        const { runs, count, lastOffset } = s.buffer.take(maxRecords, `${s.topic}-${s.partition}`);
        if (s.buffer.isEmpty) this.kick();
        else this.ready.push(s);
        s.inHandler = true;
        const batch = new FetchedBatch(s.topic, s.partition, BigInt(s.highWatermark), runs, count, lastOffset);
        return { batch, state: s, generation: s.generation };
      }
      await new Promise<void>((resolve) => this.readers.push(resolve));
    }
  }

  private release(taken: Taken): void {
    taken.state.inHandler = false;
    if (!taken.state.buffer.isEmpty) this.notifyReaders();
  }

  /** Moves a partition back to `offset` for a retry, fetching it again after `delayMs`. */
  private retryFrom(taken: Taken, offset: number, delayMs: number): void {
    if (this.isStale(taken)) return;
    this.applySeek(taken.state, offset);
    taken.state.retryAt = Date.now() + delayMs;
    this.kick();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ConsumerMessage<K, V>> {
    if (this.handing)
      throw new MillraceError('INVALID_REQUEST', 'the consumer is already running: one run() or iterator at a time');
    this.handing = true;
    try {
      yield* this.iterate();
    } finally {
      this.handing = false;
    }
  }

  private async *iterate(): AsyncGenerator<ConsumerMessage<K, V>> {
    for (;;) {
      const taken = await this.next(1);
      if (!taken) return;
      const preparing = this.prepare(taken.batch);
      try {
        if (preparing) await preparing;
      } catch (err) {
        this.release(taken);
        throw err;
      }
      const m = taken.batch.messages[0] as ConsumerMessage<unknown, unknown> as ConsumerMessage<K, V>;
      this.handlerClock.set(-1, Date.now());
      try {
        yield m;
      } finally {
        // The application asked for the next message (or stopped): this one is done.
        this.handlerClock.delete(-1);
        this.finish(taken, Number(m.offset));
        this.release(taken);
      }
    }
  }

  /**
   * Hands records to eachMessage or eachBatch until the consumer is closed, then resolves; rejects
   * with the error that stopped it (a handler that failed past its retries when restartOnFailure
   * says stop, or a consumer failure). See RunOptions and RetryOptions.
   */
  async run(handlers: RunOptions<K, V>): Promise<void> {
    if (this.handing)
      throw new MillraceError('INVALID_REQUEST', 'the consumer is already running: one run() or iterator at a time');
    const runner = new Runner(this.runnerHost(), this.ctx, this.instrumentation, this.retry, handlers);
    this.handing = true;
    try {
      await runner.run();
    } finally {
      this.handing = false;
    }
  }

  private prepare(batch: FetchedBatch): Promise<void> | undefined {
    const { deserializers } = this.options;
    return deserializers ? batch.deserialize(deserializers as Deserializers<unknown, unknown>) : undefined;
  }

  private runnerHost(): RunnerHost {
    return {
      groupId: this.options.groupId ?? null,
      next: (max) => this.next(max),
      release: (taken) => this.release(taken),
      isStale: (taken) => this.isStale(taken),
      finish: (taken, offset) => this.finish(taken, offset),
      retryFrom: (taken, offset, delayMs) => this.retryFrom(taken, offset, delayMs),
      handlerStarted: (worker) => this.handlerClock.set(worker, Date.now()),
      handlerEnded: (worker) => this.handlerClock.delete(worker),
      heartbeat: async (worker) => {
        if (this.handlerClock.has(worker)) this.handlerClock.set(worker, Date.now());
        await this.group?.heartbeatNow();
      },
      commit: (offsets) => this.group?.commit(offsets) ?? Promise.resolve(),
      commitIfDue: () => this.group?.commitIfDue() ?? Promise.resolve(),
      uncommitted: () => this.group?.uncommitted() ?? [],
      pause: (tp) => {
        this.pause([tp]);
        return () => this.resume([tp]);
      },
      isRunning: () => !this.closed && this.failure === null,
      stop: () => this.close(),
      prepare: (batch) => this.prepare(batch),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // The member commits and revokes what it owns (and leaves) while the partitions are still here.
    await this.group?.close();
    this.closed = true;
    this.running = false;
    this.notifyReaders();
    await this.fetcher.stop();
    this.instrumentation.emit('consumer.disconnect', {});
  }
}
