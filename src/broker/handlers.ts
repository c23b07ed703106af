/**
 * The broker's client-facing request handlers. The data path is plain code: a produce appends
 * the request's batches as they arrived (the leader validates headers and CRCs, never decodes
 * records), a fetch returns stored batches as they are.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ErrorCodes, MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { RECORD_COUNT, LOG_OVERHEAD } from '../../protocol/records/batch.js';
import { subjects, type BrokerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import type { ControllerClient } from '../cluster/controller-client.js';
import type { MetadataImage } from '../cluster/image.js';
import type { BrokerMetrics } from '../metrics/catalogue.js';
import { LATEST_TIMESTAMP } from '../storage/log.js';
import { maxPayload } from '../transport/connection.js';
import type { MessageType, RpcServer } from '../transport/rpc.js';
import { OFFSETS_TOPIC, type GroupCoordinator } from './group/coordinator.js';
import { FetchSession, FetchSessions } from './fetch-session.js';
import type { ProducerIdManager } from './producer-ids.js';
import type { HostedPartition } from './hosted-partition.js';
import type { ReplicaManager } from './replica-manager.js';

export type AdminApi =
  'create_topics' | 'delete_topics' | 'create_partitions' | 'elect_leaders' | 'alter_reassignments';

/** Room left in a reply for everything but record bytes. */
const ENVELOPE_BYTES = 64 * 1024;
const ADMIN_TIMEOUT_MS = 30_000;

/** Records in a buffer of whole batches, from their headers. */
function countRecords(batches: Buffer): number {
  let n = 0;
  for (let p = 0; p + RECORD_COUNT + 4 <= batches.length; p += batches.readInt32BE(p + 8) + LOG_OVERHEAD)
    n += batches.readInt32BE(p + RECORD_COUNT);
  return n;
}

/** Runs `fn` for each requested partition at its leader replica; any error becomes that partition's error fields. */
function perPartition<P extends { partition?: number | null }, R>(
  replicas: ReplicaManager,
  image: MetadataImage,
  topics: Array<{ name?: string | null; partitions?: P[] | null }>,
  fn: (hp: HostedPartition, p: P, partition: number) => R,
  failed: (partition: number, error: { errorCode: number; errorMessage: string }) => R,
): Array<{ name: string | null | undefined; partitions: R[] }> {
  return topics.map((t) => ({
    name: t.name,
    partitions: (t.partitions ?? []).map((p) => {
      const partition = p.partition ?? 0;
      try {
        return fn(replicas.leaderFor(image, t.name ?? '', partition), p, partition);
      } catch (err) {
        return failed(partition, errorFields(err));
      }
    }),
  }));
}

export interface HandlerContext {
  brokerId: number;
  cluster: string;
  nc: NatsConnection;
  image: () => MetadataImage;
  replicas: ReplicaManager;
  controller: ControllerClient;
  producerIds: ProducerIdManager;
  groups: GroupCoordinator;
  metrics: BrokerMetrics;
  logger: Logger;
}

/** What a fetch reads: a request's partitions, or a fetch session's. */
interface FetchQuery {
  replicaId: number;
  topics: millrace.IFetchTopic[];
}

/** A fetch's reply, its record bytes, and whether it must be sent at once (an error or a divergence). */
interface FetchResult {
  response: millrace.IFetchResponse;
  bytes: number;
  error: boolean;
}

export class BrokerHandlers {
  private readonly fetchSessions = new FetchSessions();

  constructor(private readonly ctx: HandlerContext) {}

