/**
 * A group's committed offsets: OffsetCommit, TxnOffsetCommit (offsets written in a producer's
 * transaction, counting once its commit marker lands), OffsetDelete and OffsetFetch, as Kafka's
 * OffsetMetadataManager is to its group coordinator. Decisions are offset-rules.ts's; the groups
 * and their partitions are the coordinator's (`OffsetsHost`).
 */
import { MillraceError } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import { wire } from '../../../protocol/wire.js';
import { AclOperation } from '../../../protocol/acl.js';
import type { Access, Caller } from '../authorizer.js';
import { appendInternal } from '../internal-topics.js';
import { onPermittedTopics, splitTopics } from './topic-access.js';
import type { GroupRuntime, OffsetsPartition } from './group-runtime.js';
import { absentGroup } from './group-rules.js';
import { admitCommit, commitError, offsetFetchResponse, planCommit, planOffsetDelete } from './offset-rules.js';
import type { CommittedOffset, OffsetsRecord } from './offsets-topic.js';

/** What the offsets need of the group coordinator. */
export interface OffsetsHost {
  access: Access;
  settings: { offsetMetadataMaxBytes: number; commitTimeoutMs: number };
  now: () => number;
  /** The partition coordinating the group here, or NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS. */
  partitionOf(group: string): OffsetsPartition;
  getOrCreate(group: string): GroupRuntime;
  /** A loaded `__consumer_offsets` partition by number. */
  partition(partition: number): OffsetsPartition | undefined;
  /** Appends at acks=all. */
  append(op: OffsetsPartition, records: OffsetsRecord[]): Promise<void>;
}

export class GroupOffsets {
  constructor(private readonly host: OffsetsHost) {}

  /** Commits what the caller may read; partitions of topics it may not get TOPIC_AUTHORIZATION_FAILED. */
  async offsetCommit(req: millrace.OffsetCommitRequest, caller: Caller): Promise<millrace.IOffsetCommitResponse> {
    this.host.access.requireGroup(caller, AclOperation.READ, req.groupId);
    return onPermittedTopics(
      this.host.access,
      req,
      caller,
      (topics) => wire.OffsetCommitRequest.create({ ...req, topics }),
      (r) => this.commitAllowed(r),
    );
  }

  private async commitAllowed(req: millrace.OffsetCommitRequest): Promise<millrace.IOffsetCommitResponse> {
    const g = this.host.getOrCreate(req.groupId);
    admitCommit(g.view, req);
    if (req.memberId) g.apply([{ type: 'HEARTBEAT', memberId: req.memberId }]);
    const { records, accepted, response } = planCommit(req, this.host.settings.offsetMetadataMaxBytes, this.host.now());
    if (records.length > 0) {
      try {
        await this.host.append(g.partition, records);
      } catch (err) {
        const e = commitError(err);
        return {
          topics: response.topics!.map((t) => ({
            name: t.name,
            partitions: t.partitions!.map((p) => ({ ...p, ...e })),
          })),
        };
      }
      for (const a of accepted) g.offsets.set(a.key, a.value);
    }
    return response;
  }

  /**
   * TxnOffsetCommit: the offsets are written in the producer's transaction (a transactional batch
   * of the group's partition) and count once its commit marker lands (`completeTransaction`).
   * Clients before KIP-447 send no member or generation: those are not checked, as in Kafka.
   */
  async txnOffsetCommit(
    req: millrace.TxnOffsetCommitRequest,
    caller: Caller,
  ): Promise<millrace.ITxnOffsetCommitResponse> {
    this.host.access.requireGroup(caller, AclOperation.READ, req.groupId);
    return onPermittedTopics(
      this.host.access,
      req,
      caller,
      (topics) => wire.TxnOffsetCommitRequest.create({ ...req, topics }),
      (r) => this.txnCommitAllowed(r),
    );
  }

