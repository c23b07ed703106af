/**
 * The consumer's fetching, ahead of the application: long-poll fetches per leader broker, up to
 * fetchConcurrency per broker over disjoint partitions, each partition buffering up to
 * maxBufferedBytesPerPartition before its fetching pauses; positions without an offset resolved
 * by ListOffsets from the partition's seek or autoOffsetReset.
 */
import { MillraceError } from '../../protocol/errors.js';
import { tpKey } from '../../protocol/topic-partition.js';
import { wire } from '../../protocol/wire.js';
import { maxPayload } from '../transport/connection.js';
import { callBroker, needsMetadataRefresh, sleep, type ClientContext } from './context.js';
import { NoOffsetForPartitionError, OffsetOutOfRangeError } from './errors.js';
import type { AbortedList, PartitionState } from './fetched.js';
import { whileBrokerAlive } from './liveness.js';
import { EARLIEST, LATEST, listOffsets } from './offsets.js';
import type { FetchOptions } from './types.js';

/** What the fetcher tells its consumer. */
export interface FetcherHost {
  /** A partition's buffer went from empty to holding records. */
  filled(state: PartitionState): void;
  /** A fetch reply was taken in. */
  fetched(): void;
  /** Fetching cannot go on (a non-retriable error). */
  fail(err: Error): void;
}

export class Fetcher {
  /** Fetches in flight, by leader and partition group. */
  private readonly inflight = new Set<string>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;

  constructor(
    private readonly ctx: ClientContext,
    private readonly opts: Required<FetchOptions>,
    private readonly states: Map<string, PartitionState>,
    private readonly host: FetcherHost,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.fetchLoop().catch((err: unknown) => this.host.fail(err as Error));
  }

  /** Resolves once the loop has stopped (fetches in flight are left to finish on their own). */
  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    await this.loop;
  }

  kick(): void {
    const w = this.wakeLoop;
    this.wakeLoop = null;
    w?.();
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
          .catch((err: unknown) => this.host.fail(err as Error))
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
              this.opts.isolationLevel,
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
        callBroker(
          this.ctx,
          leader,
          'fetch',
          wire.FetchRequest,
          {
            replicaId: -1,
            maxWaitMs: this.opts.maxWaitMs,
            minBytes: this.opts.minBytes,
            maxBytes: Math.min(this.opts.maxBytes, maxPayload(nc) - 64 * 1024),
            topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
            isolationLevel: this.opts.isolationLevel === 'read_committed' ? 1 : 0,
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
        if (p.records && p.records.length > 0) {
          this.ctx.metrics?.bytesReceived.inc({ client_id: this.ctx.clientId, topic: s.topic }, p.records.length);
          this.accept(s, positions[i]!, p.records, p.abortedTransactions);
        }
      }
    }
    this.host.fetched();
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
  private accept(s: PartitionState, from: number, records: Uint8Array, aborted: AbortedList | null | undefined): void {
    const wasEmpty = s.buffer.isEmpty;
    const committedOnly = this.opts.isolationLevel === 'read_committed';
    const next = s.buffer.add(records, from, `${s.topic}-${s.partition}`, committedOnly ? (aborted ?? []) : null);
    if (next !== null) s.position = Math.max(s.position ?? 0, next);
    // Only skipped offsets fetched (a marker) after everything finished: the position moves past them.
    if (s.consumed !== null && !s.inHandler) s.consumed = s.buffer.skippedAt(s.consumed);
    if (wasEmpty && !s.buffer.isEmpty) this.host.filled(s);
  }
}