  register(rpc: RpcServer): void {
    const { cluster, brokerId } = this.ctx;
    const api = (name: Parameters<typeof subjects.brokerApi>[2]) => subjects.brokerApi(cluster, brokerId, name);
    rpc.handle(
      'metadata',
      subjects.metadata(cluster),
      wire.MetadataRequest,
      wire.MetadataResponse,
      (r) => this.metadata(r),
      'brokers',
    );
    // A client-facing API on this broker's own subject, named as the API.
    const serve = <Req, ResI>(
      name: BrokerApi,
      requestType: MessageType<unknown, Req>,
      responseType: MessageType<ResI, unknown>,
      handler: (request: Req) => Promise<ResI | null> | ResI | null,
    ): void => rpc.handle(name, api(name), requestType, responseType, handler);
    serve('metadata', wire.MetadataRequest, wire.MetadataResponse, (r) => this.metadata(r));
    serve('produce', wire.ProduceRequest, wire.ProduceResponse, (r) => this.produce(r));
    serve('fetch', wire.FetchRequest, wire.FetchResponse, (r) => this.fetch(r, false));
    rpc.handle(
      'replica_fetch',
      subjects.brokerInternal(cluster, brokerId, 'replica_fetch'),
      wire.FetchRequest,
      wire.FetchResponse,
      (r) => this.fetch(r, true),
    );
    serve('init_producer_id', wire.InitProducerIdRequest, wire.InitProducerIdResponse, async () => ({
      producerId: await this.ctx.producerIds.generate(),
      producerEpoch: 0,
    }));
    const groups = this.ctx.groups;
    serve('find_coordinator', wire.FindCoordinatorRequest, wire.FindCoordinatorResponse, (r) =>
      groups.findCoordinator(r),
    );
    serve('join_group', wire.JoinGroupRequest, wire.JoinGroupResponse, (r) => groups.joinGroup(r));
    serve('sync_group', wire.SyncGroupRequest, wire.SyncGroupResponse, (r) => groups.syncGroup(r));
    serve('heartbeat', wire.HeartbeatRequest, wire.HeartbeatResponse, (r) => groups.heartbeat(r));
    serve('leave_group', wire.LeaveGroupRequest, wire.LeaveGroupResponse, (r) => groups.leaveGroup(r));
    serve('offset_commit', wire.OffsetCommitRequest, wire.OffsetCommitResponse, (r) => groups.offsetCommit(r));
    serve('offset_fetch', wire.OffsetFetchRequest, wire.OffsetFetchResponse, (r) => groups.offsetFetch(r));
    serve('list_groups', wire.ListGroupsRequest, wire.ListGroupsResponse, () => groups.listGroups());
    serve('describe_groups', wire.DescribeGroupsRequest, wire.DescribeGroupsResponse, (r) => groups.describeGroups(r));
    serve('delete_groups', wire.DeleteGroupsRequest, wire.DeleteGroupsResponse, (r) => groups.deleteGroups(r));
    serve('list_offsets', wire.ListOffsetsRequest, wire.ListOffsetsResponse, (r) => this.listOffsets(r));
    const forward = <Req, Res>(
      name: AdminApi,
      reqType: MessageType<Req, Req>,
      resType: MessageType<Res, Res>,
      touches: (r: Req) => string[] = () => [],
    ): void => serve(name, reqType, resType, (r) => this.forward(name, reqType, r, resType, touches(r)));
    forward('create_topics', wire.CreateTopicsRequest, wire.CreateTopicsResponse, (r) =>
      (r.topics ?? []).map((t) => t.name ?? ''),
    );
    forward('delete_topics', wire.DeleteTopicsRequest, wire.DeleteTopicsResponse, (r) => (r.topics ?? []).map(String));
    forward('elect_leaders', wire.ElectLeadersRequest, wire.ElectLeadersResponse);
    forward('alter_reassignments', wire.AlterReassignmentsRequest, wire.AlterReassignmentsResponse);
    forward('create_partitions', wire.CreatePartitionsRequest, wire.CreatePartitionsResponse);
  }