  private async txnCommitAllowed(req: millrace.TxnOffsetCommitRequest): Promise<millrace.ITxnOffsetCommitResponse> {
    const g = this.host.getOrCreate(req.groupId);
    if (req.generationId >= 0 || req.memberId) admitCommit(g.view, req);
    const { records, accepted, response } = planCommit(req, this.host.settings.offsetMetadataMaxBytes, this.host.now());
    if (records.length === 0) return response;
    const op = g.partition;
    if (op.stale) throw new MillraceError('NOT_COORDINATOR', 'the coordinator partition moved');
    // The group partition keeps the producer's sequence like any partition: the next one is ours.
    const entry = op.hp.log.producerState.entry(req.producerId);
    const last = entry?.producerEpoch === req.producerEpoch ? entry.batches.at(-1)?.lastSeq : undefined;
    const producer = {
      producerId: req.producerId,
      producerEpoch: req.producerEpoch,
      baseSequence: last === undefined ? 0 : last + 1,
    };
    try {
      await appendInternal(op.hp, records, this.host.now(), this.host.settings.commitTimeoutMs, producer);
    } catch (err) {
      const e = commitError(err);
      return {
        topics: response.topics!.map((t) => ({ name: t.name, partitions: t.partitions!.map((p) => ({ ...p, ...e })) })),
      };
    }
    let open = g.pendingTxnOffsets.get(req.producerId);
    if (!open) g.pendingTxnOffsets.set(req.producerId, (open = new Map()));
    for (const a of accepted) open.set(a.key, a.value);
    return response;
  }

  /** A transaction's marker landed on `__consumer_offsets` partition `partition`: its offsets count, or are dropped. */
  completeTransaction(partition: number, producerId: number, commit: boolean): void {
    const op = this.host.partition(partition);
    if (!op) return;
    for (const g of op.groups.values()) {
      const open = g.pendingTxnOffsets.get(producerId);
      if (!open) continue;
      g.pendingTxnOffsets.delete(producerId);
      if (commit) for (const [k, v] of open) g.offsets.set(k, v);
    }
  }

  async offsetDelete(req: millrace.OffsetDeleteRequest, caller: Caller): Promise<millrace.IOffsetDeleteResponse> {
    this.host.access.requireGroup(caller, AclOperation.DELETE, req.groupId);
    return onPermittedTopics(
      this.host.access,
      req,
      caller,
      (topics) => wire.OffsetDeleteRequest.create({ ...req, topics }),
      (r) => this.deleteAllowed(r),
    );
  }

  private async deleteAllowed(req: millrace.OffsetDeleteRequest): Promise<millrace.IOffsetDeleteResponse> {
    const op = this.host.partitionOf(req.groupId);
    const g = op.groups.get(req.groupId);
    const committed = g?.offsets ?? new Map<string, CommittedOffset>();
    const { records, deleted, response } = planOffsetDelete(g?.view ?? absentGroup(req.groupId), committed, req);
    if (records.length > 0) {
      await this.host.append(op, records);
      for (const key of deleted) committed.delete(key);
    }
    return response;
  }

  /** The group's offsets of the topics the caller may describe (every such topic's when none is named). */
  offsetFetch(req: millrace.OffsetFetchRequest, caller: Caller): millrace.IOffsetFetchResponse {
    this.host.access.requireGroup(caller, AclOperation.DESCRIBE, req.groupId);
    const g = this.host.partitionOf(req.groupId).groups.get(req.groupId);
    const offsets = g?.offsets ?? new Map<string, CommittedOffset>();
    const pending = new Set<string>();
    for (const open of g?.pendingTxnOffsets.values() ?? []) for (const key of open.keys()) pending.add(key);
    if (req.topics.length === 0) {
      const res = offsetFetchResponse(offsets, req, pending);
      const visible = (res.topics ?? []).filter((t) =>
        this.host.access.topicAllowed(caller, AclOperation.DESCRIBE, t.name ?? ''),
      );
      return { ...res, topics: visible };
    }
    const { allowed, denied } = splitTopics(this.host.access, req.topics, caller, AclOperation.DESCRIBE);
    if (denied.length === 0) return offsetFetchResponse(offsets, req, pending);
    const res = allowed.length
      ? offsetFetchResponse(offsets, wire.OffsetFetchRequest.create({ ...req, topics: allowed }), pending)
      : {};
    return { ...res, topics: [...(res.topics ?? []), ...denied] };
  }
}
