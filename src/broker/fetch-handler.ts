/**
 * The fetch path, for consumers and followers alike: reads whole stored batches up to the high
 * watermark (followers: the log end, with KIP-320 divergence), long-polls until min bytes or max
 * wait, and keeps followers' incremental fetch sessions (KIP-227).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { MillraceError } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { LAST_OFFSET_DELTA, LOG_OVERHEAD, RECORD_COUNT } from '../../protocol/records/batch.js';
import type { MetadataImage } from '../cluster/image.js';
import type { BrokerMetrics } from '../metrics/catalogue.js';
import { maxPayload } from '../transport/connection.js';
import { FetchSession, FetchSessions } from './fetch-session.js';
import type { HostedPartition } from './hosted-partition.js';
import { perPartition } from './per-partition.js';
import type { ReplicaManager } from './replica-manager.js';

/** Room left in a NATS reply for everything but record bytes. */
const ENVELOPE_BYTES = 64 * 1024;

/** Records in a buffer of whole batches, from their headers. */
function countRecords(batches: Buffer): number {
  let n = 0;
  for (let p = 0; p + RECORD_COUNT + 4 <= batches.length; p += batches.readInt32BE(p + 8) + LOG_OVERHEAD)
    n += batches.readInt32BE(p + RECORD_COUNT);
  return n;
}

/** One past the last offset of a buffer of whole batches. */
function endOfBatches(batches: Buffer): number {
  let end = 0;
  for (let p = 0; p + RECORD_COUNT + 4 <= batches.length; p += batches.readInt32BE(p + 8) + LOG_OVERHEAD)
    end = Number(batches.readBigInt64BE(p)) + batches.readInt32BE(p + LAST_OFFSET_DELTA) + 1;
  return end;
}

export interface FetchContext {
  nc: NatsConnection;
  image: () => MetadataImage;
  replicas: ReplicaManager;
  metrics: BrokerMetrics;
}

/** What a fetch reads: a request's partitions, or a fetch session's. */
interface FetchQuery {
  replicaId: number;
  topics: millrace.IFetchTopic[];
  isolationLevel?: number;
}

export const READ_COMMITTED = 1;

/** A fetch's reply, its record bytes, and whether it must be sent at once (an error or a divergence). */
interface FetchResult {
  response: millrace.IFetchResponse;
  bytes: number;
  error: boolean;
}

export class FetchHandler {
  private readonly fetchSessions = new FetchSessions();

  constructor(private readonly ctx: FetchContext) {}

  /**
   * A consumer fetch (reads below the high watermark) or a follower's (to the log end, KIP-320
   * divergence). A follower's request may belong to an incremental fetch session.
   */
  async fetch(
    req: millrace.FetchRequest,
    replica: boolean,
    limit = maxPayload(this.ctx.nc) - ENVELOPE_BYTES,
  ): Promise<millrace.IFetchResponse> {
    const maxBytes = Math.min(req.maxBytes > 0 ? req.maxBytes : 50 * 1024 * 1024, limit);
    if (replica && req.sessionEpoch > 0) {
      const session = this.fetchSessions.resolve(req);
      session.update(req);
      return session.trim(await this.pollSession(session, req, maxBytes));
    }
    const watched = req.topics.flatMap((t) => t.partitions.map((request) => ({ topic: t.name, request })));
    const response = await this.longPoll(() => this.readFetch(req, maxBytes, replica), watched, req, replica);
    return replica ? response : this.sent(response);
  }

