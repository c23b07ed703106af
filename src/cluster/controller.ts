/**
 * The controller runtime. Every broker runs a ControllerService; the one whose election actor
 * holds the lease runs an ActiveController, the only writer of the metadata log. Its writes carry
 * the expected last stream sequence, so a deposed (zombie) controller's next write is refused
 * and it steps down. Mutations are serialized: each reads the current image, writes, and waits
 * for the image to include its write.
 */
import { randomUUID } from 'node:crypto';
import { JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor } from 'xstate';
import { brokerSessionMachine } from '../../actors/broker-session.js';
import { controllerElectionMachine } from '../../actors/controller-election.js';
import { ErrorCodes, MillraceError } from '../../protocol/errors.js';
import { subjects } from '../../protocol/subjects.js';
import { topicNameProblem } from '../../protocol/topics.js';
import { wire } from '../../protocol/wire.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import type { ElectionReason } from '../metrics/catalogue.js';
import { RpcServer, brokerGone, type RequestObserver } from '../transport/rpc.js';
import { assignReplicas } from './assignment.js';
import { openLeaseBucket, openMetadataBucket } from './buckets.js';
import { MetadataLoader, type MetadataImage } from './image.js';
import { keys, type BrokerRecord, type PartitionRecord, type TopicRecord } from './records.js';
import { validateTopicConfigs } from './topic-config.js';

export interface ControllerSettings {
  cluster: string;
  brokerId: number;
  /** Controller lease (KV bucket TTL); a dead controller is replaced within it. */
  leaseMs: number;
  /** broker.session.timeout.ms */
  sessionTimeoutMs: number;
  metadataReplicas: number;
  /** num.partitions and default.replication.factor, for requests that give -1. */
  defaultPartitions: number;
  defaultReplicationFactor: number;
  /** leader.imbalance.check.interval.ms */
  leaderRebalanceIntervalMs: number;
  requestObserver?: RequestObserver;
  /** Counts leader changes by reason (for millrace_leader_elections_total). */
  onLeaderElection?: (reason: ElectionReason) => void;
}

const MAX_PARTITIONS = 100_000;
/** Kafka's ProducerIdsBlock size. */
const PRODUCER_ID_BLOCK_SIZE = 1000;
const encoder = new TextEncoder();

class FencedError extends Error {}

/** Writes to the metadata log's stream with the expected last sequence (DESIGN.md section 4). */
class MetadataWriter {
  constructor(
    private readonly js: JetStreamClient,
    private readonly bucket: string,
    public lastSeq: number,
  ) {}

  get nextSeq(): number {
    return this.lastSeq + 1;
  }

  async put(key: string, value: unknown): Promise<number> {
    return this.publish(key, encoder.encode(JSON.stringify(value)));
  }

  async delete(key: string): Promise<number> {
    const h = headers();
    h.set('KV-Operation', 'DEL');
    return this.publish(key, new Uint8Array(0), h);
  }

  private async publish(key: string, data: Uint8Array, h?: ReturnType<typeof headers>): Promise<number> {
    try {
      const ack = await this.js.publish(`$KV.${this.bucket}.${key}`, data, {
        expect: { lastSequence: this.lastSeq },
        headers: h,
      });
      this.lastSeq = ack.seq;
      return ack.seq;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === 10071)
        throw new FencedError(`metadata log moved past ${this.lastSeq}: ${err.message}`);
      throw err;
    }
  }
}

export const liveBrokers = (image: MetadataImage, except = -1): Set<number> =>
  new Set([...image.brokers.values()].filter((b) => !b.fenced && !b.shuttingDown && b.id !== except).map((b) => b.id));

/** The first replica, in assignment order, that is in the ISR and live; -1 when none is. */
export function electLeader(p: PartitionRecord, live: ReadonlySet<number>): number {
  return p.replicas.find((r) => p.isr.includes(r) && live.has(r)) ?? -1;
}

