/** Admin: topics, configs, records and the cluster, with groups (admin-groups.ts) and security (admin-security.ts), as kafkajs's admin client offers them. */
import { MillraceError, errorNameOf } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { wire } from '../../protocol/wire.js';
import { SecurityAdmin } from './admin-security.js';
import { EARLIEST, LATEST } from './offsets.js';
import type { ClusterDescription, ElectionOutcome, NewTopic, TopicConfigs, TopicDescription } from './types.js';

const CONFIG_SOURCES: Record<number, TopicConfigs['configs'][number]['source']> = {
  1: 'topic',
  4: 'broker',
  5: 'default',
};

function firstError(results: millrace.ITopicResult[], ignore: string[] = []): MillraceError | null {
  const failed = results.filter((r) => r.errorCode && !ignore.includes(errorNameOf(r.errorCode)));
  if (failed.length === 0) return null;
  const first = MillraceError.fromCode(
    failed[0]!.errorCode!,
    failed.map((r) => `${r.name}: ${r.errorMessage ?? ''}`).join('; '),
  );
  return first;
}

export class Admin extends SecurityAdmin {
  /**
   * Creates topics and waits until every partition has a leader. Resolves false when a topic
   * already existed (as kafkajs does), true when all were created.
   */
  async createTopics(options: {
    topics: NewTopic[];
    validateOnly?: boolean;
    waitForLeaders?: boolean;
  }): Promise<boolean> {
    const res = await this.call(
      'create_topics',
      wire.CreateTopicsRequest,
      {
        validateOnly: options.validateOnly ?? false,
        topics: options.topics.map((t) => ({
          name: t.topic,
          numPartitions: t.numPartitions ?? -1,
          replicationFactor: t.replicationFactor ?? -1,
          configs: t.configs ?? {},
        })),
      },
      wire.CreateTopicsResponse,
    );
    const err = firstError(res.results, ['TOPIC_ALREADY_EXISTS']);
    if (err) throw err;
    if (!options.validateOnly && options.waitForLeaders !== false) {
      await this.waitForLeaders(options.topics.map((t) => t.topic));
    }
    return res.results.every((r) => !r.errorCode);
  }

  private async waitForLeaders(topics: string[]): Promise<void> {
    await this.ctx.retry(async () => {
      const md = await this.ctx.metadata.refresh(topics);
      for (const t of md.topics) {
        if (t.errorCode || (t.partitions ?? []).some((p) => (p.leader ?? -1) < 0)) {
          throw new MillraceError('LEADER_NOT_AVAILABLE', `topic '${t.name}' has no leader yet`);
        }
      }
    });
  }

  async deleteTopics(options: { topics: string[] }): Promise<void> {
    const res = await this.call(
      'delete_topics',
      wire.DeleteTopicsRequest,
      { topics: options.topics },
      wire.DeleteTopicsResponse,
    );
    for (const t of options.topics) this.ctx.metadata.forget(t);
    const err = firstError(res.results);
    if (err) throw err;
  }

  async createPartitions(options: {
    topicPartitions: Array<{ topic: string; count: number }>;
    validateOnly?: boolean;
  }): Promise<void> {
    const res = await this.call(
      'create_partitions',
      wire.CreatePartitionsRequest,
      {
        validateOnly: options.validateOnly ?? false,
        topics: options.topicPartitions.map((t) => ({ name: t.topic, count: t.count })),
      },
      wire.CreatePartitionsResponse,
    );
    const err = firstError(res.results);
    if (err) throw err;
    if (!options.validateOnly) await this.waitForLeaders(options.topicPartitions.map((t) => t.topic));
  }

  /**
   * Preferred leader election: each partition's leadership goes back to its first replica when
   * that replica is live and in sync. One result per partition considered.
   */
  async electLeaders(options: { topics?: string[] } = {}): Promise<ElectionOutcome[]> {
    const res = await this.call(
      'elect_leaders',
      wire.ElectLeadersRequest,
      { topics: options.topics ?? [] },
      wire.ElectLeadersResponse,
    );
    return res.results.map((r) => ({
      topic: r.topic,
      partition: r.partition,
      leader: r.leader,
      outcome: r.errorCode ? errorNameOf(r.errorCode) : 'ELECTED',
      detail: r.errorMessage,
    }));
  }

  /**
   * Moves partitions to new replica sets (KIP-455): the new replicas catch up and join the ISR,
   * then the old ones are removed (leadership moves when the leader leaves). Resolves once the
   * moves have started; `describeTopics` shows them complete.
   */
  async alterPartitionReassignments(options: {
    partitions: Array<{ topic: string; partition: number; replicas: number[] }>;
  }): Promise<void> {
    const res = await this.call(
      'alter_reassignments',
      wire.AlterReassignmentsRequest,
      { partitions: options.partitions },
      wire.AlterReassignmentsResponse,
    );
    const failed = res.results.filter((r) => r.errorCode);
    if (failed.length)
      throw MillraceError.fromCode(
        failed[0]!.errorCode,
        failed.map((r) => `${r.topic}-${r.partition}: ${r.errorMessage}`).join('; '),
      );
  }

  async listTopics(): Promise<string[]> {
    const md = await this.ctx.metadata.refresh();
    return md.topics.map((t) => t.name).sort();
  }

