/**
 * The active controller: a thin shell around the pure cores (cluster-control, replication-control).
 * It receives a request, calls a core on the current image, appends the records it returns (a
 * fenced, pipelined write), waits until its image holds them, and replies. Mutations run one at
 * a time; a heartbeat that writes nothing never waits behind them, so a large topic creation
 * cannot make live brokers miss their sessions. Broker sessions are machines; their timeouts
 * fence through the same path.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import { brokerSessionMachine } from '../../actors/broker-session.js';
import { MillraceError } from '../../protocol/errors.js';
import { subjects, type ControllerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import type { ElectionReason } from '../metrics/catalogue.js';
import { PresenceProber } from '../transport/presence.js';
import { RpcServer, brokerGone, type MessageType, type RequestObserver } from '../transport/rpc.js';
import {
  allocateProducerIds,
  brokerHeartbeat,
  fenceBroker,
  registerBroker,
  registeredBroker,
} from './cluster-control.js';
import { aclOf, createAcls, deleteAcls } from './acl-control.js';
import { alterQuotas } from './quota-control.js';
import { alterScram } from './scram-control.js';
import { alterConfigs } from './config-control.js';
import type { MetadataImage } from './image.js';
import type { MetadataLoader } from './metadata-loader.js';
import { FencedError, type MetadataWriter } from './metadata-writer.js';
import { keys, put } from './records.js';
import {
  alterPartition,
  alterReassignments,
  createPartitions,
  createTopics,
  deleteTopics,
  electPreferredLeaders,
  type ControlEnv,
  type ControlResult,
  type TopicDefaults,
} from './replication-control.js';

export interface ControllerSettings extends TopicDefaults {
  cluster: string;
  brokerId: number;
  /** Controller lease (KV bucket TTL); a dead controller is replaced within it. */
  leaseMs: number;
  /** broker.session.timeout.ms */
  sessionTimeoutMs: number;
  /** How often each broker's presence on NATS is probed: a crashed one is fenced then. */
  brokerProbeIntervalMs: number;
  metadataReplicas: number;
  /** leader.imbalance.check.interval.ms */
  leaderRebalanceIntervalMs: number;
  requestObserver?: RequestObserver;
  /** Counts leader changes by reason (for millrace_leader_elections_total). */
  onLeaderElection?: (reason: ElectionReason) => void;
}

const CONTROL_ENV: ControlEnv = { newTopicId: randomUUID, random: (bound) => Math.floor(Math.random() * bound) };

/** A probe of a broker's API subject waits this long; no-responders comes back at once. */
const PROBE_TIMEOUT_MS = 1_000;

/** A write the controller's own watch has not shown within this is reported, not waited on forever. */
const COMMIT_TIMEOUT_MS = 10_000;

