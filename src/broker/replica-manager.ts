/**
 * The partitions this broker hosts. Each has a partition actor holding its role and leader
 * epoch, reconciled against every metadata image; the data path reads the role from a plain
 * field the actor's actions set, so no event is sent per request.
 */
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import { partitionMachine } from '../../actors/partition.js';
import { MillraceError } from '../../protocol/errors.js';
import type { MetadataImage } from '../cluster/image.js';
import { topicLogConfig } from '../cluster/topic-config.js';
import type { Log } from '../storage/log.js';
import { tpKey, type LogManager } from '../storage/log-manager.js';

export class HostedPartition {
  isLeader = false;
  leaderEpoch = -1;
  /** Offsets below it are committed. With one replica in the ISR it follows the log end. */
  highWatermark = 0;
  /** Long-poll fetches waiting for data on this partition. */
  readonly waiters = new Set<() => void>();
  readonly actor: Actor<typeof partitionMachine>;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly log: Log,
    logger: Logger,
  ) {
    this.highWatermark = log.logEndOffset;
    this.actor = createActor(
      partitionMachine.provide({
        actions: {
          becameLeader: (_, { leaderEpoch }) => {
            this.isLeader = true;
            this.leaderEpoch = leaderEpoch;
            // A new leader records its epoch at its log end (KIP-101).
            this.log.leaderEpochCache.assign(leaderEpoch, this.log.logEndOffset);
            this.highWatermark = this.log.logEndOffset;
            logger.info({ topic, partition, leaderEpoch, logEndOffset: this.log.logEndOffset }, 'became leader');
          },
          becameFollower: (_, { leaderEpoch, leader }) => {
            this.isLeader = false;
            this.leaderEpoch = leaderEpoch;
            logger.info({ topic, partition, leaderEpoch, leader }, 'became follower');
          },
          wentOffline: () => {
            this.isLeader = false;
            logger.warn({ topic, partition }, 'partition offline: no live in-sync replica can lead');
          },
          stopped: () => {
            this.isLeader = false;
          },
        },
      }),
      { input: { topic, partition } },
    );
    this.actor.start();
  }

  /** After an append: the high watermark moves (one-replica ISR) and waiting fetches wake. */
  appended(): void {
    this.highWatermark = this.log.logEndOffset;
    for (const wake of [...this.waiters]) wake();
  }
}

export class ReplicaManager {
  private readonly hosted = new Map<string, HostedPartition>();

  constructor(
    private readonly brokerId: number,
    private readonly logs: LogManager,
    private readonly logDefaults: Record<string, string>,
    private readonly logger: Logger,
  ) {}

  get(topic: string, partition: number): HostedPartition | undefined {
    return this.hosted.get(tpKey({ topic, partition }));
  }

  /** The leader replica, or the Kafka error a client should see. */
  leaderFor(image: MetadataImage, topic: string, partition: number): HostedPartition {
    const hp = this.get(topic, partition);
    if (hp?.isLeader) return hp;
    const t = image.topics.get(topic);
    if (!t || partition < 0 || partition >= t.partitions.length) {
      throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${topic}-${partition} does not exist`);
    }
    throw new MillraceError(
      'NOT_LEADER_OR_FOLLOWER',
      `broker ${this.brokerId} does not lead ${topic}-${partition} (leader ${t.partitions[partition]!.leader})`,
    );
  }

  all(): IterableIterator<HostedPartition> {
    return this.hosted.values();
  }

  /** Brings hosted replicas in line with `image`: create, change role, stop and delete. */
  reconcile(image: MetadataImage): void {
    const wanted = new Set<string>();
    for (const topic of image.topics.values()) {
      const config = topicLogConfig({ ...this.logDefaults, ...topic.configs });
      for (const p of topic.partitions) {
        if (!p.replicas.includes(this.brokerId)) continue;
        const key = tpKey({ topic: topic.name, partition: p.partition });
        wanted.add(key);
        let hp = this.hosted.get(key);
        if (!hp) {
          const log = this.logs.getOrCreate({ topic: topic.name, partition: p.partition }, config);
          hp = new HostedPartition(topic.name, p.partition, log, this.logger);
          this.hosted.set(key, hp);
        }
        hp.log.config = config;
        if (p.leader === this.brokerId)
          hp.actor.send({ type: 'BECOME_LEADER', leaderEpoch: p.leaderEpoch, leader: p.leader });
        else if (p.leader === -1) hp.actor.send({ type: 'GO_OFFLINE' });
        else hp.actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: p.leaderEpoch, leader: p.leader });
      }
    }
    for (const [key, hp] of this.hosted) {
      if (wanted.has(key)) continue;
      hp.actor.send({ type: 'STOP' });
      this.hosted.delete(key);
      for (const wake of hp.waiters) wake();
      this.logs.delete({ topic: hp.topic, partition: hp.partition });
      this.logger.info({ topic: hp.topic, partition: hp.partition }, 'replica removed: log deleted');
    }
  }

  stop(): void {
    for (const hp of this.hosted.values()) hp.actor.send({ type: 'STOP' });
  }
}
