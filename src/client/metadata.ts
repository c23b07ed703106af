/** The client's cache of cluster metadata: leaders by partition, refreshed on demand. */
import type { NatsConnection } from '@nats-io/transport-node';
import { MillraceError, type ErrorName } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { request } from '../transport/rpc.js';

export interface PartitionInfo {
  partition: number;
  leader: number;
  leaderEpoch: number;
}

export class MetadataCache {
  private topics = new Map<string, PartitionInfo[]>();
  /** Registered brokers, live ones first: any of them forwards admin requests to the controller. */
  private brokers: number[] = [];
  private inflight: Promise<millrace.MetadataResponse> | null = null;

  constructor(
    private readonly nc: () => Promise<NatsConnection>,
    private readonly cluster: string,
    private readonly timeoutMs: number,
  ) {}

  /** Fetches metadata for `topics` (all topics when empty); concurrent calls share one request. */
  async refresh(topics: readonly string[] = []): Promise<millrace.MetadataResponse> {
    if (this.inflight && topics.length === 0) return this.inflight;
    const run = (async () => {
      const nc = await this.nc();
      const res = await this.ask(nc, topics);
      const live = res.brokers.filter((b) => !b.fenced).map((b) => b.id);
      this.brokers = live.length > 0 ? live : res.brokers.map((b) => b.id);
      for (const t of res.topics) {
        if (t.errorCode) {
          this.topics.delete(t.name);
          continue;
        }
        this.topics.set(
          t.name,
          (t.partitions ?? []).map((p) => ({
            partition: p.partition ?? 0,
            leader: p.leader ?? -1,
            leaderEpoch: p.leaderEpoch ?? -1,
          })),
        );
      }
      return res;
    })();
    if (topics.length === 0) this.inflight = run;
    try {
      return await run;
    } finally {
      if (this.inflight === run) this.inflight = null;
    }
  }

  /**
   * Any broker answers on the metadata queue subject; NATS may pick one that is paused or dying,
   * so a timed-out attempt is retried (another member will likely answer), as a Kafka client
   * tries another bootstrap server.
   */
  private async ask(nc: NatsConnection, topics: readonly string[]): Promise<millrace.MetadataResponse> {
    const attemptMs = Math.min(this.timeoutMs, 2_000);
    for (let attempt = 1; ; attempt++) {
      try {
        return await request(
          nc,
          subjects.metadata(this.cluster),
          wire.MetadataRequest,
          { topics: [...topics], allTopics: topics.length === 0 },
          wire.MetadataResponse,
          attemptMs,
        );
      } catch (err) {
        if (
          !(err instanceof MillraceError) ||
          err.errorName !== 'REQUEST_TIMED_OUT' ||
          attempt * attemptMs >= this.timeoutMs
        )
          throw err;
      }
    }
  }

  partitions(topic: string): PartitionInfo[] | undefined {
    return this.topics.get(topic);
  }

  /** Partitions of `topic`, refreshing when unknown; the broker's error (UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED) when none. */
  async partitionsOf(topic: string): Promise<PartitionInfo[]> {
    const known = this.topics.get(topic);
    if (known) return known;
    const res = await this.refresh([topic]);
    const fresh = this.topics.get(topic);
    if (fresh) return fresh;
    // The broker's reason: the topic does not exist, or the caller may not describe it (not retriable).
    const refused = res.topics.find((t) => t.name === topic && t.errorCode);
    if (refused) throw MillraceError.fromCode(refused.errorCode, refused.errorMessage || `topic '${topic}'`);
    throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topic}' does not exist`);
  }

  leader(topic: string, partition: number): number {
    return this.topics.get(topic)?.[partition]?.leader ?? -1;
  }

  leaderEpoch(topic: string, partition: number): number {
    return this.topics.get(topic)?.[partition]?.leaderEpoch ?? -1;
  }

  /** The brokers of the last refresh, live ones (all of them when none is live). */
  liveBrokers(): number[] {
    return [...this.brokers];
  }

  /**
   * A broker for a request any broker answers (admin, InitProducerId, FindCoordinator), live ones
   * preferred; metadata is refreshed when none is known, and `missing` is thrown when none exists.
   */
  async anyBroker(missing: ErrorName = 'BROKER_NOT_AVAILABLE'): Promise<number> {
    if (this.brokers.length === 0) await this.refresh();
    const broker = this.brokers[Math.floor(Math.random() * this.brokers.length)];
    if (broker === undefined) throw new MillraceError(missing, `no live broker in cluster '${this.cluster}'`);
    return broker;
  }

  forget(topic: string): void {
    this.topics.delete(topic);
  }
}