export class ActiveController {
  private readonly sessions = new Map<number, Actor<typeof brokerSessionMachine>>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly rpc: RpcServer;
  private readonly prober: PresenceProber;
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
    this.prober = new PresenceProber(nc, settings.cluster);
  }

  private get image(): MetadataImage {
    return this.loader.image;
  }

  async start(): Promise<void> {
    // The first write fences every older controller: their expected sequence is now stale.
    await this.serialized(() => ({
      records: [put(keys.controller, { brokerId: this.settings.brokerId, epoch: this.epoch })],
      response: null,
      elections: [],
    }));
    for (const b of this.image.brokers.values()) if (!b.fenced && !b.shuttingDown) this.startSession(b.id);
    // A broker that crashed with the old controller is gone from NATS already: fence it now
    // instead of after a whole session timeout.
    void this.fenceVanishedBrokers();
    this.serve('register_broker', wire.BrokerRegistrationRequest, wire.BrokerRegistrationResponse, (r) =>
      this.serialized(() => registerBroker(this.image, r, this.writer.nextSeq, (id) => this.sessionAlive(id))).then(
        (res) => {
          this.startSession(r.brokerId);
          this.logger.info({ brokerId: r.brokerId, brokerEpoch: res.brokerEpoch, rack: r.rack }, 'broker registered');
          return res;
        },
      ),
    );
    this.serve('heartbeat', wire.BrokerHeartbeatRequest, wire.BrokerHeartbeatResponse, (r) => this.heartbeat(r));
    this.serve('create_topics', wire.CreateTopicsRequest, wire.CreateTopicsResponse, (r) =>
      this.serialized(() => createTopics(this.image, r, this.settings, CONTROL_ENV)),
    );
    this.serve('delete_topics', wire.DeleteTopicsRequest, wire.DeleteTopicsResponse, (r) =>
      this.serialized(() => deleteTopics(this.image, r.topics)),
    );
    this.serve('create_partitions', wire.CreatePartitionsRequest, wire.CreatePartitionsResponse, (r) =>
      this.serialized(() => createPartitions(this.image, r, CONTROL_ENV)),
    );
    this.serve('elect_leaders', wire.ElectLeadersRequest, wire.ElectLeadersResponse, (r) =>
      this.serialized(() => electPreferredLeaders(this.image, r.topics)),
    );
    this.serve('alter_reassignments', wire.AlterReassignmentsRequest, wire.AlterReassignmentsResponse, (r) =>
      this.serialized(() => alterReassignments(this.image, r)),
    );
    this.serve('allocate_producer_ids', wire.AllocateProducerIdsRequest, wire.AllocateProducerIdsResponse, (r) =>
      this.serialized(() => allocateProducerIds(this.image, r)),
    );
    this.serve('alter_configs', wire.AlterConfigsRequest, wire.AlterConfigsResponse, (r) =>
      this.serialized(() => alterConfigs(this.image, r)),
    );
    this.serve('create_acls', wire.CreateAclsRequest, wire.CreateAclsResponse, (r) =>
      this.serialized(() => createAcls(this.image, r.creations.map(aclOf))),
    );
    this.serve('delete_acls', wire.DeleteAclsRequest, wire.DeleteAclsResponse, (r) =>
      this.serialized(() => deleteAcls(this.image, r.filters.map(aclOf))),
    );
    this.serve('alter_scram', wire.AlterScramRequest, wire.AlterScramResponse, (r) =>
      this.serialized(() => alterScram(this.image, r)),
    );
    this.serve('alter_quotas', wire.AlterQuotasRequest, wire.AlterQuotasResponse, (r) =>
      this.serialized(() => alterQuotas(this.image, r)),
    );
    this.serve('alter_partition', wire.AlterPartitionRequest, wire.AlterPartitionResponse, (r) =>
      this.serialized(() => {
        registeredBroker(this.image, r.brokerId, Number(r.brokerEpoch));
        return alterPartition(this.image, r);
      }),
    );
    // Preferred-leader rebalance on a timer, as Kafka's auto.leader.rebalance.enable.
    this.rebalanceTimer = setInterval(() => {
      void this.serialized(() => electPreferredLeaders(this.image, [])).catch((err: unknown) =>
        this.logger.warn({ err }, 'preferred leader rebalance failed'),
      );
    }, this.settings.leaderRebalanceIntervalMs);
    this.rebalanceTimer.unref();
    await this.nc.flush();
    this.logger.info(
      { epoch: this.epoch, brokers: this.image.brokers.size, topics: this.image.topics.size },
      'active controller',
    );
  }

  private serve<Req, ResI>(
    api: ControllerApi,
    requestType: MessageType<unknown, Req>,
    responseType: MessageType<ResI, unknown>,
    handler: (request: Req) => Promise<ResI>,
  ): void {
    this.rpc.handle(
      `controller.${api}`,
      subjects.controller(this.settings.cluster, this.epoch, api),
      requestType,
      responseType,
      handler,
    );
  }

  /**
   * A heartbeat restarts the broker's session at once. Only one that must write (an unfence, a
   * controlled shutdown) joins the queue of mutations, and decides again there on the image of
   * its turn.
   */
  private async heartbeat(
    req: InstanceType<typeof wire.BrokerHeartbeatRequest>,
  ): Promise<ReturnType<typeof brokerHeartbeat>['response']> {
    const first = brokerHeartbeat(this.image, req);
    if (!req.wantShutdown) {
      const session = this.sessions.get(req.brokerId);
      if (!session || session.getSnapshot().status !== 'active') this.startSession(req.brokerId);
      this.sessions.get(req.brokerId)!.send({ type: 'HEARTBEAT' });
    }
    if (first.records.length === 0) return first.response;
    return this.serialized(() => {
      if (req.wantShutdown && !this.image.brokers.get(req.brokerId)?.shuttingDown) {
        this.logger.info({ brokerId: req.brokerId }, 'controlled shutdown: moving leaderships away');
        this.sessions.get(req.brokerId)?.stop();
        this.sessions.delete(req.brokerId);
      }
      return brokerHeartbeat(this.image, req);
    }).then((res) => {
      if (!res.isFenced && first.response.isFenced) this.logger.info({ brokerId: req.brokerId }, 'broker unfenced');
      return res;
    });
  }

  private async fenceVanishedBrokers(): Promise<void> {
    for (const b of [...this.image.brokers.values()].filter((x) => !x.fenced && x.id !== this.settings.brokerId)) {
      if (!(await brokerGone(this.nc, this.settings.cluster, b.id, PROBE_TIMEOUT_MS)) || this.stopped) continue;
      this.logger.warn({ brokerId: b.id }, 'broker process is gone from NATS: fencing it now');
      await this.serialized(() => fenceBroker(this.image, b.id, false)).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rebalanceTimer) clearInterval(this.rebalanceTimer);
    await this.rpc.close();
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
    this.prober.close();
    this.loader.stop();
  }

  /**
   * Runs a core on the image of its turn, one mutation at a time, writes what it returns and
   * waits for the image to hold it. A fenced write makes this controller step down.
   */
  private serialized<R>(decide: () => ControlResult<R>): Promise<R> {
    const run = async (): Promise<R> => {
      if (this.stopped) throw new MillraceError('NOT_CONTROLLER', `controller epoch ${this.epoch} has stepped down`);
      const result = decide();
      if (result.records.length === 0) return result.response;
      try {
        await this.commit(await this.writer.append(result.records));
      } catch (err) {
        if (!(err instanceof FencedError)) throw err;
        this.logger.warn(
          { epoch: this.epoch, err: err.message },
          'metadata write refused: a newer controller exists; stepping down',
        );
        this.onFenced();
        throw new MillraceError('NOT_CONTROLLER', `controller epoch ${this.epoch} was fenced by a newer controller`);
      }
      for (const e of result.elections) this.settings.onLeaderElection?.(e.reason);
      if (result.elections.length) {
        const byReason: Record<string, number> = {};
        for (const e of result.elections) byReason[e.reason] = (byReason[e.reason] ?? 0) + 1;
        this.logger.info({ byReason, records: result.records.length }, 'leaders elected');
      }
      return result.response;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Waits until this controller's image includes the write at `seq`, within a bound. */
  private async commit(seq: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new MillraceError(
              'REQUEST_TIMED_OUT',
              `metadata write ${seq} not seen by the controller's watch within ${COMMIT_TIMEOUT_MS} ms`,
            ),
          ),
        COMMIT_TIMEOUT_MS,
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
    const current = (): boolean => this.sessions.get(brokerId) === actor;
    const actor: Actor<typeof brokerSessionMachine> = createActor(
      brokerSessionMachine.provide({
        actions: {
          probe: (_, { brokerId: id, heartbeats }) => {
            void this.prober.probe(id).then((presence) => {
              if (!current() || presence === 'unknown') return;
              actor.send({ type: presence === 'gone' ? 'GONE' : 'PRESENT', heartbeats });
            });
          },
          fence: (_, { brokerId: id, reason }) => {
            // After a stall of this event loop, expired session timers run before the heartbeats
            // that arrived meanwhile are read: decide once pending I/O has been read, so a
            // heartbeat waiting in the socket revives the session instead of a live broker being fenced.
            setImmediate(() => {
              if (actor.getSnapshot().value !== 'Expired' || !current()) return;
              // Fenced already (found gone when this controller took over): nothing to move.
              if (this.image.brokers.get(id)?.fenced) return;
              this.logger.warn(
                { brokerId: id, sessionTimeoutMs: this.settings.sessionTimeoutMs },
                reason === 'gone-from-nats'
                  ? 'broker process is gone from NATS: fencing it now'
                  : 'broker missed its session timeout: fencing it',
              );
              void this.serialized(() => fenceBroker(this.image, id, false)).catch((err: unknown) =>
                this.logger.error({ err, brokerId: id }, 'fencing failed'),
              );
            });
          },
          revive: (_, { brokerId: id }) => this.logger.info({ brokerId: id }, 'fenced broker is heartbeating again'),
        },
      }),
      {
        input: {
          brokerId,
          sessionTimeoutMs: this.settings.sessionTimeoutMs,
          probeIntervalMs: this.settings.brokerProbeIntervalMs,
        },
      },
    );
    this.sessions.set(brokerId, actor);
    actor.start();
  }

  private sessionAlive(brokerId: number): boolean {
    return this.sessions.get(brokerId)?.getSnapshot().hasTag('live') ?? false;
  }
}
