/**
 * Incremental fetch sessions on the leader (KIP-227), for followers. A follower that fetches
 * thousands of partitions from one leader sends the whole list once; after that each request
 * carries only the partitions whose fetch state changed, and each reply only the partitions with
 * something new (records, an error, a divergence, moved offsets). An idle follower's long poll
 * then costs bytes in proportion to what changed, not to the partitions it follows.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import type { HostedPartition } from './hosted-partition.js';

/** A session unused this long is dropped; its follower opens a new one. */
const SESSION_IDLE_MS = 120_000;

export interface SessionPartition {
  readonly topic: string;
  request: millrace.IFetchPartition;
  /** The leader replica it watches (the caller resolves it again when it stops leading). */
  replica: HostedPartition | undefined;
  /** Registered with the replica: marks the partition dirty, and ends a parked poll when data arrives. */
  readonly wake: () => void;
  /** What the follower was last told: a partition is answered again only when one of them moves. */
  sentHighWatermark: number;
  sentLogStartOffset: number;
  sentLogEndOffset: number;
}

export class FetchSession {
  readonly partitions = new Map<string, Map<number, SessionPartition>>();
  /**
   * Partitions that may have something to tell or to record: new or changed in a request, or
   * touched on the leader (an append, a moved high watermark, a role change) since they were
   * last found idle. Only these are looked at in a round.
   */
  readonly dirty = new Set<SessionPartition>();
  epoch: number;
  lastUsedMs: number;
  /** When the follower last fetched: an idle partition's follower counts as caught up then. */
  lastRoundMs: number;
  /** Ends the long poll that is waiting, if one is. */
  parked: (() => void) | null = null;

  constructor(
    readonly id: number,
    readonly replicaId: number,
    now: number,
  ) {
    this.epoch = 1;
    this.lastUsedMs = now;
    this.lastRoundMs = now;
  }

  /** Applies a request's changes: added or updated partitions, then forgotten ones. */
  update(req: millrace.FetchRequest): void {
    for (const t of req.topics) {
      let ps = this.partitions.get(t.name);
      if (!ps) this.partitions.set(t.name, (ps = new Map()));
      for (const p of t.partitions) {
        let e = ps.get(p.partition);
        if (e) e.request = p;
        else ps.set(p.partition, (e = this.entry(t.name, p)));
        this.dirty.add(e);
      }
    }
    for (const f of req.forgotten) {
      const ps = this.partitions.get(f.name);
      for (const p of f.partitions) {
        const e = ps?.get(p);
        if (!e) continue;
        this.watch(e, undefined);
        this.dirty.delete(e);
        ps!.delete(p);
      }
      if (ps?.size === 0) this.partitions.delete(f.name);
    }
  }

  private entry(topic: string, request: millrace.IFetchPartition): SessionPartition {
    const e: SessionPartition = {
      topic,
      request,
      replica: undefined,
      wake: () => {
        this.dirty.add(e);
        const hp = e.replica;
        if (this.parked && hp && (!hp.isLeader || hp.log.logEndOffset > Number(e.request.fetchOffset))) this.parked();
      },
      sentHighWatermark: -1,
      sentLogStartOffset: -1,
      sentLogEndOffset: -1,
    };
    return e;
  }

  /** Moves a partition's watch to the replica now found for it. */
  watch(e: SessionPartition, replica: HostedPartition | undefined): void {
    if (e.replica === replica) return;
    e.replica?.waiters.delete(e.wake);
    e.replica = replica;
    replica?.waiters.add(e.wake);
  }

  /** Stops watching every partition (the session is dropped). */
  close(): void {
    this.parked?.();
    for (const e of this.entries()) this.watch(e, undefined);
    this.dirty.clear();
  }

  *entries(): IterableIterator<SessionPartition> {
    for (const ps of this.partitions.values()) yield* ps.values();
  }

  /** Whether the follower already knows these positions of a partition (nothing new to tell it). */
  static told(s: SessionPartition, highWatermark: number, logStartOffset: number, logEndOffset: number): boolean {
    return (
      s.sentHighWatermark === highWatermark &&
      s.sentLogStartOffset === logStartOffset &&
      s.sentLogEndOffset === logEndOffset
    );
  }

  /** Keeps the partitions of a whole reply that the follower needs to hear about, and notes what it was told. */
  trim(response: millrace.IFetchResponse): millrace.IFetchResponse {
    const topics: millrace.IFetchTopicResponse[] = [];
    for (const t of response.topics ?? []) {
      const ps = this.partitions.get(t.name ?? '');
      const kept = (t.partitions ?? []).filter((p) => {
        const s = ps?.get(p.partition ?? 0);
        if (!s) return true;
        const hw = Number(p.highWatermark ?? -1);
        const start = Number(p.logStartOffset ?? -1);
        const end = Number(p.logEndOffset ?? -1);
        const news =
          (p.records?.length ?? 0) > 0 ||
          !!p.errorCode ||
          !!p.diverging ||
          hw !== s.sentHighWatermark ||
          start !== s.sentLogStartOffset ||
          end !== s.sentLogEndOffset;
        if (news) {
          s.sentHighWatermark = hw;
          s.sentLogStartOffset = start;
          s.sentLogEndOffset = end;
        }
        return news;
      });
      if (kept.length) topics.push({ name: t.name, partitions: kept });
    }
    return { topics, sessionId: this.id };
  }
}

/** The leader's sessions, one per follower broker. */
export class FetchSessions {
  private readonly byId = new Map<number, FetchSession>();
  private nextId = 1;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.byId.size;
  }

  /**
   * The session a follower's request belongs to: epoch 1 opens a new one (replacing that
   * follower's old session); a later epoch must name a live session and follow its last epoch.
   */
  resolve(req: millrace.FetchRequest): FetchSession {
    const now = this.now();
    for (const [id, s] of this.byId) if (now - s.lastUsedMs > SESSION_IDLE_MS) this.drop(id, s);
    if (req.sessionEpoch === 1) {
      for (const [id, s] of this.byId) if (s.replicaId === req.replicaId) this.drop(id, s);
      const session = new FetchSession(this.nextId++, req.replicaId, now);
      this.byId.set(session.id, session);
      return session;
    }
    const session = this.byId.get(req.sessionId);
    if (!session || session.replicaId !== req.replicaId)
      throw new MillraceError('FETCH_SESSION_ID_NOT_FOUND', `fetch session ${req.sessionId} is not known here`);
    if (req.sessionEpoch !== session.epoch + 1)
      throw new MillraceError(
        'INVALID_FETCH_SESSION_EPOCH',
        `fetch session ${req.sessionId} is at epoch ${session.epoch}, not ${req.sessionEpoch - 1}`,
      );
    session.epoch = req.sessionEpoch;
    session.lastUsedMs = now;
    session.lastRoundMs = now;
    return session;
  }

  private drop(id: number, session: FetchSession): void {
    this.byId.delete(id);
    session.close();
  }

  /** Drops every session (the broker stops serving). */
  close(): void {
    for (const [id, s] of this.byId) this.drop(id, s);
  }
}
