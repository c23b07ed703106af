/**
 * A transactional producer's side of the protocol (Kafka's TransactionManager): its producer id
 * and epoch from InitProducerId with the transactional id (fencing earlier producers of the
 * id), the partitions and groups added to the open transaction, and its end. Ending a
 * transaction bumps the epoch (KIP-890 part 2): the reply's epoch numbers the next
 * transaction's batches from sequence 0. Errors are Kafka's: a fenced producer (PRODUCER_FENCED,
 * INVALID_PRODUCER_EPOCH) can only be closed; an abortable error fails the transaction, which
 * must then be aborted.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { BrokerApi } from '../../protocol/subjects.js';
import { tpKey } from '../../protocol/topic-partition.js';
import { wire } from '../../protocol/wire.js';
import type { MessageType } from '../transport/rpc.js';
import { callBroker, type ClientContext } from './context.js';
import { findCoordinator } from './group.js';

/** Errors after which the producer cannot go on: another producer took the transactional id. */
const FATAL = new Set([
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_PRODUCER_ID_MAPPING',
]);

export const isFatalTxnError = (err: MillraceError): boolean => FATAL.has(err.errorName);

export interface OffsetsToCommit {
  groupId: string;
  /** KIP-447: the consumer's membership, checked by the group coordinator (-1 / '' when unknown). */
  generationId: number;
  memberId: string;
  groupInstanceId: string;
  topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: number; metadata?: string }> }>;
}

export class TransactionManager {
  producerId = -1;
  producerEpoch = -1;
  private coordinator = -1;
  private readonly added = new Set<string>();
  private adding: Promise<void> | null = null;
  private readonly toAdd = new Map<string, { topic: string; partition: number }>();
  /** The error that fails the open transaction (it must be aborted), or the producer (fatal). */
  error: MillraceError | null = null;
  fatal: MillraceError | null = null;

  constructor(
    private readonly ctx: ClientContext,
    readonly transactionalId: string,
    private readonly timeoutMs: number,
    private readonly deadlineMs: number,
  ) {}

  /** A request to the transaction coordinator, found again when it moved. */
  private async call<ReqI, Res>(
    api: BrokerApi,
    reqType: MessageType<ReqI, unknown>,
    message: ReqI,
    resType: MessageType<unknown, Res>,
  ): Promise<Res> {
    return this.ctx.retry(async () => {
      if (this.coordinator < 0) this.coordinator = await findCoordinator(this.ctx, this.transactionalId, 1);
      try {
        return await callBroker(this.ctx, this.coordinator, api, reqType, message, resType);
      } catch (err) {
        const e = MillraceError.from(err);
        if (e.coordinatorMoved || e.errorName === 'REQUEST_TIMED_OUT' || e.errorName === 'NETWORK_EXCEPTION')
          this.coordinator = -1;
        throw e;
      }
    }, this.deadlineMs);
  }

  private failed(err: unknown): MillraceError {
    const e = MillraceError.from(err);
    if (isFatalTxnError(e)) this.fatal ??= e;
    else this.error ??= e;
    return e;
  }

  /** Throws what stops the producer, or (when `open`) what stops the open transaction. */
  check(open: boolean): void {
    if (this.fatal) throw this.fatal;
    if (open && this.error) throw this.error;
  }

  /** InitProducerId with the transactional id: a producer id and epoch; earlier producers of the id are fenced. */
  async init(): Promise<void> {
    this.check(false);
    try {
      const res = await this.call(
        'init_producer_id',
        wire.InitProducerIdRequest,
        {
          transactionalId: this.transactionalId,
          transactionTimeoutMs: this.timeoutMs,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
        },
        wire.InitProducerIdResponse,
      );
      this.producerId = res.producerId;
      this.producerEpoch = res.producerEpoch;
    } catch (err) {
      const e = MillraceError.from(err);
      if (isFatalTxnError(e)) this.fatal ??= e;
      throw e;
    }
  }

  isAdded(topic: string, partition: number): boolean {
    return this.added.has(tpKey(topic, partition));
  }

