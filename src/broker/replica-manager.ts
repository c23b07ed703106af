/**
 * The replicas this broker hosts, reconciled against each metadata image: only the partitions an
 * image's changes name, in slices that yield to the event loop; one lag sweep for every follower
 * of every partition led here.
 */
import { MillraceError } from '../../protocol/errors.js';
import { tpKey } from '../../protocol/topic-partition.js';
import { emptyImage, type ImageChanges, type MetadataImage } from '../cluster/image.js';
import { minInsyncReplicas, topicLogConfig } from '../cluster/topic-config.js';
import type { LogManager, TopicPartition } from '../storage/log-manager.js';
import { HostedPartition, type ReplicationSettings } from './hosted-partition.js';

/** A slice of reconciliation runs at most this long before yielding to timers and I/O (heartbeats). */
const RECONCILE_SLICE_MS = 10;

/**
 * The replicas this broker hosts, reconciled against each metadata image. Only the partitions an
 * image changes are queued, and the queue is worked through in short slices that yield to the
 * event loop, so a broker taking on thousands of partitions still heartbeats on time.
 */
export class ReplicaManager {
  private readonly hosted = new Map<string, HostedPartition>();
  private readonly pending = new Map<string, TopicPartition>();
  private image: MetadataImage = emptyImage;
  private draining = false;
  private stopped = false;
  private readonly lagSweep: NodeJS.Timeout;

  constructor(
    private readonly settings: ReplicationSettings,
    private readonly logs: LogManager,
    private readonly logDefaults: Record<string, string>,
    /** Called when the queue of partitions to reconcile has emptied. */
    private readonly onReconciled: () => void = () => undefined,
  ) {
    // One sweep for every follower of every partition led here: at half the lag time, a follower
    // is found out of sync within 1.5x replica.lag.time.max.ms (Kafka's isr-expiration task).
    this.lagSweep = setInterval(
      () => {
        for (const hp of this.hosted.values()) hp.checkLag();
      },
      Math.max(10, Math.floor(settings.lagTimeMaxMs / 2)),
    );
    this.lagSweep.unref();
  }

  get(topic: string, partition: number): HostedPartition | undefined {
    return this.hosted.get(tpKey(topic, partition));
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
      `broker ${this.settings.brokerId} does not lead ${topic}-${partition} (leader ${t.partitions[partition]!.leader})`,
    );
  }

  all(): IterableIterator<HostedPartition> {
    return this.hosted.values();
  }

  /** Queues what `changes` names for reconciliation against `image`. */
  reconcile(image: MetadataImage, changes: ImageChanges): void {
    this.image = image;
    const enqueue = (topic: string, partition: number): void => {
      const tp = { topic, partition };
      this.pending.set(tpKey(tp.topic, tp.partition), tp);
    };
    if (changes.deletedTopics.size)
      for (const hp of this.hosted.values()) if (changes.deletedTopics.has(hp.topic)) enqueue(hp.topic, hp.partition);
    for (const name of changes.topics)
      for (const p of image.topics.get(name)?.partitions ?? []) enqueue(name, p.partition);
    for (const [name, ps] of changes.partitions) for (const p of ps) enqueue(name, p);
    this.drain();
  }

  private drain(): void {
    if (this.draining || this.stopped) return;
    this.draining = true;
    const slice = (): void => {
      if (this.stopped) return;
      const deadline = performance.now() + RECONCILE_SLICE_MS;
      for (const [key, tp] of this.pending) {
        this.pending.delete(key);
        try {
          this.reconcileOne(key, tp);
        } catch (err) {
          this.settings.logger.error({ err, ...tp }, 'reconciling a replica failed');
        }
        if (performance.now() >= deadline) break;
      }
      if (this.pending.size) {
        setImmediate(slice);
        return;
      }
      this.draining = false;
      this.onReconciled();
    };
    slice();
  }

  /** Brings one replica in line with the image: create, change role, or stop and delete. */
  private reconcileOne(key: string, tp: TopicPartition): void {
    const me = this.settings.brokerId;
    const topic = this.image.topics.get(tp.topic);
    const p = topic?.partitions[tp.partition];
    let hp = this.hosted.get(key);
    if (hp && (!topic || !p || !p.replicas.includes(me) || hp.topicId !== topic.id)) {
      hp.stop();
      this.hosted.delete(key);
      this.logs.delete(tp);
      this.settings.logger.info(tp, 'replica removed: log deleted');
      hp = undefined;
    }
    if (!topic || !p || !p.replicas.includes(me)) return;
    const configs = { ...this.logDefaults, ...topic.configs };
    const config = topicLogConfig(configs);
    if (!hp) {
      hp = new HostedPartition(topic.name, p.partition, topic.id, this.logs.getOrCreate(tp, config), this.settings);
      this.hosted.set(key, hp);
    }
    hp.log.config = config;
    hp.apply(p, minInsyncReplicas(configs, this.settings.minInsyncReplicas));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.lagSweep);
    for (const hp of this.hosted.values()) hp.stop();
  }
}