  async describeCluster(): Promise<ClusterDescription> {
    const md = await this.ctx.metadata.refresh();
    return {
      cluster: md.cluster,
      controllerId: md.controllerId,
      controllerEpoch: md.controllerEpoch,
      metadataVersion: md.metadataVersion,
      brokers: md.brokers.map((b) => ({
        id: b.id,
        rack: b.rack || null,
        fenced: b.fenced,
        kafkaEndpoint: b.kafkaEndpoint || null,
      })),
    };
  }

  /** Topics with partitions, leaders, replicas, ISR and earliest/latest offsets. */
  async describeTopics(topics?: string[]): Promise<TopicDescription[]> {
    const md = await this.ctx.metadata.refresh(topics ?? []);
    const out: TopicDescription[] = [];
    for (const t of md.topics) {
      if (t.errorCode) throw MillraceError.fromCode(t.errorCode, t.errorMessage || t.name);
      const partitions = (t.partitions ?? []).map((p) => ({
        partition: p.partition ?? 0,
        leader: p.leader ?? -1,
        leaderEpoch: p.leaderEpoch ?? -1,
        replicas: p.replicas ?? [],
        isr: p.isr ?? [],
      }));
      out.push({ name: t.name, id: t.topicId, configs: { ...t.configs }, partitions });
    }
    await Promise.all(
      out.map(async (t) => {
        const [earliest, latest] = await Promise.all([this.offsets(t.name, EARLIEST), this.offsets(t.name, LATEST)]);
        for (const p of t.partitions) {
          const e = earliest.get(p.partition);
          const l = latest.get(p.partition);
          if (typeof e === 'object') p.earliestOffset = e.offset;
          if (typeof l === 'object') {
            p.latestOffset = l.offset;
            p.logEndOffset = l.logEndOffset;
          }
          const err = typeof e === 'string' ? e : typeof l === 'string' ? l : undefined;
          if (err) (p as { error?: string }).error = err;
        }
      }),
    );
    return out;
  }

  /** Each topic's configs: its own settings, else the broker's defaults, else Kafka's (`source` says which). */
  async describeConfigs(options: { topics: string[]; keys?: string[] }): Promise<TopicConfigs[]> {
    const res = await this.call(
      'describe_configs',
      wire.DescribeConfigsRequest,
      { topics: options.topics, keys: options.keys ?? [] },
      wire.DescribeConfigsResponse,
    );
    return res.results.map((r) => {
      if (r.errorCode) throw MillraceError.fromCode(r.errorCode, `${r.topic}: ${r.errorMessage}`);
      return {
        topic: r.topic,
        configs: r.configs.map((c) => ({
          name: c.name,
          value: c.value,
          source: CONFIG_SOURCES[c.source] ?? 'default',
        })),
      };
    });
  }

  /**
   * Changes a topic's configs (as Kafka's IncrementalAlterConfigs): `set` values, `delete` keys
   * back to their defaults. The whole resulting set is validated before anything is written.
   */
  async alterConfigs(options: {
    topic: string;
    set?: Record<string, string>;
    delete?: string[];
    validateOnly?: boolean;
  }): Promise<void> {
    const ops = [
      ...Object.entries(options.set ?? {}).map(([name, value]) => ({ name, op: 0, value })),
      ...(options.delete ?? []).map((name) => ({ name, op: 1, value: '' })),
    ];
    const res = await this.call(
      'alter_configs',
      wire.AlterConfigsRequest,
      { topics: [{ topic: options.topic, ops }], validateOnly: options.validateOnly ?? false },
      wire.AlterConfigsResponse,
    );
    const err = firstError(res.results);
    if (err) throw err;
  }

  /**
   * Deletes the records before `offset` in each partition (-1: everything below the high
   * watermark): the log start moves there. Resolves with each partition's new log start.
   */
  async deleteRecords(options: {
    topic: string;
    partitions: Array<{ partition: number; offset: bigint | number }>;
  }): Promise<Array<{ partition: number; lowWatermark: bigint }>> {
    const leaders = new Map((await this.ctx.metadata.partitionsOf(options.topic)).map((p) => [p.partition, p.leader]));
    const byLeader = new Map<number, Array<{ partition: number; offset: number }>>();
    for (const p of options.partitions) {
      const leader = leaders.get(p.partition);
      if (leader === undefined)
        throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${options.topic}-${p.partition} does not exist`);
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), { partition: p.partition, offset: Number(p.offset) }]);
    }
    const out: Array<{ partition: number; lowWatermark: bigint }> = [];
    await Promise.all(
      [...byLeader.values()].map(async (partitions) => {
        // Found again on a retry: a NOT_LEADER_OR_FOLLOWER refreshes the metadata first.
        const leaderNow = async () =>
          (await this.ctx.metadata.partitionsOf(options.topic)).find((p) => p.partition === partitions[0]!.partition)!
            .leader;
        const res = await this.callAt(
          leaderNow,
          'delete_records',
          wire.DeleteRecordsRequest,
          { topics: [{ name: options.topic, partitions }] },
          wire.DeleteRecordsResponse,
        );
        for (const t of res.topics)
          for (const p of t.partitions) {
            if (p.errorCode) throw MillraceError.fromCode(p.errorCode, `${t.name}-${p.partition}: ${p.errorMessage}`);
            out.push({ partition: p.partition, lowWatermark: BigInt(p.lowWatermark) });
          }
      }),
    );
    return out.sort((a, b) => a.partition - b.partition);
  }
}