  /**
   * Adds a partition to the open transaction before its first batch goes out; partitions asked
   * meanwhile go in one AddPartitionsToTxn. `done` runs when this round finished (or failed).
   */
  add(topic: string, partition: number, done: () => void): void {
    const key = tpKey(topic, partition);
    if (this.added.has(key) || this.error || this.fatal) return;
    this.toAdd.set(key, { topic, partition });
    if (this.adding) return;
    this.adding = (async () => {
      while (this.toAdd.size > 0) {
        const batch = [...this.toAdd.values()];
        this.toAdd.clear();
        const topics = new Map<string, number[]>();
        for (const p of batch) topics.set(p.topic, [...(topics.get(p.topic) ?? []), p.partition]);
        const res = await this.call(
          'add_partitions_to_txn',
          wire.AddPartitionsToTxnRequest,
          {
            transactionalId: this.transactionalId,
            producerId: this.producerId,
            producerEpoch: this.producerEpoch,
            topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
          },
          wire.AddPartitionsToTxnResponse,
        );
        for (const t of res.topics)
          for (const p of t.partitions) {
            if (p.errorCode === 0) this.added.add(tpKey(t.name, p.partition));
            else if (MillraceError.fromCode(p.errorCode, '').errorName !== 'OPERATION_NOT_ATTEMPTED')
              throw MillraceError.fromCode(p.errorCode, p.errorMessage);
          }
      }
    })()
      .catch((err: unknown) => void this.failed(err))
      .finally(() => {
        this.adding = null;
        done();
      });
  }

  /** sendOffsets: the group's offsets join the transaction (AddOffsetsToTxn, then TxnOffsetCommit to the group's coordinator). */
  async sendOffsets(offsets: OffsetsToCommit): Promise<void> {
    this.check(true);
    try {
      const ids = {
        transactionalId: this.transactionalId,
        producerId: this.producerId,
        producerEpoch: this.producerEpoch,
      };
      await this.call(
        'add_offsets_to_txn',
        wire.AddOffsetsToTxnRequest,
        { ...ids, groupId: offsets.groupId },
        wire.AddOffsetsToTxnResponse,
      );
      let groupCoordinator = -1;
      const res = await this.ctx.retry(async () => {
        if (groupCoordinator < 0) groupCoordinator = await findCoordinator(this.ctx, offsets.groupId);
        try {
          return await callBroker(
            this.ctx,
            groupCoordinator,
            'txn_offset_commit',
            wire.TxnOffsetCommitRequest,
            {
              ...ids,
              groupId: offsets.groupId,
              generationId: offsets.generationId,
              memberId: offsets.memberId,
              groupInstanceId: offsets.groupInstanceId,
              topics: offsets.topics.map((t) => ({
                name: t.topic,
                partitions: t.partitions.map((p) => ({
                  partition: p.partition,
                  offset: p.offset,
                  leaderEpoch: -1,
                  metadata: p.metadata ?? '',
                })),
              })),
            },
            wire.TxnOffsetCommitResponse,
          );
        } catch (err) {
          if (MillraceError.from(err).coordinatorMoved) groupCoordinator = -1;
          throw err;
        }
      }, this.deadlineMs);
      for (const t of res.topics)
        for (const p of t.partitions)
          if (p.errorCode) throw MillraceError.fromCode(p.errorCode, `${t.name}-${p.partition}: ${p.errorMessage}`);
    } catch (err) {
      throw this.failed(err);
    }
  }

  /** EndTxn: commit or abort; the epoch the coordinator bumped numbers the next transaction. */
  async end(commit: boolean): Promise<void> {
    this.check(commit);
    try {
      const res = await this.call(
        'end_txn',
        wire.EndTxnRequest,
        {
          transactionalId: this.transactionalId,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          committed: commit,
          bumpEpoch: true,
        },
        wire.EndTxnResponse,
      );
      this.producerId = res.producerId;
      this.producerEpoch = res.producerEpoch;
    } catch (err) {
      throw this.failed(err);
    } finally {
      this.added.clear();
    }
    this.error = null;
  }

  /** A batch of the open transaction failed for good: the transaction must be aborted. */
  batchFailed(err: MillraceError): void {
    this.failed(err);
  }
}
