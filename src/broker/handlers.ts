/**
 * The broker core's client-facing requests, for both doors: the NATS door registers them on its
 * subjects, the Kafka door calls them. The data path is plain code: a produce
 * (produce-handler.ts) appends the request's batches as they arrived, a fetch (fetch-handler.ts)
 * returns stored batches as they are.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ErrorCodes, MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import type { ControllerClient } from '../cluster/controller-client.js';
import type { MetadataImage } from '../cluster/image.js';
import { describeTopicConfigs } from '../cluster/topic-config.js';
import type { BrokerMetrics } from '../metrics/catalogue.js';
import { LATEST_TIMESTAMP } from '../storage/log.js';
import type { MessageType, RpcServer } from '../transport/rpc.js';
import { OFFSETS_TOPIC, type GroupCoordinator } from './group/coordinator.js';
import type { TxnCoordinator } from './txn/coordinator.js';
import type { TxnApis } from './txn/txn-apis.js';
import { AclOperation } from '../../protocol/acl.js';
import { guardAdmin } from './admin-access.js';
import { internalCaller, type Access, type Caller } from './authorizer.js';
import { throttleFor, type ClientQuotas } from './client-quotas.js';
import { FetchHandler, READ_COMMITTED } from './fetch-handler.js';
import { ProduceHandler } from './produce-handler.js';
import type { NatsPrincipals } from './nats-principal.js';
import { SecurityApis, type Serve } from './security-apis.js';
import { perPartition } from './per-partition.js';
import type { ProducerIdManager } from './producer-ids.js';
import type { ReplicaManager } from './replica-manager.js';

export type AdminApi =
  'create_topics' | 'delete_topics' | 'create_partitions' | 'elect_leaders' | 'alter_reassignments' | 'alter_configs';

const ADMIN_TIMEOUT_MS = 30_000;
/** FindCoordinator key type of a transactional id (0: a group). */
const COORDINATOR_TRANSACTION = 1;

export interface HandlerContext {
  brokerId: number;
  cluster: string;
  nc: NatsConnection;
  image: () => MetadataImage;
  replicas: ReplicaManager;
  controller: ControllerClient;
  producerIds: ProducerIdManager;
  groups: GroupCoordinator;
  txns: TxnCoordinator;
  txnApis: TxnApis;
  metrics: BrokerMetrics;
  /** The broker's topic config defaults (logDefaults) and min.insync.replicas, for DescribeConfigs. */
  logDefaults: Readonly<Record<string, string>>;
  minInsyncReplicas: number;
  /** Authorization of every client request, on both doors. */
  access: Access;
  /** Who sent a request on the NATS door. */
  principals: NatsPrincipals;
  /** Client quotas, charged by both doors. */
  quotas: ClientQuotas;
  logger: Logger;
}

export class BrokerHandlers {
  private readonly fetcher: FetchHandler;
  /** Produce, for both doors. */
  readonly producer: ProduceHandler;
  /** ACLs and SCRAM credentials. */
  readonly security: SecurityApis;

  constructor(private readonly ctx: HandlerContext) {
    this.fetcher = new FetchHandler(ctx);
    this.producer = new ProduceHandler(ctx);
    this.security = new SecurityApis(ctx.access, ctx.controller, ctx.image);
  }