class ActiveController {
  private readonly sessions = new Map<number, Actor<typeof brokerSessionMachine>>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly rpc: RpcServer;
  private stopped = false;
  private rebalanceTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: ControllerSettings,
    private readonly loader: MetadataLoader,
    private readonly writer: MetadataWriter,
    readonly epoch: number,
    private readonly logger: Logger,
    private readonly onFenced: () => void,
  ) {
    this.rpc = new RpcServer(nc, logger, settings.requestObserver);
  }

  private get image(): MetadataImage {
    return this.loader.image;
  }

  async start(): Promise<void> {
    // The first write fences every older controller: their expected sequence is now stale.
    await this.commit(() => this.writer.put(keys.controller, { brokerId: this.settings.brokerId, epoch: this.epoch }));
    for (const b of this.image.brokers.values()) if (!b.fenced && !b.shuttingDown) this.startSession(b.id);
    // A broker that crashed with the old controller is gone from NATS already: fence it now
    // instead of after a whole session timeout.
    void this.fenceVanishedBrokers();
    const { cluster } = this.settings;
    const s = (api: Parameters<typeof subjects.controller>[2]) => subjects.controller(cluster, this.epoch, api);
    this.rpc.handle(
      'controller.register_broker',
      s('register_broker'),
      wire.BrokerRegistrationRequest,
      wire.BrokerRegistrationResponse,
      (r) => this.serialized(() => this.register(r)),
    );
    this.rpc.handle(
      'controller.heartbeat',
      s('heartbeat'),
      wire.BrokerHeartbeatRequest,
      wire.BrokerHeartbeatResponse,
      (r) => this.serialized(() => this.heartbeat(r)),
    );
    this.rpc.handle(
      'controller.create_topics',
      s('create_topics'),
      wire.CreateTopicsRequest,
      wire.CreateTopicsResponse,
      (r) => this.serialized(() => this.createTopics(r)),
    );
    this.rpc.handle(
      'controller.delete_topics',
      s('delete_topics'),
      wire.DeleteTopicsRequest,
      wire.DeleteTopicsResponse,
      (r) => this.serialized(() => this.deleteTopics(r)),
    );
    this.rpc.handle(
      'controller.create_partitions',
      s('create_partitions'),
      wire.CreatePartitionsRequest,
      wire.CreatePartitionsResponse,
      (r) => this.serialized(() => this.createPartitions(r)),
    );
    this.rpc.handle(
      'controller.elect_leaders',
      s('elect_leaders'),
      wire.ElectLeadersRequest,
      wire.ElectLeadersResponse,
      (r) => this.serialized(() => this.electPreferredLeaders(r.topics)),
    );
    // Preferred-leader rebalance on a timer, as Kafka's auto.leader.rebalance.enable.
    this.rebalanceTimer = setInterval(() => {
      void this.serialized(() => this.electPreferredLeaders([])).catch((err: unknown) =>
        this.logger.warn({ err }, 'preferred leader rebalance failed'),
      );
    }, this.settings.leaderRebalanceIntervalMs);
    this.rebalanceTimer.unref();
    this.rpc.handle(
      'controller.alter_reassignments',
      s('alter_reassignments'),
      wire.AlterReassignmentsRequest,
      wire.AlterReassignmentsResponse,
      (r) => this.serialized(() => this.alterReassignments(r)),
    );
    this.rpc.handle(
      'controller.allocate_producer_ids',
      s('allocate_producer_ids'),
      wire.AllocateProducerIdsRequest,
      wire.AllocateProducerIdsResponse,
      (r) => this.serialized(() => this.allocateProducerIds(r)),
    );
    this.rpc.handle(
      'controller.alter_partition',
      s('alter_partition'),
      wire.AlterPartitionRequest,
      wire.AlterPartitionResponse,
      (r) => this.serialized(() => this.alterPartition(r)),
    );
    await this.nc.flush();
    this.logger.info(
      { epoch: this.epoch, brokers: this.image.brokers.size, topics: this.image.topics.size },
      'active controller',
    );
  }

  private async fenceVanishedBrokers(): Promise<void> {
    for (const b of [...this.image.brokers.values()].filter((x) => !x.fenced && x.id !== this.settings.brokerId)) {
      if (!(await brokerGone(this.nc, this.settings.cluster, b.id, 1_000)) || this.stopped) continue;
      this.logger.warn({ brokerId: b.id }, 'broker has no subscription on NATS: fencing it now');
      await this.serialized(() => this.fence(b.id, false)).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rebalanceTimer) clearInterval(this.rebalanceTimer);
    await this.rpc.close();
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
    this.loader.stop();
  }

  /** Runs mutations one at a time; a fenced write makes this controller step down. */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.stopped) throw new MillraceError('NOT_CONTROLLER', `controller epoch ${this.epoch} has stepped down`);
      try {
        return await fn();
      } catch (err) {
        if (err instanceof FencedError) {
          this.logger.warn(
            { epoch: this.epoch, err: err.message },
            'metadata write refused: a newer controller exists; stepping down',
          );
          this.onFenced();
          throw new MillraceError('NOT_CONTROLLER', `controller epoch ${this.epoch} was fenced by a newer controller`);
        }
        throw err;
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Writes, then waits until this controller's image includes the write. */
  private async commit(write: () => Promise<number>): Promise<void> {
    const seq = await write();
    // Bounded: a stalled watch must not block every later mutation behind this one.
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new MillraceError(
              'REQUEST_TIMED_OUT',
              `metadata write ${seq} not seen by the controller's watch within 10 s`,
            ),
          ),
        10_000,
      );
    });
    try {
      await Promise.race([this.loader.waitFor(seq), stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  private startSession(brokerId: number): void {
    this.sessions.get(brokerId)?.stop();
    const actor = createActor(
      brokerSessionMachine.provide({
        actions: {
          fence: (_, { brokerId: id }) => {
            this.logger.warn(
              { brokerId: id, sessionTimeoutMs: this.settings.sessionTimeoutMs },
              'broker missed its session timeout: fencing it',
            );
            void this.serialized(() => this.fence(id, false)).catch((err: unknown) =>
              this.logger.error({ err, brokerId: id }, 'fencing failed'),
            );
          },
          revive: (_, { brokerId: id }) => this.logger.info({ brokerId: id }, 'fenced broker is heartbeating again'),
        },
      }),
      { input: { brokerId, sessionTimeoutMs: this.settings.sessionTimeoutMs } },
    );
    this.sessions.set(brokerId, actor);
    actor.start();
  }

  private sessionAlive(brokerId: number): boolean {
    return this.sessions.get(brokerId)?.getSnapshot().value === 'Alive';
  }

  private async register(req: millrace.BrokerRegistrationRequest): Promise<millrace.IBrokerRegistrationResponse> {
    if (req.brokerId < 0) throw new MillraceError('INVALID_REQUEST', `broker id ${req.brokerId} is negative`);
    const existing = this.image.brokers.get(req.brokerId);
    if (
      existing &&
      existing.incarnationId !== req.incarnationId &&
      !existing.fenced &&
      this.sessionAlive(req.brokerId)
    ) {
      throw new MillraceError(
        'DUPLICATE_BROKER_REGISTRATION',
        `broker ${req.brokerId} is registered by another live process; retry after its session times out`,
      );
    }
    if (existing && !existing.fenced) await this.fence(req.brokerId, false);
    const rec: BrokerRecord = {
      id: req.brokerId,
      rack: req.rack || null,
      epoch: this.writer.nextSeq,
      incarnationId: req.incarnationId,
      fenced: true,
      shuttingDown: false,
    };
    await this.commit(() => this.writer.put(keys.broker(rec.id), rec));
    this.startSession(rec.id);
    this.logger.info({ brokerId: rec.id, brokerEpoch: rec.epoch, rack: rec.rack }, 'broker registered');
    return { brokerEpoch: rec.epoch };
  }

  private async heartbeat(req: millrace.BrokerHeartbeatRequest): Promise<millrace.IBrokerHeartbeatResponse> {
    const rec = this.image.brokers.get(req.brokerId);
    if (!rec || rec.epoch !== req.brokerEpoch) {
      throw new MillraceError(
        'STALE_BROKER_EPOCH',
        `broker ${req.brokerId} epoch ${req.brokerEpoch} is not the registered one`,
      );
    }
    const caughtUp = req.currentMetadataOffset >= rec.epoch;
    if (req.wantShutdown) {
      if (!rec.shuttingDown) await this.controlledShutdown(rec.id);
      return { isFenced: true, shouldShutdown: true, isCaughtUp: caughtUp };
    }
    if (!this.sessions.has(rec.id) || this.sessions.get(rec.id)!.getSnapshot().status !== 'active')
      this.startSession(rec.id);
    this.sessions.get(rec.id)!.send({ type: 'HEARTBEAT' });
    if (rec.fenced && !req.wantFence && caughtUp) await this.unfence(rec.id);
    return { isFenced: this.image.brokers.get(rec.id)?.fenced ?? true, shouldShutdown: false, isCaughtUp: caughtUp };
  }

  /** Applies `change` to every partition; writes the topics that changed. */
  private async updatePartitions(change: (p: PartitionRecord, t: TopicRecord) => PartitionRecord): Promise<void> {
    for (const topic of this.image.topics.values()) {
      let changed = false;
      const partitions = topic.partitions.map((p) => {
        const next = change(p, topic);
        if (next !== p) changed = true;
        return next;
      });
      if (changed) await this.commit(() => this.writer.put(keys.topic(topic.name), { ...topic, partitions }));
    }
  }

  /**
   * Fences a broker: its leaderships move to the first live ISR replica (leader epoch + 1) and
   * it leaves the ISRs that have other members. A partition with no other ISR member goes
   * offline (leader -1) rather than electing an out-of-sync replica.
   */
  private async fence(brokerId: number, shuttingDown: boolean): Promise<void> {
    const rec = this.image.brokers.get(brokerId);
    if (!rec) return;
    if (!rec.fenced || rec.shuttingDown !== shuttingDown) {
      await this.commit(() => this.writer.put(keys.broker(brokerId), { ...rec, fenced: true, shuttingDown }));
    }
    const live = liveBrokers(this.image, brokerId);
    await this.updatePartitions((p, topic) => {
      if (!p.replicas.includes(brokerId)) return p;
      let isr = p.isr.includes(brokerId) && p.isr.length > 1 ? p.isr.filter((r) => r !== brokerId) : p.isr;
      let leader = p.leader === brokerId ? electLeader({ ...p, isr }, live) : p.leader;
      let unclean = false;
      if (leader === -1 && p.leader === brokerId && topic.configs['unclean.leader.election.enable'] === 'true') {
        // Unclean: an out-of-sync replica leads, accepting the loss of what it lacks.
        leader = p.replicas.find((r) => live.has(r)) ?? -1;
        if (leader !== -1) {
          unclean = true;
          isr = [leader];
          this.logger.warn({ topic: topic.name, partition: p.partition, leader }, 'unclean leader election');
        }
      }
      if (leader === p.leader && isr === p.isr) return p;
      if (leader !== p.leader)
        this.settings.onLeaderElection?.(unclean ? 'unclean' : shuttingDown ? 'controlled_shutdown' : 'fenced');
      return {
        ...p,
        isr,
        leader,
        leaderEpoch: leader !== p.leader ? p.leaderEpoch + 1 : p.leaderEpoch,
        partitionEpoch: p.partitionEpoch + 1,
      };
    });
  }

  /**
   * An ISR change from a partition leader (AlterPartition): accepted only from the current
   * leader at the current leader and partition epochs; replicas added must be live.
   */
  private checkBrokerEpoch(brokerId: number, brokerEpoch: number): void {
    const broker = this.image.brokers.get(brokerId);
    if (!broker || broker.epoch !== brokerEpoch)
      throw new MillraceError('STALE_BROKER_EPOCH', `broker ${brokerId} epoch ${brokerEpoch} is not registered`);
  }

  /** Hands a broker the next block of producer ids, recorded in the metadata log so none is reused. */
  private async allocateProducerIds(
    req: millrace.AllocateProducerIdsRequest,
  ): Promise<millrace.IAllocateProducerIdsResponse> {
    this.checkBrokerEpoch(req.brokerId, req.brokerEpoch);
    const start = this.image.producerIds?.nextProducerId ?? 0;
    await this.commit(() =>
      this.writer.put(keys.producerIds, {
        nextProducerId: start + PRODUCER_ID_BLOCK_SIZE,
        brokerId: req.brokerId,
        brokerEpoch: req.brokerEpoch,
      }),
    );
    this.logger.info({ brokerId: req.brokerId, start, length: PRODUCER_ID_BLOCK_SIZE }, 'producer id block allocated');
    return { producerIdStart: start, producerIdLen: PRODUCER_ID_BLOCK_SIZE };
  }

  private async alterPartition(req: millrace.AlterPartitionRequest): Promise<millrace.IAlterPartitionResponse> {
    this.checkBrokerEpoch(req.brokerId, req.brokerEpoch);
    const topic = this.image.topics.get(req.topic);
    const p = topic?.partitions[req.partition];
    if (!topic || !p)
      throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${req.topic}-${req.partition} does not exist`);
    if (p.leader !== req.brokerId)
      throw new MillraceError(
        'NOT_LEADER_OR_FOLLOWER',
        `broker ${req.brokerId} does not lead ${req.topic}-${req.partition} (leader ${p.leader}, replicas ${p.replicas.join(',')})`,
      );
    if (req.leaderEpoch !== p.leaderEpoch)
      throw new MillraceError(
        'FENCED_LEADER_EPOCH',
        `leader epoch ${req.leaderEpoch} is not the current ${p.leaderEpoch}`,
      );
    if (req.partitionEpoch !== p.partitionEpoch) {
      throw new MillraceError(
        'INVALID_UPDATE_VERSION',
        `partition epoch ${req.partitionEpoch} is not the current ${p.partitionEpoch}`,
      );
    }
    const wanted = new Set(req.newIsr);
    if (!wanted.has(req.brokerId) || [...wanted].some((r) => !p.replicas.includes(r))) {
      throw new MillraceError(
        'INVALID_REQUEST',
        `ISR [${req.newIsr.join(',')}] must hold the leader and only replicas of ${req.topic}-${req.partition}`,
      );
    }
    const live = liveBrokers(this.image);
    const ineligible = [...wanted].filter((r) => !p.isr.includes(r) && !live.has(r));
    if (ineligible.length)
      throw new MillraceError('INELIGIBLE_REPLICA', `replicas ${ineligible.join(',')} are fenced or shutting down`);
    const isr = p.replicas.filter((r) => wanted.has(r));
    const next: PartitionRecord = { ...p, isr, partitionEpoch: p.partitionEpoch + 1 };
    const partitions = topic.partitions.map((x) => (x.partition === p.partition ? next : x));
    await this.commit(() => this.writer.put(keys.topic(topic.name), { ...topic, partitions }));
    this.logger.info({ topic: topic.name, partition: p.partition, isr, was: p.isr }, 'ISR changed');
    if (next.targetReplicas) await this.completeReassignments();
    return { leaderEpoch: next.leaderEpoch, partitionEpoch: next.partitionEpoch, isr };
  }

  /**
   * Moves each partition's leadership back to its preferred replica (the first in assignment
   * order) when that replica is live and in the ISR.
   */
  private async electPreferredLeaders(topics: string[]): Promise<millrace.IElectLeadersResponse> {
    const wanted = topics.length ? new Set(topics) : null;
    const results: millrace.IElectionResult[] = [];
    for (const name of wanted ?? []) {
      if (!this.image.topics.has(name)) {
        const e = new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
        results.push({ topic: name, partition: -1, errorCode: e.code, errorMessage: e.detail, leader: -1 });
      }
    }
    const live = liveBrokers(this.image);
    await this.updatePartitions((p, topic) => {
      if (wanted && !wanted.has(topic.name)) return p;
      const preferred = p.replicas[0]!;
      const result = (
        name: 'NONE' | 'ELECTION_NOT_NEEDED' | 'PREFERRED_LEADER_NOT_AVAILABLE',
        leader: number,
        message = '',
      ): void => {
        const code = name === 'NONE' ? 0 : ErrorCodes[name].code;
        results.push({ topic: topic.name, partition: p.partition, errorCode: code, errorMessage: message, leader });
      };
      if (p.leader === preferred) {
        result('ELECTION_NOT_NEEDED', p.leader, 'the preferred replica leads');
        return p;
      }
      if (!live.has(preferred) || !p.isr.includes(preferred)) {
        result('PREFERRED_LEADER_NOT_AVAILABLE', p.leader, `replica ${preferred} is not live and in sync`);
        return p;
      }
      this.settings.onLeaderElection?.('preferred');
      result('NONE', preferred);
      return { ...p, leader: preferred, leaderEpoch: p.leaderEpoch + 1, partitionEpoch: p.partitionEpoch + 1 };
    });
    const moved = results.filter((r) => r.errorCode === 0).length;
    if (moved) this.logger.info({ moved }, 'preferred leaders elected');
    return { results };
  }

  /** Starts reassignments: replicas widen to old + target; the new ones catch up and join the ISR. */
  private async alterReassignments(
    req: millrace.AlterReassignmentsRequest,
  ): Promise<millrace.IAlterReassignmentsResponse> {
    const results: millrace.IReassignResult[] = [];
    for (const r of req.partitions) {
      const fail = (
        name: 'UNKNOWN_TOPIC_OR_PARTITION' | 'INVALID_REPLICA_ASSIGNMENT' | 'REASSIGNMENT_IN_PROGRESS',
        message: string,
      ): void => {
        const e = new MillraceError(name, message);
        results.push({ topic: r.topic, partition: r.partition, errorCode: e.code, errorMessage: e.detail });
      };
      const topic = this.image.topics.get(r.topic);
      const p = topic?.partitions[r.partition];
      if (!topic || !p) {
        fail('UNKNOWN_TOPIC_OR_PARTITION', `${r.topic}-${r.partition} does not exist`);
        continue;
      }
      const target = r.replicas;
      if (
        target.length === 0 ||
        new Set(target).size !== target.length ||
        target.some((b) => !this.image.brokers.has(b))
      ) {
        fail('INVALID_REPLICA_ASSIGNMENT', `replicas [${target.join(',')}] must be distinct registered brokers`);
        continue;
      }
      if (p.targetReplicas) {
        fail(
          'REASSIGNMENT_IN_PROGRESS',
          `${r.topic}-${r.partition} is already moving to [${p.targetReplicas.join(',')}]`,
        );
        continue;
      }
      const replicas = [...p.replicas, ...target.filter((b) => !p.replicas.includes(b))];
      const next: PartitionRecord = { ...p, replicas, targetReplicas: target, partitionEpoch: p.partitionEpoch + 1 };
      await this.commit(() =>
        this.writer.put(keys.topic(topic.name), {
          ...topic,
          partitions: topic.partitions.map((x) => (x.partition === p.partition ? next : x)),
        }),
      );
      this.logger.info(
        { topic: topic.name, partition: p.partition, from: p.replicas, to: target },
        'reassignment started',
      );
      results.push({ topic: r.topic, partition: r.partition, errorCode: 0 });
    }
    await this.completeReassignments();
    return { results };
  }

  /** Finishes every reassignment whose target replicas are all in sync: replicas and ISR narrow to the target. */
  private async completeReassignments(): Promise<void> {
    const live = liveBrokers(this.image);
    await this.updatePartitions((p) => {
      const target = p.targetReplicas;
      if (!target || !target.every((b) => p.isr.includes(b))) return p;
      const isr = target.filter((b) => p.isr.includes(b));
      let leader = p.leader;
      if (!target.includes(leader)) {
        leader = electLeader({ ...p, replicas: target, isr }, live);
        this.settings.onLeaderElection?.('reassignment');
      }
      const { targetReplicas: _done, ...rest } = p;
      this.logger.info({ partition: p.partition, replicas: target, leader }, 'reassignment completed');
      return {
        ...rest,
        replicas: target,
        isr,
        leader,
        leaderEpoch: leader !== p.leader ? p.leaderEpoch + 1 : p.leaderEpoch,
        partitionEpoch: p.partitionEpoch + 1,
      };
    });
  }

  private async controlledShutdown(brokerId: number): Promise<void> {
    this.logger.info({ brokerId }, 'controlled shutdown: moving leaderships away');
    this.sessions.get(brokerId)?.stop();
    this.sessions.delete(brokerId);
    await this.fence(brokerId, true);
  }

  /** A caught-up broker rejoins: offline partitions whose ISR holds it get it as leader. */
  private async unfence(brokerId: number): Promise<void> {
    const rec = this.image.brokers.get(brokerId)!;
    await this.commit(() => this.writer.put(keys.broker(brokerId), { ...rec, fenced: false, shuttingDown: false }));
    await this.updatePartitions((p, topic) => {
      if (p.leader !== -1 || !p.replicas.includes(brokerId)) return p;
      if (p.isr.includes(brokerId)) {
        this.settings.onLeaderElection?.('broker_returned');
        return { ...p, leader: brokerId, leaderEpoch: p.leaderEpoch + 1, partitionEpoch: p.partitionEpoch + 1 };
      }
      if (topic.configs['unclean.leader.election.enable'] !== 'true') return p;
      this.settings.onLeaderElection?.('unclean');
      // Unclean: the first replica back leads, accepting the loss of what it lacks.
      this.logger.warn({ topic: topic.name, partition: p.partition, leader: brokerId }, 'unclean leader election');
      return {
        ...p,
        leader: brokerId,
        isr: [brokerId],
        leaderEpoch: p.leaderEpoch + 1,
        partitionEpoch: p.partitionEpoch + 1,
      };
    });
    this.logger.info({ brokerId }, 'broker unfenced');
  }

  private liveForAssignment(): Array<{ id: number; rack: string | null }> {
    const live = liveBrokers(this.image);
    return [...this.image.brokers.values()].filter((b) => live.has(b.id)).map((b) => ({ id: b.id, rack: b.rack }));
  }

  private async createTopics(req: millrace.CreateTopicsRequest): Promise<millrace.ICreateTopicsResponse> {
    const results: millrace.ITopicResult[] = [];
    const seen = new Set<string>();
    for (const t of req.topics) {
      const name = t.name ?? '';
      try {
        const problem = topicNameProblem(name);
        if (problem) throw new MillraceError('INVALID_TOPIC_EXCEPTION', problem);
        if (seen.has(name)) throw new MillraceError('INVALID_REQUEST', `topic '${name}' appears twice in the request`);
        seen.add(name);
        if (this.image.topics.has(name))
          throw new MillraceError('TOPIC_ALREADY_EXISTS', `topic '${name}' already exists`);
        const partitions =
          t.numPartitions === -1 || !t.numPartitions ? this.settings.defaultPartitions : t.numPartitions;
        const rf =
          t.replicationFactor === -1 || !t.replicationFactor
            ? this.settings.defaultReplicationFactor
            : t.replicationFactor;
        if (partitions < 1 || partitions > MAX_PARTITIONS) {
          throw new MillraceError(
            'INVALID_PARTITIONS',
            `number of partitions must be from 1 to ${MAX_PARTITIONS}, got ${partitions}`,
          );
        }
        const configs = { ...(t.configs ?? {}) };
        validateTopicConfigs(configs);
        const assignment = assignReplicas(this.liveForAssignment(), partitions, rf);
        if (!req.validateOnly) {
          const rec: TopicRecord = {
            name,
            id: randomUUID(),
            configs,
            partitions: assignment.map((replicas, partition) => ({
              partition,
              replicas,
              isr: replicas,
              leader: replicas[0]!,
              leaderEpoch: 0,
              partitionEpoch: 0,
            })),
          };
          await this.commit(() => this.writer.put(keys.topic(name), rec));
          this.logger.info({ topic: name, partitions, replicationFactor: rf }, 'topic created');
        }
        results.push({ name, errorCode: 0, numPartitions: partitions, replicationFactor: rf });
      } catch (err) {
        if (!(err instanceof MillraceError)) throw err;
        results.push({ name, errorCode: err.code, errorMessage: err.detail });
      }
    }
    return { results };
  }

  private async deleteTopics(req: millrace.DeleteTopicsRequest): Promise<millrace.IDeleteTopicsResponse> {
    const results: millrace.ITopicResult[] = [];
    for (const name of req.topics) {
      if (!this.image.topics.has(name)) {
        const e = new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
        results.push({ name, errorCode: e.code, errorMessage: e.detail });
        continue;
      }
      await this.commit(() => this.writer.delete(keys.topic(name)));
      this.logger.info({ topic: name }, 'topic deleted');
      results.push({ name, errorCode: 0 });
    }
    return { results };
  }

  private async createPartitions(req: millrace.CreatePartitionsRequest): Promise<millrace.ICreatePartitionsResponse> {
    const results: millrace.ITopicResult[] = [];
    for (const t of req.topics) {
      const name = t.name ?? '';
      try {
        const topic = this.image.topics.get(name);
        if (!topic) throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
        const current = topic.partitions.length;
        const count = t.count ?? 0;
        if (count <= current)
          throw new MillraceError(
            'INVALID_PARTITIONS',
            `topic '${name}' has ${current} partitions; the new count ${count} must be larger`,
          );
        if (count > MAX_PARTITIONS)
          throw new MillraceError('INVALID_PARTITIONS', `at most ${MAX_PARTITIONS} partitions`);
        const rf = topic.partitions[0]!.replicas.length;
        const added = assignReplicas(this.liveForAssignment(), count - current, rf, current);
        if (!req.validateOnly) {
          const partitions = [
            ...topic.partitions,
            ...added.map((replicas, i) => ({
              partition: current + i,
              replicas,
              isr: replicas,
              leader: replicas[0]!,
              leaderEpoch: 0,
              partitionEpoch: 0,
            })),
          ];
          await this.commit(() => this.writer.put(keys.topic(name), { ...topic, partitions }));
        }
        results.push({ name, errorCode: 0, numPartitions: count, replicationFactor: rf });
      } catch (err) {
        if (!(err instanceof MillraceError)) throw err;
        results.push({ name, errorCode: err.code, errorMessage: err.detail });
      }
    }
    return { results };
  }
}

/**
 * Runs the controller election for one broker and, while it holds the lease, the active
 * controller. Uses its own NATS connection: with noEcho, the broker's requests to the
 * controller must come from another connection to be delivered.
 */
export class ControllerService {
  private active: ActiveController | null = null;
  private election: Actor<typeof controllerElectionMachine> | null = null;
  private leaseKv: KV | null = null;
  private metaKv: KV | null = null;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: ControllerSettings,
    private readonly logger: Logger,
    private readonly onActiveChange: (active: boolean, epoch: number | null) => void = () => undefined,
  ) {}

  get isActive(): boolean {
    return this.active !== null;
  }

  get epoch(): number | null {
    return this.active?.epoch ?? null;
  }

  async start(): Promise<void> {
    const { cluster, leaseMs, metadataReplicas } = this.settings;
    this.leaseKv = await openLeaseBucket(this.nc, cluster, leaseMs, metadataReplicas);
    this.metaKv = await openMetadataBucket(this.nc, cluster, metadataReplicas);
    const leaseKv = this.leaseKv;
    const metaKv = this.metaKv;
    const js = jetstream(this.nc);
    const jsm = await jetstreamManager(this.nc);
    const leaseValue = encoder.encode(JSON.stringify({ brokerId: this.settings.brokerId }));
    const machine = controllerElectionMachine.provide({
      actors: {
        acquire: fromPromise(async () => {
          try {
            return { revision: await leaseKv.create('controller', leaseValue) };
          } catch {
            return null;
          }
        }),
        activate: fromPromise(async ({ input }: { input: { epoch: number } }) => {
          const loader = new MetadataLoader(metaKv, this.logger, () => undefined);
          await loader.start();
          const info = await jsm.streams.info(`KV_${subjects.metaBucket(cluster)}`);
          const writer = new MetadataWriter(js, subjects.metaBucket(cluster), info.state.last_seq);
          await loader.waitFor(info.state.last_seq);
          const active = new ActiveController(
            this.nc,
            this.settings,
            loader,
            writer,
            input.epoch,
            this.logger.child({ role: 'controller' }),
            () => this.election?.send({ type: 'FENCED' }),
          );
          try {
            await active.start();
          } catch (err) {
            await active.stop();
            throw err;
          }
          this.active = active;
          this.onActiveChange(true, input.epoch);
        }),
        renew: fromPromise(({ input }: { input: { revision: number } }) =>
          leaseKv.update('controller', leaseValue, input.revision),
        ),
        resign: fromPromise(async ({ input }: { input: { epoch: number | null } }) => {
          const active = this.active;
          this.active = null;
          if (active) {
            this.onActiveChange(false, null);
            await active.stop();
            this.logger.info({ epoch: input.epoch }, 'controller resigned');
          }
          // Hand the lease over at once when it is still ours (a clean stop), not after its TTL.
          const snapshot = this.election?.getSnapshot();
          const revision = snapshot?.context.revision;
          if (revision != null && snapshot?.matches('Stopping')) {
            await leaseKv.delete('controller', { previousSeq: revision }).catch(() => undefined);
          }
        }),
      },
    });
    this.election = createActor(machine, { input: { leaseMs } });
    this.done = new Promise((resolve) =>
      this.election!.subscribe({ complete: () => resolve(), error: () => resolve() }),
    );
    this.election.subscribe({
      error: (err) => this.logger.error({ err }, 'controller election failed'),
    });
    this.election.start();
  }

  async stop(): Promise<void> {
    if (!this.election) return;
    this.election.send({ type: 'STOP' });
    await this.done;
  }

  /** Stops without resigning: the lease runs out by its TTL, as after a crash. */
  async halt(): Promise<void> {
    this.election?.stop();
    const active = this.active;
    this.active = null;
    await active?.stop();
  }
}