  /**
   * An admin request, forwarded to the active controller (as KIP-590 forwarding does). The brokers
   * create __consumer_offsets on first use; clients may not create or delete it.
   */
  forward<Req, Res>(
    name: AdminApi,
    reqType: MessageType<Req, Req>,
    request: Req,
    resType: MessageType<Res, Res>,
    topics: string[],
  ): Promise<Res> {
    if (topics.includes(OFFSETS_TOPIC))
      return Promise.reject(
        new MillraceError('INVALID_REQUEST', `${OFFSETS_TOPIC} is internal: the brokers manage it`),
      );
    return this.ctx.controller.call(name, reqType, request, resType, ADMIN_TIMEOUT_MS);
  }

  metadata(req: millrace.MetadataRequest): millrace.IMetadataResponse {
    const image = this.ctx.image();
    const names = req.allTopics || req.topics.length === 0 ? [...image.topics.keys()].sort() : req.topics;
    return {
      cluster: this.ctx.cluster,
      controllerId: image.controller?.brokerId ?? -1,
      controllerEpoch: image.controller?.epoch ?? -1,
      metadataVersion: image.version,
      brokers: [...image.brokers.values()].map((b) => ({
        id: b.id,
        rack: b.rack ?? '',
        fenced: b.fenced || b.shuttingDown,
        epoch: b.epoch,
        kafkaEndpoint: b.kafkaEndpoint ?? '',
      })),
      topics: names.map((name) => {
        const t = image.topics.get(name);
        if (!t) {
          const e = new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
          return { name, errorCode: e.code, errorMessage: e.detail };
        }
        return {
          name,
          topicId: t.id,
          configs: t.configs,
          partitions: t.partitions.map((p) => ({
            ...p,
            errorCode: p.leader === -1 ? ErrorCodes.LEADER_NOT_AVAILABLE.code : 0,
          })),
        };
      }),
    };
  }