  register(rpc: RpcServer): void {
    const { cluster, brokerId } = this.ctx;
    const api = (name: Parameters<typeof subjects.brokerApi>[2]) => subjects.brokerApi(cluster, brokerId, name);
    const principals = this.ctx.principals;
    rpc.handle(
      'metadata',
      subjects.metadata(cluster),
      wire.MetadataRequest,
      wire.MetadataResponse,
      (r, msg) => this.metadata(r, principals.callerOf(msg)),
      'brokers',
    );
    // A client-facing API on this broker's own subject, named as the API, for the caller the request
    // names; a client over its quota gets its reply that much later.
    const serve: Serve = (name, requestType, responseType, handler) =>
      rpc.handle(name, api(name), requestType, responseType, async (r, msg) => {
        const { caller, clientId } = principals.identify(msg);
        if (caller === internalCaller) return handler(r, caller);
        const started = performance.now();
        const res = await handler(r, caller);
        const use = {
          produceBytes: name === 'produce' ? msg.data.length : 0,
          fetchBytes: name === 'fetch' && res ? fetchedBytes(res as millrace.IFetchResponse) : 0,
          handlerMs: performance.now() - started,
        };
        const wait = throttleFor(this.ctx.quotas, caller.principal, clientId, use, (quota, ms) =>
          this.ctx.metrics.quotaThrottle.inc({ door: 'nats', quota }, ms / 1000),
        );
        if (wait > 0) await delay(wait);
        return res;
      });
    serve('metadata', wire.MetadataRequest, wire.MetadataResponse, (r, c) => this.metadata(r, c));
    serve('produce', wire.ProduceRequest, wire.ProduceResponse, (r, c) => this.producer.produce(r, c));
    serve('fetch', wire.FetchRequest, wire.FetchResponse, (r, c) => this.fetch(r, c));
    rpc.handle(
      'replica_fetch',
      subjects.brokerInternal(cluster, brokerId, 'replica_fetch'),
      wire.FetchRequest,
      wire.FetchResponse,
      (r) => this.fetch(r, null),
    );
    serve('init_producer_id', wire.InitProducerIdRequest, wire.InitProducerIdResponse, async (r, c) =>
      r.transactionalId ? this.ctx.txns.initProducerId(r, c) : this.initProducerId(c),
    );
    const groups = this.ctx.groups;
    serve('find_coordinator', wire.FindCoordinatorRequest, wire.FindCoordinatorResponse, (r, c) =>
      r.keyType === COORDINATOR_TRANSACTION ? this.ctx.txns.findCoordinator(r.key, c) : groups.findCoordinator(r, c),
    );
    this.ctx.txnApis.register(serve, rpc);
    serve('join_group', wire.JoinGroupRequest, wire.JoinGroupResponse, (r, c) => groups.joinGroup(r, c));
    serve('sync_group', wire.SyncGroupRequest, wire.SyncGroupResponse, (r, c) => groups.syncGroup(r, c));
    serve('heartbeat', wire.HeartbeatRequest, wire.HeartbeatResponse, (r, c) => groups.heartbeat(r, c));
    serve('leave_group', wire.LeaveGroupRequest, wire.LeaveGroupResponse, (r, c) => groups.leaveGroup(r, c));
    serve('offset_commit', wire.OffsetCommitRequest, wire.OffsetCommitResponse, (r, c) =>
      groups.offsets.offsetCommit(r, c),
    );
    serve('offset_fetch', wire.OffsetFetchRequest, wire.OffsetFetchResponse, (r, c) =>
      groups.offsets.offsetFetch(r, c),
    );
    serve('offset_delete', wire.OffsetDeleteRequest, wire.OffsetDeleteResponse, (r, c) =>
      groups.offsets.offsetDelete(r, c),
    );
    serve('list_groups', wire.ListGroupsRequest, wire.ListGroupsResponse, (_r, c) => groups.listGroups(c));
    serve('describe_groups', wire.DescribeGroupsRequest, wire.DescribeGroupsResponse, (r, c) =>
      groups.describeGroups(r, c),
    );
    serve('delete_groups', wire.DeleteGroupsRequest, wire.DeleteGroupsResponse, (r, c) => groups.deleteGroups(r, c));
    serve('list_offsets', wire.ListOffsetsRequest, wire.ListOffsetsResponse, (r, c) => this.listOffsets(r, c));
    serve('delete_records', wire.DeleteRecordsRequest, wire.DeleteRecordsResponse, (r, c) => this.deleteRecords(r, c));
    const forward = <Req, Res extends { results?: millrace.ITopicResult[] | null }>(
      name: AdminApi,
      reqType: MessageType<Req, Req>,
      resType: MessageType<Res, Res>,
    ): void => serve(name, reqType, resType, (r, c) => this.forward(name, reqType, r, resType, c));
    forward('create_topics', wire.CreateTopicsRequest, wire.CreateTopicsResponse);
    forward('delete_topics', wire.DeleteTopicsRequest, wire.DeleteTopicsResponse);
    forward('elect_leaders', wire.ElectLeadersRequest, wire.ElectLeadersResponse);
    forward('alter_reassignments', wire.AlterReassignmentsRequest, wire.AlterReassignmentsResponse);
    forward('create_partitions', wire.CreatePartitionsRequest, wire.CreatePartitionsResponse);
    forward('alter_configs', wire.AlterConfigsRequest, wire.AlterConfigsResponse);
    serve('describe_configs', wire.DescribeConfigsRequest, wire.DescribeConfigsResponse, (r, c) =>
      this.describeConfigs(r.topics, r.keys, c),
    );
    this.security.register(serve);
  }

