/**
 * A Millrace broker process: its NATS connections, its share of the controller election, the
 * metadata image, the logs it hosts and the APIs it serves, driven through its lifecycle by the
 * BrokerLifecycle machine.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino, type Logger } from 'pino';
import { createActor, fromPromise, type Actor } from 'xstate';
import { brokerLifecycleMachine, type HeartbeatInput, type HeartbeatResult } from '../../actors/broker-lifecycle.js';
import { MillraceError } from '../../protocol/errors.js';
import { wire } from '../../protocol/wire.js';
import { openMetadataBucket } from '../cluster/buckets.js';
import { ControllerClient } from '../cluster/controller-client.js';
import { leaderEndOffsets } from './end-offsets.js';
import { ControllerService } from '../cluster/controller.js';
import { allOf, type ImageChanges, type MetadataImage } from '../cluster/image.js';
import { MetadataLoader } from '../cluster/metadata-loader.js';
import { parseIpOverrides } from '../kafka/connection-quotas.js';
import { controllerGauges } from '../metrics/controller-gauges.js';
import { topicLogConfig } from '../cluster/topic-config.js';
import { KafkaListener, kafkaDoor } from '../kafka/index.js';
import { BrokerMetrics } from '../metrics/catalogue.js';
import { registerHostMetrics } from '../metrics/host.js';
import { KafkaListenerMetrics } from '../metrics/kafka.js';
import { registerTailCacheMetrics } from '../metrics/tail-cache.js';
import { watchEventLoop } from '../metrics/event-loop.js';
import { logFiles } from '../storage/file-handles.js';
import { LogManager } from '../storage/log-manager.js';
import { connectNats } from '../transport/connection.js';
import { servePresence } from '../transport/presence.js';
import { RpcServer } from '../transport/rpc.js';
import { VERSION } from '../version.js';
import { Access, Authorizer } from './authorizer.js';
import {
  authorizerSettings,
  brokerNatsCredentials,
  kafkaBrokerConfigs,
  listenerSecurity,
  type BrokerConfig,
} from './config.js';
import { GroupCoordinator } from './group/coordinator.js';
import { TxnCoordinator } from './txn/coordinator.js';
import { MarkerWriter, type MarkerContext } from './txn/markers.js';
import { TxnApis } from './txn/txn-apis.js';
import { AlterPartitionManager } from './alter-partition-manager.js';
import { BrokerHandlers } from './handlers.js';
import { NatsPrincipals } from './nats-principal.js';
import { lockDataDir, type DirLock } from '../storage/dir-lock.js';
import { ClientQuotas } from './client-quotas.js';
import { ProducerIdManager } from './producer-ids.js';
import { ReplicaFetcherManager } from './replica-fetcher.js';
import type { HostedPartition } from './hosted-partition.js';
import { ReplicaManager } from './replica-manager.js';
import { codecsReady } from '../../protocol/records/compression.js';

const CONTROLLER_RPC_TIMEOUT_MS = 5_000;

export class Broker {
  private lifecycle!: Actor<typeof brokerLifecycleMachine>;
  private logs: LogManager | null = null;
  private replicas: ReplicaManager | null = null;
  private groups: GroupCoordinator | null = null;
  /** When the controller last answered a heartbeat: a coordinator that has not heard from it lately may be a zombie. */
  private heartbeatAckedAt = 0;
  private txns: TxnCoordinator | null = null;
  private fetchers: ReplicaFetcherManager | null = null;
  private rpc: RpcServer | null = null;
  private metricsServer: { port: number; close: () => Promise<void> } | null = null;
  private dirLock: DirLock | null = null;
  private kafka: KafkaListener | null = null;
  private stopped!: Promise<void>;
  private stopLoopWatch: () => void = () => undefined;
  readonly incarnationId = randomUUID();
  readonly metrics: BrokerMetrics;

  private constructor(
    readonly config: BrokerConfig,
    readonly logger: Logger,
    private readonly nc: NatsConnection,
    private readonly controllerNc: NatsConnection,
    private readonly loader: MetadataLoader,
    readonly controller: ControllerService,
  ) {
    this.metrics = new BrokerMetrics(
      { brokerId: config.id, cluster: config.cluster, rack: config.rack, version: VERSION },
      () =>
        [...(this.replicas?.all() ?? [])].map((hp) => ({
          topic: hp.topic,
          partition: hp.partition,
          size: hp.log.size,
          logStartOffset: hp.log.logStartOffset,
          logEndOffset: hp.log.logEndOffset,
          highWatermark: hp.highWatermark,
          leader: hp.isLeader,
          replicas: hp.replicas.length,
          isr: hp.isr.length,
          minInsync: hp.minInsync,
          followerLag: hp.isLeader ? -1 : hp.followerLag,
          segments: hp.log.segmentCount,
        })),
      () => this.groups?.snapshot() ?? [],
      () => this.groups?.lag() ?? [],
      () => (controller.isActive ? controllerGauges(loader.image) : null),
    );
  }

  /** Starts a broker and resolves once it is Running (registered, logs loaded, serving). */
  static async start(config: BrokerConfig, logger?: Logger): Promise<Broker> {
    const log = (logger ?? pino({ level: config.logLevel })).child({ brokerId: config.id, cluster: config.cluster });
    // Start-up steps are logged: a broker that waits on NATS or JetStream says where it waits.
    // First, as Kafka takes its .lock: a second broker on this directory stops here.
    const dirLock = await lockDataDir(config.dataDir, config.id);
    // The cleaner recompresses with the batches' own codec, zstd among them.
    await codecsReady();
    log.info({ nats: config.nats }, 'connecting to NATS');
    const credentials = brokerNatsCredentials(config);
    const nc = await connectNats({ servers: config.nats, name: `millrace-broker-${config.id}`, credentials }).catch(
      async (err: unknown) => {
        await dirLock.release();
        throw err;
      },
    );
    // Present from now on: the controller tells a crashed broker by the end of this subscription.
    servePresence(nc, config.cluster, config.id);
    const controllerNc = await connectNats({
      servers: config.nats,
      name: `millrace-controller-${config.id}`,
      credentials,
    }).catch(async (err: unknown) => {
      await Promise.allSettled([nc.close(), dirLock.release()]);
      throw err;
    });
    let broker: Broker | null = null;
    log.info({ replicas: config.metadataReplicas }, 'opening the metadata log');
    const metaKv = await openMetadataBucket(nc, config.cluster, config.metadataReplicas, (err) =>
      log.warn({ err: String(err) }, 'JetStream cannot take the metadata log yet (is its cluster forming?); retrying'),
    ).catch(async (err: unknown) => {
      await Promise.allSettled([nc.close(), controllerNc.close(), dirLock.release()]);
      throw err;
    });
    const loader = new MetadataLoader(metaKv, log, (image, changes) => broker?.onImage(image, changes));
    const controller = new ControllerService(
      controllerNc,
      {
        cluster: config.cluster,
        brokerId: config.id,
        leaseMs: config.controllerLeaseMs,
        sessionTimeoutMs: config.sessionTimeoutMs,
        brokerProbeIntervalMs: config.presenceProbeIntervalMs,
        metadataReplicas: config.metadataReplicas,
        defaultPartitions: config.defaultPartitions,
        defaultReplicationFactor: config.defaultReplicationFactor,
        leaderRebalanceIntervalMs: config.leaderRebalanceIntervalMs,
        onLeaderElection: (reason) => broker?.metrics.leaderElections.inc({ reason }),
        requestObserver: (api, error, seconds) => broker?.metrics.observeRequest(api, error, seconds),
      },
      log,
      (active) => broker?.metrics.activeController.set(active ? 1 : 0),
    );
    broker = new Broker(config, log, nc, controllerNc, loader, controller);
    broker.dirLock = dirLock;
    try {
      await loader.start();
      await controller.start();
      registerHostMetrics(broker.metrics.registry, config.dataDir, nc, [nc, controllerNc]);
      registerTailCacheMetrics(broker.metrics.registry, () => broker!.logs?.tailCache ?? null);
      broker.metricsServer = await broker.metrics.serve(config.metricsPort, config.metricsHost, () =>
        broker!.readiness(),
      );
      log.info({ metrics: `http://${config.metricsHost}:${broker.metricsServer.port}/metrics` }, 'metrics endpoint');
      // A third of the session timeout: a longer stall risks a late heartbeat and a false fencing.
      // Bound before registering: the broker record carries the Kafka endpoint clients are told.
      if (config.kafkaListener)
        broker.kafka = await KafkaListener.bind({
          listener: config.kafkaListener,
          advertised: config.kafkaAdvertisedListener,
          limits: { maxRequestBytes: config.socketRequestMaxBytes, idleMs: config.connectionsMaxIdleMs },
          quotas: {
            maxConnections: config.maxConnections,
            maxConnectionsPerIp: config.maxConnectionsPerIp,
            perIpOverrides: parseIpOverrides(config.maxConnectionsPerIpOverrides),
          },
          metrics: new KafkaListenerMetrics(broker.metrics.registry),
          logger: log,
          security: listenerSecurity(config),
        });
      broker.stopLoopWatch = watchEventLoop(config.sessionTimeoutMs / 3, (maxMs) =>
        log.warn({ maxMs, sessionTimeoutMs: config.sessionTimeoutMs }, 'event loop stalled: heartbeats may be late'),
      );
      await broker.runLifecycle();
    } catch (err) {
      // A broker that cannot start leaves nothing behind: connections, listeners, the lock.
      (broker.lifecycle as Actor<typeof brokerLifecycleMachine> | undefined)?.stop();
      await broker.release(false).catch(() => undefined);
      throw err;
    }
    return broker;
  }

  get metricsPort(): number {
    return this.metricsServer?.port ?? -1;
  }

  /** Ready: registered, its logs recovered, caught up with the metadata log and unfenced (Running). */
  private readiness(): { ready: boolean; reason: string } {
    const snapshot = this.lifecycle?.getSnapshot();
    if (snapshot?.matches({ Lifecycle: 'Running' })) return { ready: true, reason: 'ready' };
    return { ready: false, reason: `not ready: ${JSON.stringify(snapshot?.value ?? 'starting')}` };
  }

  /** The advertised host:port of the Kafka listener, or null without one. */
  get kafkaEndpoint(): string | null {
    return this.kafka?.advertised ?? null;
  }

  get image(): MetadataImage {
    return this.loader.image;
  }

  get state(): unknown {
    return this.lifecycle.getSnapshot().value;
  }

  /** A partition replica hosted here (for inspection: describe, tests). */
  hosted(topic: string, partition: number): HostedPartition | undefined {
    return this.replicas?.get(topic, partition);
  }

  private onImage(image: MetadataImage, changes: ImageChanges): void {
    this.replicas?.reconcile(image, changes);
  }

  private runLifecycle(): Promise<void> {
    const { config } = this;
    const controllerClient = new ControllerClient(this.nc, config.cluster, () => this.loader.image);
    const machine = brokerLifecycleMachine.provide({
      actors: {
        register: fromPromise(async () => {
          const res = await controllerClient.call(
            'register_broker',
            wire.BrokerRegistrationRequest,
            {
              brokerId: config.id,
              incarnationId: this.incarnationId,
              rack: config.rack ?? '',
              kafkaEndpoint: this.kafka?.advertised ?? '',
            },
            wire.BrokerRegistrationResponse,
            CONTROLLER_RPC_TIMEOUT_MS,
          );
          this.logger.info({ brokerEpoch: res.brokerEpoch }, 'registered with the controller');
          return res.brokerEpoch;
        }),
        recover: fromPromise(async () => {
          const started = Date.now();
          logFiles.maxOpen = config.maxOpenLogFiles;
          this.logs = await LogManager.openInSlices({
            dataDir: config.dataDir,
            configFor: (topic) =>
              topicLogConfig({ ...config.logDefaults, ...(this.loader.image.topics.get(topic)?.configs ?? {}) }),
            logger: this.logger,
            producerIdExpirationMs: config.producerIdExpirationMs,
            tailCacheBytes: config.tailCacheBytes,
            cleaner: {
              maxKeys: config.logCleanerMaxKeys,
              ioBytesPerSecond:
                config.logCleanerIoMaxBytesPerSecond > 0 ? config.logCleanerIoMaxBytesPerSecond : Infinity,
              onCleaned: (result, maxDirtyRatio) => this.metrics.cleaned(result, maxDirtyRatio),
            },
          });
          this.logs.startBackgroundTasks({
            producerIdExpirationCheckMs: config.producerIdExpirationCheckMs,
            cleanerBackoffMs: config.logCleanerBackoffMs,
          });
          this.fetchers = new ReplicaFetcherManager({
            nc: this.nc,
            cluster: config.cluster,
            brokerId: config.id,
            brokerEpoch: () => this.lifecycle.getSnapshot().context.brokerEpoch ?? -1,
            requestTimeoutMs: CONTROLLER_RPC_TIMEOUT_MS,
            logger: this.logger,
          });
          const fetchers = this.fetchers;
          const alterPartitions = new AlterPartitionManager(async (partitions) => {
            const res = await controllerClient.call(
              'alter_partition',
              wire.AlterPartitionRequest,
              { brokerId: config.id, brokerEpoch: this.lifecycle.getSnapshot().context.brokerEpoch ?? -1, partitions },
              wire.AlterPartitionResponse,
              CONTROLLER_RPC_TIMEOUT_MS,
            );
            return res.results;
          });
          this.replicas = new ReplicaManager(
            {
              brokerId: config.id,
              lagTimeMaxMs: config.replicaLagTimeMaxMs,
              minInsyncReplicas: config.minInsyncReplicas,
              logger: this.logger,
              onFollowerChange: (hp) => fetchers.update(hp),
              onIsrChange: (shrunk) => (shrunk ? this.metrics.isrShrinks : this.metrics.isrExpands).inc(),
              alterIsr: (hp, newIsr) =>
                alterPartitions.submit({
                  topic: hp.topic,
                  partition: hp.partition,
                  leaderEpoch: hp.leaderEpoch,
                  partitionEpoch: hp.partitionEpoch,
                  newIsr: [...newIsr],
                }),
            },
            this.logs,
            config.logDefaults,
            () => {
              this.groups?.sync();
              this.txns?.sync();
            },
          );
          this.replicas.reconcile(this.loader.image, allOf(this.loader.image));
          this.rpc = new RpcServer(this.nc, this.logger, (api, error, seconds) =>
            this.metrics.observeRequest(api, error, seconds),
          );
          const access = new Access(new Authorizer(authorizerSettings(config), () => this.loader.image.acls));
          // A broker that has not had a heartbeat answered within its session (paused, cut off) may
          // have lost its partitions without knowing yet: its coordinators answer NOT_COORDINATOR
          // instead of from what may be stale memory, until the controller answers again.
          const coordinatorLease = (): string | null => {
            const silentMs = Date.now() - this.heartbeatAckedAt;
            if (this.lifecycle.getSnapshot().context.fenced) return 'is fenced';
            return silentMs < config.sessionTimeoutMs ? null : `has not heard from the controller for ${silentMs} ms`;
          };
          const quotas = new ClientQuotas(() => this.loader.image.quotas);
          this.groups = new GroupCoordinator(
            {
              brokerId: config.id,
              offsetsTopicPartitions: config.offsetsTopicPartitions,
              offsetsTopicReplicationFactor: config.offsetsTopicReplicationFactor,
              initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
              minSessionTimeoutMs: config.groupMinSessionTimeoutMs,
              maxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
              offsetsRetentionMs: config.offsetsRetentionMs,
              offsetsRetentionCheckIntervalMs: config.offsetsRetentionCheckIntervalMs,
              offsetMetadataMaxBytes: 4096,
              commitTimeoutMs: 5_000,
              onRebalance: (group) => this.metrics.groupRebalances.inc({ group }),
              endOffsets: (partitions) =>
                leaderEndOffsets(
                  { nc: this.nc, cluster: config.cluster, timeoutMs: CONTROLLER_RPC_TIMEOUT_MS },
                  this.loader.image,
                  (topic, partition) => this.replicas?.get(topic, partition),
                  partitions,
                ),
              access,
              serving: coordinatorLease,
              logger: this.logger,
            },
            this.replicas,
            controllerClient,
            () => this.loader.image,
          );
          this.groups.sync();
          const producerIds = new ProducerIdManager(
            config.id,
            () => this.lifecycle.getSnapshot().context.brokerEpoch ?? -1,
            controllerClient,
            CONTROLLER_RPC_TIMEOUT_MS,
          );
          producerIds.warmUp();
          const markerContext: MarkerContext = {
            brokerId: config.id,
            cluster: config.cluster,
            nc: this.nc,
            image: () => this.loader.image,
            replicas: this.replicas,
            timeoutMs: 5_000,
            onOffsetsMarker: (partition, producerId, commit) =>
              this.groups?.offsets.completeTransaction(partition, producerId, commit),
            logger: this.logger,
          };
          this.txns = new TxnCoordinator(
            {
              brokerId: config.id,
              partitions: config.transactionStateLogNumPartitions,
              replicationFactor: config.transactionStateLogReplicationFactor,
              maxTimeoutMs: config.transactionMaxTimeoutMs,
              idExpirationMs: config.transactionalIdExpirationMs,
              idExpirationCheckMs: config.transactionalIdExpirationCheckMs,
              commitTimeoutMs: 5_000,
              markerRetryBackoffMs: 100,
              access,
              serving: coordinatorLease,
              logger: this.logger,
            },
            this.replicas,
            controllerClient,
            () => this.loader.image,
            () => producerIds.generate(),
            new MarkerWriter(markerContext),
          );
          this.txns.sync();
          const txnApis = new TxnApis({
            brokerId: config.id,
            cluster: config.cluster,
            nc: this.nc,
            image: () => this.loader.image,
            txns: this.txns,
            groups: this.groups,
            access,
            markers: markerContext,
            requestTimeoutMs: CONTROLLER_RPC_TIMEOUT_MS,
          });
          const handlers = new BrokerHandlers({
            brokerId: config.id,
            cluster: config.cluster,
            nc: this.nc,
            image: () => this.loader.image,
            replicas: this.replicas,
            controller: controllerClient,
            producerIds,
            groups: this.groups,
            txns: this.txns,
            txnApis,
            metrics: this.metrics,
            logDefaults: config.logDefaults,
            minInsyncReplicas: config.minInsyncReplicas,
            access,
            principals: new NatsPrincipals(config.natsAuthManifest, this.logger),
            quotas,
            logger: this.logger,
          });
          handlers.register(this.rpc);
          this.kafka?.serve(
            kafkaDoor({
              brokerId: config.id,
              cluster: config.cluster,
              image: () => this.loader.image,
              handlers,
              groups: this.groups,
              txns: this.txns,
              txnApis,
              controller: controllerClient,
              producerIds,
              autoCreateTopics: config.autoCreateTopicsEnable,
              brokerConfigs: kafkaBrokerConfigs(config),
              access,
              quotas,
              onThrottle: (quota, ms) => this.metrics.quotaThrottle.inc({ door: 'kafka', quota }, ms / 1000),
              sasl: {
                required: this.kafka.saslRequired,
                mechanisms: config.saslEnabledMechanisms.split(',').map((m) => m.trim()),
              },
              logger: this.logger,
            }),
          );
          await this.nc.flush();
          this.logger.info(
            { ms: Date.now() - started, cleanShutdown: this.logs.hadCleanShutdown },
            'recovered: serving requests',
          );
        }),
        heartbeat: fromPromise(async ({ input }: { input: HeartbeatInput }): Promise<HeartbeatResult> => {
          try {
            const res = await controllerClient.call(
              'heartbeat',
              wire.BrokerHeartbeatRequest,
              {
                brokerId: config.id,
                brokerEpoch: input.brokerEpoch,
                currentMetadataOffset: this.loader.image.version,
                wantFence: input.wantFence,
                wantShutdown: input.wantShutdown,
              },
              wire.BrokerHeartbeatResponse,
              // Short: a heartbeat sent to a controller that died meanwhile is never answered, and the
              // next one (to its successor) must go out well within the session timeout.
              Math.min(CONTROLLER_RPC_TIMEOUT_MS, config.sessionTimeoutMs / 3),
            );
            this.heartbeatAckedAt = Date.now();
            return { isFenced: res.isFenced, shouldShutdown: res.shouldShutdown, reregister: false };
          } catch (err) {
            if (err instanceof MillraceError && err.errorName === 'STALE_BROKER_EPOCH')
              return { isFenced: true, shouldShutdown: false, reregister: true };
            throw err;
          }
        }),
        shutdown: fromPromise(() => this.release(true)),
      },
    });
    this.lifecycle = createActor(machine, {
      input: {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        controlledShutdownTimeoutMs: config.controlledShutdownTimeoutMs,
      },
    });
    this.stopped = new Promise((resolve) =>
      this.lifecycle.subscribe({ complete: () => resolve(), error: () => resolve() }),
    );
    return new Promise((resolve, reject) => {
      const sub = this.lifecycle.subscribe((snapshot) => {
        if (snapshot.matches({ Lifecycle: 'Running' })) {
          sub.unsubscribe();
          this.logger.info('running');
          resolve();
        } else if (snapshot.matches({ Lifecycle: 'Stopped' }) || snapshot.status !== 'active') {
          sub.unsubscribe();
          reject(new Error(`broker ${config.id} stopped while starting`));
        }
      });
      this.lifecycle.start();
    });
  }

  /** Controlled shutdown: leaderships move away, logs close cleanly, the marker is written. */
  async stop(): Promise<void> {
    this.lifecycle.send({ type: 'SHUTDOWN' });
    await this.stopped;
  }

  /** Stops at once without moving leaderships or closing logs cleanly: a crash, for tests. */
  async crash(): Promise<void> {
    this.lifecycle.stop();
    await this.release(false);
  }

  private async release(clean: boolean): Promise<void> {
    this.stopLoopWatch();
    await this.kafka?.close();
    await this.rpc?.close();
    await this.fetchers?.stop();
    this.groups?.stop();
    this.txns?.stop();
    this.replicas?.stop();
    if (clean) await this.logs?.close();
    await (clean ? this.controller.stop() : this.controller.halt());
    this.loader.stop();
    await this.metricsServer?.close();
    await Promise.allSettled([this.nc.close(), this.controllerNc.close()]);
    // A crash (here, simulated in-process) frees the directory as the kernel would for a dead process.
    await this.dirLock?.release();
    this.logger.info({ clean }, 'broker stopped');
  }
}