  async produce(req: millrace.ProduceRequest): Promise<millrace.IProduceResponse | null> {
    if (req.acks !== 0 && req.acks !== 1 && req.acks !== -1) {
      throw new MillraceError('INVALID_REQUIRED_ACKS', `acks must be 0, 1 or -1 (all), got ${req.acks}`);
    }
    const image = this.ctx.image();
    const timeoutMs = req.timeoutMs > 0 ? req.timeoutMs : 30_000;
    const topics = perPartition<
      millrace.IProducePartition,
      millrace.IProducePartitionResponse | Promise<millrace.IProducePartitionResponse>
    >(
      this.ctx.replicas,
      image,
      req.topics,
      (hp, p, partition) => {
        if (hp.topic === OFFSETS_TOPIC)
          throw new MillraceError('INVALID_TOPIC_EXCEPTION', `${OFFSETS_TOPIC} is internal: commit offsets instead`);
        if (req.acks === -1 && hp.isr.length < hp.minInsync) {
          throw new MillraceError(
            'NOT_ENOUGH_REPLICAS',
            `${hp.topic}-${partition} has ${hp.isr.length} in-sync replicas, fewer than min.insync.replicas ${hp.minInsync}`,
          );
        }
        const info = hp.log.appendAsLeader(p.records as Buffer, hp.leaderEpoch);
        // A duplicate from an idempotent producer's retry appended nothing: it gets the original offsets.
        if (!info.duplicate) {
          hp.appended();
          void hp.log
            .flushIfDue()
            .catch((err: unknown) => this.ctx.logger.error({ err, topic: hp.topic, partition }, 'flush failed'));
          this.ctx.metrics.messagesIn.inc({ topic: hp.topic }, info.recordCount);
          this.ctx.metrics.bytesIn.inc({ topic: hp.topic }, info.sizeInBytes);
        } else this.ctx.metrics.duplicateBatches.inc({ topic: hp.topic });
        const ok = {
          partition,
          errorCode: 0,
          baseOffset: info.firstOffset,
          logAppendTime: info.logAppendTime,
          logStartOffset: hp.log.logStartOffset,
        };
        if (req.acks !== -1) return ok;
        // acks=all: answer once every in-sync replica has the batch (the high watermark passes it).
        return hp.awaitCommit(info.lastOffset + 1, timeoutMs).then(
          () => ok,
          (err: unknown) => ({ partition, ...errorFields(err), baseOffset: info.firstOffset }),
        );
      },
      (partition, error) => ({ partition, ...error, baseOffset: -1 }),
    );
    if (req.acks === 0) return null;
    return {
      topics: await Promise.all(
        topics.map(async (t) => ({ name: t.name, partitions: await Promise.all(t.partitions) })),
      ),
    };
  }

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
        const wake = (): void => {
          const end = replica ? hp.log.logEndOffset : hp.highWatermark;
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
        // KIP-74: the first partition with data gets at least one whole batch. Followers read to the log end.
        const bound = replica ? hp.log.logEndOffset : hp.highWatermark;
        const read =
          partMax > 0 || bytes === 0 ? hp.log.read(fetchOffset, Math.max(partMax, 1), bound, bytes === 0) : null;
        const records = read?.records ?? Buffer.alloc(0);
        bytes += records.length;
        return { ...positions(), records };
      },
      (partition, e) => {
        error = true;
        return { partition, ...e, highWatermark: -1, logStartOffset: -1, logEndOffset: -1 };
      },
    );
    return { response: { topics }, bytes, error };
  }

  listOffsets(req: millrace.ListOffsetsRequest): millrace.IListOffsetsResponse {
    const image = this.ctx.image();
    const topics = perPartition<millrace.IListOffsetsPartition, millrace.IListOffsetsPartitionResponse>(
      this.ctx.replicas,
      image,
      req.topics,
      (hp, p, partition) => {
        const timestamp = Number(p.timestamp ?? LATEST_TIMESTAMP);
        // Consumers see up to the high watermark, so "latest" is the high watermark.
        const found =
          timestamp === LATEST_TIMESTAMP
            ? { offset: hp.highWatermark, timestamp: -1 }
            : hp.log.offsetForTimestamp(timestamp);
        const offset = found === null ? -1 : Math.min(found.offset, hp.highWatermark);
        return {
          partition,
          errorCode: 0,
          offset,
          timestamp: found?.timestamp ?? -1,
          leaderEpoch: hp.leaderEpoch,
          logEndOffset: hp.log.logEndOffset,
        };
      },
      (partition, error) => ({ partition, ...error, offset: -1, timestamp: -1 }),
    );
    return { topics };
  }

  /** OffsetForLeaderEpoch (KIP-320): where each asked epoch ends on the leader's log. */
  offsetForLeaderEpoch(
    topics: Array<{
      name: string;
      partitions: Array<{ partition: number; leaderEpoch: number; currentLeaderEpoch: number }>;
    }>,
  ): Array<{
    name: string;
    partitions: Array<{ partition: number; errorCode: number; leaderEpoch: number; endOffset: number }>;
  }> {
    const image = this.ctx.image();
    return perPartition(
      this.ctx.replicas,
      image,
      topics,
      (hp, p, partition) => {
        if (p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch < hp.leaderEpoch)
          throw new MillraceError(
            'FENCED_LEADER_EPOCH',
            `leader epoch ${p.currentLeaderEpoch} is older than ${hp.leaderEpoch}`,
          );
        if (p.currentLeaderEpoch > hp.leaderEpoch)
          throw new MillraceError(
            'UNKNOWN_LEADER_EPOCH',
            `leader epoch ${p.currentLeaderEpoch} is newer than ${hp.leaderEpoch}`,
          );
        const end = hp.log.leaderEpochCache.endOffsetFor(p.leaderEpoch, hp.log.logEndOffset);
        return { partition, errorCode: 0, leaderEpoch: end.epoch, endOffset: end.endOffset };
      },
      (partition, e) => ({ partition, errorCode: e.errorCode, leaderEpoch: -1, endOffset: -1 }),
    ).map((t) => ({ name: t.name ?? '', partitions: t.partitions }));
  }
}