  /** InitProducerId without a transactional id: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic (as Kafka). */
  async initProducerId(caller: Caller): Promise<{ producerId: number; producerEpoch: number }> {
    const { access } = this.ctx;
    if (
      !access.clusterAllowed(caller, AclOperation.IDEMPOTENT_WRITE) &&
      ![...this.ctx.image().topics.keys()].some((t) => access.topicAllowed(caller, AclOperation.WRITE, t))
    )
      access.requireCluster(caller, AclOperation.IDEMPOTENT_WRITE);
    return { producerId: await this.ctx.producerIds.generate(), producerEpoch: 0 };
  }

  /** Each topic's configs: its own settings, else this broker's defaults, else Kafka's. */
  describeConfigs(
    topics: readonly string[],
    keys: readonly string[],
    caller: Caller,
  ): millrace.IDescribeConfigsResponse {
    const image = this.ctx.image();
    const wanted = new Set(keys);
    const { access } = this.ctx;
    return {
      results: topics.map((topic) => {
        if (!access.topicAllowed(caller, AclOperation.DESCRIBE_CONFIGS, topic))
          return { topic, ...errorFields(access.topicRefusal(caller, AclOperation.DESCRIBE_CONFIGS, topic)) };
        const t = image.topics.get(topic);
        if (!t)
          return {
            topic,
            ...errorFields(new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topic}' does not exist`)),
          };
        const brokerDefaults = { 'min.insync.replicas': String(this.ctx.minInsyncReplicas), ...this.ctx.logDefaults };
        const configs = describeTopicConfigs(t.configs, brokerDefaults).filter(
          (c) => wanted.size === 0 || wanted.has(c.name),
        );
        return { topic, errorCode: 0, configs };
      }),
    };
  }

  /**
   * An admin request, forwarded to the active controller (as KIP-590 forwarding does). The brokers
   * create __consumer_offsets on first use; clients may not create or delete it.
   */
  async forward<Req, Res extends { results?: millrace.ITopicResult[] | null }>(
    name: AdminApi,
    reqType: MessageType<Req, Req>,
    request: Req,
    resType: MessageType<Res, Res>,
    caller: Caller,
  ): Promise<Res> {
    const guarded = guardAdmin(this.ctx.access, caller, name, request);
    if (guarded.request === null) return { results: guarded.denied } as Res;
    const res = await this.ctx.controller.call(name, reqType, guarded.request, resType, ADMIN_TIMEOUT_MS);
    if (guarded.denied.length) res.results = [...(res.results ?? []), ...guarded.denied];
    return res;
  }

