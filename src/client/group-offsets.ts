/**
 * A group member's offsets: the committed offsets of partitions it is given (OffsetFetch), its
 * commits (OffsetCommit, one at a time), and what it has processed but not committed yet.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { BrokerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import type { MessageType } from '../transport/rpc.js';
import { keyOfTp, type TopicPartition } from './assignors.js';
import { grouped } from './consumer-protocol.js';
import type { ClientContext } from './context.js';
import type { ConsumerEvents, Instrumentation } from './instrumentation.js';

export type Position = TopicPartition & { offset: number };

/** What the offsets need of their member. */
export interface OffsetsMember {
  readonly groupId: string;
  readonly groupInstanceId: string;
  readonly memberId: string;
  readonly generation: number;
  call<ReqI, Res>(
    api: BrokerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
  ): Promise<Res>;
}

export class GroupOffsets {
  private chain: Promise<unknown> = Promise.resolve();
  /** The last committed (or fetched) offset of each partition the member was given. */
  private readonly committedOffsets = new Map<string, number>();
  private lastCommitAt = Date.now();

  constructor(
    private readonly ctx: ClientContext,
    private readonly member: OffsetsMember,
    private readonly events: Instrumentation<ConsumerEvents>,
    /** KIP-447 (a read_committed consumer): offsets of an open transaction are waited for, not read. */
    private readonly requireStable = false,
  ) {}

  /** The group's committed offsets of these partitions (-1: none). */
  async fetch(tps: TopicPartition[]): Promise<Map<string, number>> {
    const res = await this.ctx.retry(async () => {
      const r = await this.member.call(
        'offset_fetch',
        wire.OffsetFetchRequest,
        {
          groupId: this.member.groupId,
          requireStable: this.requireStable,
          topics: grouped(tps).map((g) => ({
            name: g.topic,
            partitions: g.partitions.map((partition) => ({ partition })),
          })),
        },
        wire.OffsetFetchResponse,
      );
      // UNSTABLE_OFFSET_COMMIT is retriable: the transaction's marker comes soon.
      for (const t of r.topics)
        for (const p of t.partitions)
          if (p.errorCode) throw MillraceError.fromCode(p.errorCode, `${t.name}-${p.partition}: ${p.errorMessage}`);
      return r;
    }, 60_000);
    const out = new Map<string, number>();
    for (const t of res.topics)
      for (const p of t.partitions) {
        const key = keyOfTp({ topic: t.name, partition: p.partition });
        out.set(key, Number(p.offset));
        this.committedOffsets.set(key, Number(p.offset));
      }
    return out;
  }

  /** The partitions left the member: their commits are another member's business now. */
  forget(tps: TopicPartition[]): void {
    for (const tp of tps) this.committedOffsets.delete(keyOfTp(tp));
  }

  /** Of these positions, those the group has not committed yet. */
  uncommitted(positions: Position[]): Position[] {
    return positions.filter((p) => this.committedOffsets.get(keyOfTp(p)) !== p.offset);
  }

  /** Commits when `intervalMs` has passed since the last commit (commitOffsetsIfNecessary). */
  async commitIfDue(positions: Position[], intervalMs: number): Promise<void> {
    if (Date.now() - this.lastCommitAt >= intervalMs) await this.commit(positions);
  }

  /**
   * Commits one at a time: a commit retried across a coordinator failover must not land after a
   * later one and move the group's offsets back.
   */
  commit(positions: Position[]): Promise<void> {
    const run = this.chain.then(() => this.send(positions));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async send(positions: Position[]): Promise<void> {
    this.lastCommitAt = Date.now();
    const pending = this.uncommitted(positions);
    if (pending.length === 0) return;
    const { generation, memberId } = this.member;
    if (generation < 0)
      throw new MillraceError(
        'REBALANCE_IN_PROGRESS',
        'the member is not in a generation of its group: commit after it joins',
      );
    const byTopic = new Map<
      string,
      Array<{ partition: number; offset: number; leaderEpoch: number; metadata: string }>
    >();
    for (const p of pending)
      byTopic.set(p.topic, [
        ...(byTopic.get(p.topic) ?? []),
        { partition: p.partition, offset: p.offset, leaderEpoch: -1, metadata: '' },
      ]);
    const res = await this.ctx.retry(() =>
      this.member.call(
        'offset_commit',
        wire.OffsetCommitRequest,
        {
          groupId: this.member.groupId,
          generationId: generation,
          memberId,
          groupInstanceId: this.member.groupInstanceId,
          topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
        },
        wire.OffsetCommitResponse,
      ),
    );
    for (const t of res.topics)
      for (const p of t.partitions)
        if (p.errorCode) throw MillraceError.fromCode(p.errorCode, `${t.name}-${p.partition}: ${p.errorMessage}`);
    for (const p of pending) this.committedOffsets.set(keyOfTp(p), p.offset);
    this.events.emit('consumer.commit_offsets', {
      groupId: this.member.groupId,
      memberId,
      groupGenerationId: generation,
      topics: [...byTopic].map(([topic, partitions]) => ({
        topic,
        partitions: partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) })),
      })),
    });
  }
}
