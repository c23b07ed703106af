/**
 * Follower replication: one fetcher per leader broker, carrying every partition this broker
 * follows there in one long-poll FetchRequest on the leader's internal subject. The fetch offset
 * is the follower's log end (that is how the leader learns it); the last fetched epoch lets the
 * leader report divergence, and the follower then truncates by leader epoch (KIP-101/279/320),
 * never by high watermark.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { MillraceError } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { maxPayload } from '../transport/connection.js';
import { request } from '../transport/rpc.js';
import type { HostedPartition } from './hosted-partition.js';
import { tpKey } from '../../protocol/topic-partition.js';

const MAX_WAIT_MS = 500;
const BACKOFF_MS = 200;

export interface FetcherContext {
  nc: NatsConnection;
  cluster: string;
  brokerId: number;
  brokerEpoch: () => number;
  requestTimeoutMs: number;
  logger: Logger;
}

/** What a follower asks of one partition; a session resends it only when it changes. */
function fetchState(hp: HostedPartition): millrace.IFetchPartition {
  return {
    partition: hp.partition,
    fetchOffset: hp.log.logEndOffset,
    currentLeaderEpoch: hp.leaderEpoch,
    partitionMaxBytes: 1024 * 1024,
    logStartOffset: hp.log.logStartOffset,
    lastFetchedEpoch: hp.log.leaderEpochCache.latestEpoch(),
  };
}

const sameState = (a: millrace.IFetchPartition | undefined, b: millrace.IFetchPartition): boolean =>
  !!a &&
  a.fetchOffset === b.fetchOffset &&
  a.currentLeaderEpoch === b.currentLeaderEpoch &&
  a.logStartOffset === b.logStartOffset &&
  a.lastFetchedEpoch === b.lastFetchedEpoch;

class ReplicaFetcher {
  readonly partitions = new Set<HostedPartition>();
  /** The same partitions by topic\0partition, to match a reply's entries. */
  private readonly byKey = new Map<string, HostedPartition>();
  /** The leader's fetch session (0: none yet), its epoch, and what it holds of each partition. */
  private sessionId = 0;
  private sessionEpoch = 0;
  private readonly sent = new Map<HostedPartition, millrace.IFetchPartition>();
  /** Partitions whose fetch state may have moved since it was sent (appends, truncation, role). */
  readonly changed = new Set<HostedPartition>();
  private running = true;
  private wake: (() => void) | null = null;
  private readonly backoffUntil = new Map<HostedPartition, number>();
  readonly done: Promise<void>;

  constructor(
    private readonly ctx: FetcherContext,
    readonly leader: number,
  ) {
    this.done = this.loop().catch((err: unknown) => ctx.logger.error({ err, leader }, 'replica fetcher stopped'));
  }

  add(hp: HostedPartition): void {
    this.partitions.add(hp);
    this.byKey.set(tpKey(hp.topic, hp.partition), hp);
    this.changed.add(hp);
  }

  remove(hp: HostedPartition): void {
    this.partitions.delete(hp);
    if (this.byKey.get(tpKey(hp.topic, hp.partition)) === hp) this.byKey.delete(tpKey(hp.topic, hp.partition));
  }

  kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  stop(): void {
    this.running = false;
    this.kick();
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      setTimeout(resolve, ms).unref();
    });
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const now = Date.now();
      const batch = [...this.partitions].filter(
        (hp) => hp.isFollower && hp.leader === this.leader && (this.backoffUntil.get(hp) ?? 0) <= now,
      );
      if (batch.length === 0) {
        await this.idle(BACKOFF_MS);
        continue;
      }
      try {
        await this.fetchOnce(batch);
      } catch (err) {
        this.ctx.logger.debug({ leader: this.leader, err: (err as Error).message }, 'replica fetch failed; retrying');
        await this.idle(BACKOFF_MS);
      }
    }
  }

  /**
   * One fetch from the leader, in an incremental session (KIP-227): the first request opens it
   * with every partition; later ones send only partitions whose fetch state changed and those to
   * forget. Any failure drops the session, so the next request is whole again.
   */
  private async fetchOnce(batch: HostedPartition[]): Promise<void> {
    const opening = this.sessionId === 0;
    const inBatch = new Set(batch);
    // Only partitions that may have moved get a new fetch state; the session holds the others'.
    const states = new Map<HostedPartition, millrace.IFetchPartition>();
    for (const hp of batch) if (opening || this.changed.has(hp) || !this.sent.has(hp)) states.set(hp, fetchState(hp));
    this.changed.clear();
    const topics = new Map<string, millrace.IFetchPartition[]>();
    for (const [hp, state] of states) {
      if (!opening && sameState(this.sent.get(hp), state)) continue;
      const ps = topics.get(hp.topic);
      if (ps) ps.push(state);
      else topics.set(hp.topic, [state]);
    }
    const forgotten = new Map<string, number[]>();
    if (!opening)
      for (const hp of this.sent.keys()) {
        if (inBatch.has(hp)) continue;
        const ps = forgotten.get(hp.topic);
        if (ps) ps.push(hp.partition);
        else forgotten.set(hp.topic, [hp.partition]);
      }
    const epochs = new Map(batch.map((hp) => [hp, hp.leaderEpoch]));
    let res: millrace.FetchResponse;
    try {
      res = await request(
        this.ctx.nc,
        subjects.brokerInternal(this.ctx.cluster, this.leader, 'replica_fetch'),
        wire.FetchRequest,
        {
          replicaId: this.ctx.brokerId,
          replicaEpoch: this.ctx.brokerEpoch(),
          maxWaitMs: MAX_WAIT_MS,
          minBytes: 1,
          maxBytes: maxPayload(this.ctx.nc) - 64 * 1024,
          topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
          sessionId: this.sessionId,
          sessionEpoch: opening ? 1 : this.sessionEpoch + 1,
          forgotten: [...forgotten].map(([name, partitions]) => ({ name, partitions })),
        },
        wire.FetchResponse,
        this.ctx.requestTimeoutMs + MAX_WAIT_MS,
      );
    } catch (err) {
      this.sessionId = 0;
      this.sent.clear();
      for (const hp of batch) this.changed.add(hp);
      throw err;
    }
    if (opening) {
      this.sessionId = res.sessionId;
      this.sessionEpoch = 1;
      this.sent.clear();
    } else this.sessionEpoch++;
    for (const hp of this.sent.keys()) if (!inBatch.has(hp)) this.sent.delete(hp);
    // A leader that keeps no sessions (id 0) gets whole requests every time.
    if (this.sessionId !== 0) for (const [hp, state] of states) this.sent.set(hp, state);
    else this.sent.clear();
    for (const t of res.topics) {
      for (const p of t.partitions) {
        const hp = this.byKey.get(tpKey(t.name, p.partition));
        // Drop replies for partitions whose role or epoch changed while the fetch was out.
        if (!hp || !inBatch.has(hp) || !hp.isFollower || hp.leader !== this.leader || hp.leaderEpoch !== epochs.get(hp))
          continue;
        // Whatever a reply says of a partition may move its fetch state (appends, truncation, log start).
        this.changed.add(hp);
        try {
          this.applyPartition(hp, p);
        } catch (err) {
          this.ctx.logger.error({ topic: hp.topic, partition: hp.partition, err }, 'cannot apply replicated data');
          this.backoffUntil.set(hp, Date.now() + BACKOFF_MS);
        }
      }
    }
  }

  private applyPartition(
    hp: HostedPartition,
    p: {
      errorCode: number;
      errorMessage: string;
      highWatermark: number;
      logStartOffset: number;
      logEndOffset: number;
      records: Uint8Array;
      diverging: boolean;
      divergingEpoch: number;
      divergingEndOffset: number;
    },
  ): void {
    const log = hp.log;
    if (p.errorCode) {
      const err = MillraceError.fromCode(p.errorCode, p.errorMessage);
      if (err.errorName === 'OFFSET_OUT_OF_RANGE' && p.logStartOffset >= 0) {
        if (log.logEndOffset < p.logStartOffset) log.truncateFullyAndStartAt(p.logStartOffset);
        else if (log.logEndOffset > p.logEndOffset) log.truncateTo(p.logEndOffset);
        hp.highWatermark = Math.min(hp.highWatermark, log.logEndOffset);
        return;
      }
      this.backoffUntil.set(hp, Date.now() + BACKOFF_MS);
      return;
    }
    if (p.diverging) {
      // The leader's log ends epoch `divergingEpoch` at `divergingEndOffset`: cut there, and no
      // later than this log's own end of that epoch.
      hp.actor.send({ type: 'DIVERGED' });
      const local = log.leaderEpochCache.endOffsetFor(p.divergingEpoch, log.logEndOffset);
      const cut = local.endOffset >= 0 ? Math.min(p.divergingEndOffset, local.endOffset) : p.divergingEndOffset;
      if (log.truncateTo(cut)) {
        this.ctx.logger.warn(
          { topic: hp.topic, partition: hp.partition, divergingEpoch: p.divergingEpoch, truncatedTo: log.logEndOffset },
          'truncated a divergent log tail',
        );
      }
      hp.highWatermark = Math.min(hp.highWatermark, log.logEndOffset);
      hp.actor.send({ type: 'TRUNCATED' });
      return;
    }
    if (p.records && p.records.length > 0) {
      const records = Buffer.isBuffer(p.records)
        ? p.records
        : Buffer.from(p.records.buffer, p.records.byteOffset, p.records.byteLength);
      log.appendAsFollower(records);
    }
    if (p.logStartOffset > log.logStartOffset && p.logStartOffset <= log.logEndOffset)
      log.maybeIncrementLogStartOffset(p.logStartOffset);
    hp.followHighWatermark(p.highWatermark);
    hp.followerLag = Math.max(0, p.logEndOffset - log.logEndOffset);
    hp.wakeWatchers();
  }
}

/** Keeps one fetcher per leader broker with the partitions this broker follows there. */
export class ReplicaFetcherManager {
  private readonly fetchers = new Map<number, ReplicaFetcher>();

  constructor(private readonly ctx: FetcherContext) {}

  /** Moves a partition to the fetcher of its current leader (or out of all when it leads or is offline). */
  update(hp: HostedPartition): void {
    for (const [leader, f] of this.fetchers) {
      if (f.partitions.has(hp) && (!hp.isFollower || hp.leader !== leader)) f.remove(hp);
    }
    if (!hp.isFollower) return;
    let fetcher = this.fetchers.get(hp.leader);
    if (!fetcher) {
      fetcher = new ReplicaFetcher(this.ctx, hp.leader);
      this.fetchers.set(hp.leader, fetcher);
    }
    fetcher.add(hp);
    fetcher.kick();
  }

  async stop(): Promise<void> {
    for (const f of this.fetchers.values()) f.stop();
    await Promise.all([...this.fetchers.values()].map((f) => f.done));
    this.fetchers.clear();
  }
}