  /** Every topic the caller may describe, or the ones asked (those it may not: TOPIC_AUTHORIZATION_FAILED). */
  metadata(req: millrace.MetadataRequest, caller: Caller): millrace.IMetadataResponse {
    const image = this.ctx.image();
    const { access } = this.ctx;
    const all = req.allTopics || req.topics.length === 0;
    const names = all
      ? [...image.topics.keys()].sort().filter((t) => access.topicAllowed(caller, AclOperation.DESCRIBE, t))
      : req.topics;
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
        if (!all && !access.topicAllowed(caller, AclOperation.DESCRIBE, name))
          return { name, ...errorFields(access.topicRefusal(caller, AclOperation.DESCRIBE, name)) };
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

  /**
   * A consumer fetch (reads below the high watermark) or a follower's (to the log end, KIP-320
   * divergence), up to `limit` bytes of records (by default what fits in a NATS reply).
   */
  async fetch(req: millrace.FetchRequest, caller: Caller | null, limit?: number): Promise<millrace.IFetchResponse> {
    if (caller === null) return this.fetcher.fetch(req, true, limit);
    const { access } = this.ctx;
    const denied = req.topics.filter((t) => !access.topicAllowed(caller, AclOperation.READ, t.name));
    if (denied.length === 0) return this.fetcher.fetch(req, false, limit);
    const allowed = req.topics.filter((t) => access.topicAllowed(caller, AclOperation.READ, t.name));
    const res = allowed.length
      ? await this.fetcher.fetch(wire.FetchRequest.create({ ...req, topics: allowed }), false, limit)
      : {};
    const refusal = (topic: string) => errorFields(access.topicRefusal(caller, AclOperation.READ, topic));
    return {
      ...res,
      topics: [
        ...(res.topics ?? []),
        ...denied.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({ partition: p.partition, ...refusal(t.name), highWatermark: -1 })),
        })),
      ],
    };
  }

  listOffsets(req: millrace.ListOffsetsRequest, caller: Caller): millrace.IListOffsetsResponse {
    const image = this.ctx.image();
    const topics = perPartition<millrace.IListOffsetsPartition, millrace.IListOffsetsPartitionResponse>(
      this.ctx.replicas,
      image,
      req.topics,
      (hp, p, partition) => {
        const timestamp = Number(p.timestamp ?? LATEST_TIMESTAMP);
        // Consumers see up to the high watermark (read_committed: the last stable offset), so that is "latest".
        const visible =
          req.isolationLevel === READ_COMMITTED ? hp.log.lastStableOffset(hp.highWatermark) : hp.highWatermark;
        const found =
          timestamp === LATEST_TIMESTAMP ? { offset: visible, timestamp: -1 } : hp.log.offsetForTimestamp(timestamp);
        const offset = found === null ? -1 : Math.min(found.offset, visible);
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
      (topic) => this.ctx.access.requireTopic(caller, AclOperation.DESCRIBE, topic),
    );
    return { topics };
  }

  /** OffsetForLeaderEpoch (KIP-320): where each asked epoch ends on the leader's log. */
  offsetForLeaderEpoch(
    topics: Array<{
      name: string;
      partitions: Array<{ partition: number; leaderEpoch: number; currentLeaderEpoch: number }>;
    }>,
    caller: Caller,
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
      (topic) => this.ctx.access.requireTopic(caller, AclOperation.DESCRIBE, topic),
    ).map((t) => ({ name: t.name ?? '', partitions: t.partitions }));
  }

  /**
   * DeleteRecords: each partition's log start moves to the offset asked (-1: the high watermark),
   * never past the high watermark. The leader answers once its own log start moved; followers
   * follow it with their next fetch, and retention deletes the segments wholly below it.
   */
  deleteRecords(req: millrace.IDeleteRecordsRequest, caller: Caller): millrace.IDeleteRecordsResponse {
    const topics = perPartition<millrace.IDeleteRecordsPartition, millrace.IDeleteRecordsPartition>(
      this.ctx.replicas,
      this.ctx.image(),
      req.topics ?? [],
      (hp, p, partition) => {
        if (hp.topic === OFFSETS_TOPIC)
          throw new MillraceError(
            'INVALID_TOPIC_EXCEPTION',
            `${OFFSETS_TOPIC} is internal: its records are the groups'`,
          );
        const asked = Number(p.offset ?? -1);
        const offset = asked === -1 ? hp.highWatermark : asked;
        if (offset < 0 || offset > hp.highWatermark)
          throw new MillraceError(
            'OFFSET_OUT_OF_RANGE',
            `cannot delete records of ${hp.topic}-${partition} before ${asked}: outside [0, high watermark ${hp.highWatermark}]`,
          );
        if (hp.log.maybeIncrementLogStartOffset(offset)) hp.log.deleteOldSegments();
        return { partition, errorCode: 0, lowWatermark: hp.log.logStartOffset };
      },
      (partition, e) => ({ partition, ...e, lowWatermark: -1 }),
      (topic) => this.ctx.access.requireTopic(caller, AclOperation.DELETE, topic),
    );
    return { topics: topics.map((t) => ({ name: t.name ?? '', partitions: t.partitions })) };
  }

  /**
   * The reassignments in progress (of the topics and partitions named, or all): each partition's
   * replicas, those being added and those to be removed once the target replicas are in sync.
   */
  listReassignments(
    asked: Array<{ name: string; partitions: number[] }> | null,
    caller: Caller,
  ): Array<{
    name: string;
    partitions: Array<{ partition: number; replicas: number[]; adding: number[]; removing: number[] }>;
  }> {
    this.ctx.access.requireCluster(caller, AclOperation.DESCRIBE);
    const image = this.ctx.image();
    const wanted =
      asked ?? [...image.topics.values()].map((t) => ({ name: t.name, partitions: null as number[] | null }));
    const out = [];
    for (const w of wanted) {
      const t = image.topics.get(w.name);
      if (!t) continue;
      const partitions = t.partitions
        .filter((p) => p.targetReplicas && (w.partitions === null || w.partitions.includes(p.partition)))
        .map((p) => ({
          partition: p.partition,
          replicas: p.replicas,
          adding: p.addingReplicas ?? [],
          removing: p.replicas.filter((r) => !p.targetReplicas!.includes(r)),
        }));
      if (partitions.length > 0) out.push({ name: t.name, partitions });
    }
    return out;
  }

  /** DescribeProducers: the idempotent producers each led partition knows, with their last sequence. */
  describeProducers(
    topics: Array<{ name: string; partitions: Array<{ partition: number }> }>,
    caller: Caller,
  ): Array<{ name: string; partitions: Array<ProducersOfPartition> }> {
    return perPartition<{ partition: number }, ProducersOfPartition>(
      this.ctx.replicas,
      this.ctx.image(),
      topics,
      (hp, _p, partition) => {
        const state = hp.log.producerState;
        const producers = [...state.producerIds()].map((id) => {
          const e = state.entry(id)!;
          return {
            producerId: id,
            producerEpoch: e.producerEpoch,
            lastSequence: e.batches.at(-1)?.lastSeq ?? -1,
            lastTimestamp: e.lastTimestamp,
            currentTxnStartOffset: state.txns.openTransactions().get(id) ?? -1,
          };
        });
        return { partition, errorCode: 0, errorMessage: null, producers };
      },
      (partition, e) => ({ partition, ...e, producers: [] }),
      (topic) => this.ctx.access.requireTopic(caller, AclOperation.READ, topic),
    ).map((t) => ({ name: t.name ?? '', partitions: t.partitions }));
  }
}

/** The record bytes a fetch response carries (what the consumer byte-rate quota counts). */
export function fetchedBytes(res: millrace.IFetchResponse): number {
  let n = 0;
  for (const t of res.topics ?? []) for (const p of t.partitions ?? []) n += p.records?.length ?? 0;
  return n;
}

interface ProducersOfPartition {
  partition: number;
  errorCode: number;
  errorMessage: string | null;
  producers: Array<{
    producerId: number;
    producerEpoch: number;
    lastSequence: number;
    lastTimestamp: number;
    /** The first offset of its open transaction in the partition (-1: none). */
    currentTxnStartOffset: number;
  }>;
}