  /** A session's round: read what is dirty; if nothing is to tell, park until data arrives or max wait. */
  private async pollSession(
    session: FetchSession,
    req: millrace.FetchRequest,
    maxBytes: number,
  ): Promise<millrace.IFetchResponse> {
    const first = this.readSession(session, maxBytes);
    if (first.bytes > 0 || first.error || req.maxWaitMs <= 0 || req.minBytes <= 0) return first.response;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => session.parked?.(), req.maxWaitMs);
      session.parked = () => {
        clearTimeout(timer);
        session.parked = null;
        resolve();
      };
    });
    session.lastRoundMs = Date.now();
    return this.readSession(session, maxBytes).response;
  }

  /**
   * The dirty partitions of a session that have something to tell. One found idle (a caught-up
   * follower at the log end, nothing new to say) leaves the dirty set: until the leader touches
   * it again it costs nothing per round, and its follower counts as caught up at each round.
   */
  private readSession(session: FetchSession, maxBytes: number): FetchResult {
    const busy = new Map<string, millrace.IFetchPartition[]>();
    // Deleting the entry being visited is safe while iterating a Set.
    for (const e of session.dirty) {
      const hp = e.replica?.isLeader ? e.replica : this.ctx.replicas.get(e.topic, e.request.partition ?? 0);
      session.watch(e, hp);
      const log = hp?.log;
      if (
        hp?.isLeader &&
        e.request.currentLeaderEpoch === hp.leaderEpoch &&
        FetchSession.told(e, hp.highWatermark, log!.logStartOffset, log!.logEndOffset) &&
        hp.followerIdle(session.replicaId, Number(e.request.fetchOffset), session)
      ) {
        session.dirty.delete(e);
        continue;
      }
      const ps = busy.get(e.topic);
      if (ps) ps.push(e.request);
      else busy.set(e.topic, [e.request]);
    }
    const topics = [...busy].map(([name, partitions]) => ({ name, partitions }));
    return this.readFetch({ replicaId: session.replicaId, topics }, maxBytes, true);
  }

  /**
   * Reads now, or parks until data arrives on a watched partition (or its leadership ends) or
   * max wait passes, then reads once. With min bytes above 1 each arrival reads again to count.
   */
  private async longPoll(
    read: () => FetchResult,
    watched: Array<{ topic: string; request: millrace.IFetchPartition }>,
    req: millrace.FetchRequest,
    replica: boolean,
  ): Promise<millrace.IFetchResponse> {
    const minBytes = Math.max(req.minBytes, 0);
    const first = read();
    if (first.bytes >= minBytes || first.error || req.maxWaitMs <= 0 || minBytes === 0) return first.response;
    const parked: Array<{ hp: HostedPartition; wake: () => void }> = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), req.maxWaitMs);
      const done = (): void => {
        clearTimeout(timer);
        for (const w of parked) w.hp.waiters.delete(w.wake);
        resolve();
      };
      for (const { topic, request } of watched) {
        const hp = this.ctx.replicas.get(topic, request.partition ?? 0);
        if (!hp) continue;
        const from = Number(request.fetchOffset ?? 0);
        const committedOnly = req.isolationLevel === READ_COMMITTED;
        const wake = (): void => {
          const end = replica
            ? hp.log.logEndOffset
            : committedOnly
              ? hp.log.lastStableOffset(hp.highWatermark)
              : hp.highWatermark;
          if (hp.isLeader && end <= from) return;
          if (minBytes <= 1 || !hp.isLeader || read().bytes >= minBytes) done();
        };
        hp.waiters.add(wake);
        parked.push({ hp, wake });
      }
    });
    return read().response;
  }

  private sent(response: millrace.IFetchResponse): millrace.IFetchResponse {
    for (const t of response.topics ?? []) {
      for (const p of t.partitions ?? []) {
        const records = p.records as Buffer | undefined;
        if (records && records.length > 0) {
          this.ctx.metrics.bytesOut.inc({ topic: t.name ?? '' }, records.length);
          this.ctx.metrics.messagesOut.inc({ topic: t.name ?? '' }, countRecords(records));
        }
      }
    }
    return response;
  }

  /**
   * Reads a fetch's partitions. `error` means "answer now" (an error or a divergence). For a
   * follower, the fetch offset is its log end: recorded before reading, so the high watermark and
   * the ISR follow it.
   */
  private readFetch(req: FetchQuery, maxBytes: number, replica: boolean): FetchResult {
    const image = this.ctx.image();
    let bytes = 0;
    let error = false;
    const committedOnly = !replica && req.isolationLevel === READ_COMMITTED;
    const topics = perPartition<millrace.IFetchPartition, millrace.IFetchPartitionResponse>(
      this.ctx.replicas,
      image,
      req.topics,
      (hp, p, partition) => {
        const fetchOffset = Number(p.fetchOffset ?? 0);
        // Read when answering: recording a follower's fetch can move the high watermark.
        const positions = () => ({
          partition,
          errorCode: 0,
          highWatermark: hp.highWatermark,
          lastStableOffset: hp.log.lastStableOffset(hp.highWatermark),
          logStartOffset: hp.log.logStartOffset,
          logEndOffset: hp.log.logEndOffset,
        });
        const epoch = p.currentLeaderEpoch ?? -1;
        if (replica && !hp.replicas.includes(req.replicaId)) {
          throw new MillraceError(
            'NOT_LEADER_OR_FOLLOWER',
            `broker ${req.replicaId} is not a replica of ${hp.topic}-${partition}`,
          );
        }
        if (epoch >= 0 && epoch < hp.leaderEpoch)
          throw new MillraceError('FENCED_LEADER_EPOCH', `leader epoch ${epoch} is older than ${hp.leaderEpoch}`);
        if (epoch > hp.leaderEpoch)
          throw new MillraceError('UNKNOWN_LEADER_EPOCH', `leader epoch ${epoch} is newer than ${hp.leaderEpoch}`);
        if (replica) {
          const lastFetchedEpoch = p.lastFetchedEpoch ?? -1;
          if (lastFetchedEpoch >= 0) {
            const end = hp.log.leaderEpochCache.endOffsetFor(lastFetchedEpoch, hp.log.logEndOffset);
            if (end.epoch >= 0 && (end.epoch < lastFetchedEpoch || end.endOffset < fetchOffset)) {
              error = true;
              return {
                ...positions(),
                diverging: true,
                divergingEpoch: end.epoch,
                divergingEndOffset: end.endOffset,
              };
            }
          }
          if (fetchOffset < hp.log.logStartOffset || fetchOffset > hp.log.logEndOffset) {
            error = true;
            const e = new MillraceError(
              'OFFSET_OUT_OF_RANGE',
              `follower offset ${fetchOffset} is outside [${hp.log.logStartOffset}, ${hp.log.logEndOffset}]`,
            );
            return { ...positions(), errorCode: e.code, errorMessage: e.detail };
          }
          hp.followerFetched(req.replicaId, fetchOffset);
        }
        const room = maxBytes - bytes;
        const partMax = Math.min(
          p.partitionMaxBytes && p.partitionMaxBytes > 0 ? p.partitionMaxBytes : 1024 * 1024,
          room,
        );
        // KIP-74: the first partition with data gets at least one whole batch. Followers read to
        // the log end, read_committed consumers to the last stable offset.
        const bound = replica
          ? hp.log.logEndOffset
          : committedOnly
            ? hp.log.lastStableOffset(hp.highWatermark)
            : hp.highWatermark;
        const read =
          partMax > 0 || bytes === 0 ? hp.log.read(fetchOffset, Math.max(partMax, 1), bound, bytes === 0) : null;
        const records = read?.records ?? Buffer.alloc(0);
        bytes += records.length;
        if (!committedOnly || records.length === 0) return { ...positions(), records };
        const abortedTransactions = hp.log
          .abortedTransactions(fetchOffset, endOfBatches(records))
          .map((a) => ({ producerId: a.producerId, firstOffset: a.firstOffset }));
        return { ...positions(), records, abortedTransactions };
      },
      (partition, e) => {
        error = true;
        return { partition, ...e, highWatermark: -1, logStartOffset: -1, logEndOffset: -1 };
      },
    );
    return { response: { topics }, bytes, error };
  }
}
