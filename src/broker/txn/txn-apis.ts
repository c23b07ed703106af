/**
 * The transaction APIs of the broker core, for both doors: the coordinator's requests
 * (InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
 * DescribeTransactions, ListTransactions), TxnOffsetCommit on the group coordinator, the
 * broker-to-broker WriteTxnMarkers and verification, and KIP-890's check on the produce path: a
 * transactional batch lands on a partition only once its coordinator says the partition is in
 * the producer's open transaction.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { AclOperation } from '../../../protocol/acl.js';
import { MillraceError } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import {
  ATTRIBUTES,
  PRODUCER_EPOCH,
  PRODUCER_ID,
  RECORD_BATCH_OVERHEAD,
  TRANSACTIONAL_MASK,
  readInt64,
} from '../../../protocol/records/index.js';
import { subjects } from '../../../protocol/subjects.js';
import { wire } from '../../../protocol/wire.js';
import type { MetadataImage } from '../../cluster/image.js';
import { request, type RpcServer } from '../../transport/rpc.js';
import type { Access, Caller } from '../authorizer.js';
import type { GroupCoordinator } from '../group/coordinator.js';
import { OFFSETS_TOPIC } from '../group/offsets-topic.js';
import type { HostedPartition } from '../hosted-partition.js';
import type { Serve } from '../security-apis.js';
import { TRANSACTION_STATE_TOPIC, type TxnCoordinator } from './coordinator.js';
import { writeTxnMarkers, type MarkerContext } from './markers.js';
import { transactionStatePartition, type TopicPartitionRef } from './txn-rules.js';

export interface TxnApiContext {
  brokerId: number;
  cluster: string;
  nc: NatsConnection;
  image: () => MetadataImage;
  txns: TxnCoordinator;
  groups: GroupCoordinator;
  access: Access;
  markers: MarkerContext;
  requestTimeoutMs: number;
}

/** The producer of a transactional batch (the first of a produce's partition data), or null. */
export function transactionalProducer(records: Buffer): { producerId: number; producerEpoch: number } | null {
  if (records.length < RECORD_BATCH_OVERHEAD || (records.readInt16BE(ATTRIBUTES) & TRANSACTIONAL_MASK) === 0)
    return null;
  return { producerId: readInt64(records, PRODUCER_ID), producerEpoch: records.readInt16BE(PRODUCER_EPOCH) };
}

export class TxnApis {
  /** Pending KIP-890 checks by partition and producer: the batches after one wait for it. */
  private readonly verifying = new Map<string, Promise<void>>();

  constructor(private readonly ctx: TxnApiContext) {}

  register(serve: Serve, rpc: RpcServer): void {
    const { txns } = this.ctx;
    serve('add_partitions_to_txn', wire.AddPartitionsToTxnRequest, wire.AddPartitionsToTxnResponse, (r, c) =>
      txns.addPartitionsToTxn(wire.AddPartitionsToTxnRequest.create({ ...r, verifyOnly: false }), c),
    );
    serve('add_offsets_to_txn', wire.AddOffsetsToTxnRequest, wire.AddOffsetsToTxnResponse, async (r, c) => {
      await this.addOffsetsToTxn(r, c);
      return {};
    });
    serve('txn_offset_commit', wire.TxnOffsetCommitRequest, wire.TxnOffsetCommitResponse, (r, c) =>
      this.txnOffsetCommit(r, c),
    );
    serve('end_txn', wire.EndTxnRequest, wire.EndTxnResponse, (r, c) => txns.endTxn(r, c));
    serve('describe_transactions', wire.DescribeTransactionsRequest, wire.DescribeTransactionsResponse, (r, c) =>
      txns.describeTransactions(r, c),
    );
    serve('list_transactions', wire.ListTransactionsRequest, wire.ListTransactionsResponse, (r, c) =>
      txns.listTransactions(r, c),
    );
    const { cluster, brokerId } = this.ctx;
    rpc.handle(
      'write_txn_markers',
      subjects.brokerInternal(cluster, brokerId, 'write_txn_markers'),
      wire.WriteTxnMarkersRequest,
      wire.WriteTxnMarkersResponse,
      (r) => writeTxnMarkers(this.ctx.markers, r),
    );
    rpc.handle(
      'verify_txn',
      subjects.brokerInternal(cluster, brokerId, 'verify_txn'),
      wire.AddPartitionsToTxnRequest,
      wire.AddPartitionsToTxnResponse,
      (r) => ({
        topics: r.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((partition) => ({
            partition,
            errorCode: txns.verify(r.transactionalId, r.producerId, r.producerEpoch, { topic: t.name, partition })
              ? 0
              : new MillraceError('TRANSACTION_ABORTABLE', 'not in the transaction').code,
          })),
        })),
      }),
    );
  }

  /** AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction. */
  async addOffsetsToTxn(req: millrace.AddOffsetsToTxnRequest, caller: Caller): Promise<void> {
    this.ctx.access.requireGroup(caller, AclOperation.READ, req.groupId);
    await this.ctx.txns.addOffsetsToTxn(req, await this.offsetsPartitionOf(req.groupId), caller);
  }

  private async offsetsPartitionOf(group: string): Promise<TopicPartitionRef> {
    return { topic: OFFSETS_TOPIC, partition: await this.ctx.groups.offsetsPartitionOf(group) };
  }

  /** TxnOffsetCommit, once the group's partition is verified to be in the transaction (KIP-890). */
  async txnOffsetCommit(
    req: millrace.TxnOffsetCommitRequest,
    caller: Caller,
  ): Promise<millrace.ITxnOffsetCommitResponse> {
    this.ctx.access.requireGroup(caller, AclOperation.READ, req.groupId);
    await this.verify(
      req.transactionalId,
      req.producerId,
      req.producerEpoch,
      await this.offsetsPartitionOf(req.groupId),
      caller,
    );
    return this.ctx.groups.offsets.txnOffsetCommit(req, caller);
  }

  /**
   * KIP-890 on the produce path: a transactional batch for a partition where its producer has no
   * transaction open yet is checked with the coordinator first. The first batch of each
   * transaction in each partition pays one round trip; the rest find the transaction open. While
   * a check is pending, later batches of the producer for the partition queue behind it, so they
   * are appended in the order they came (a sequence gap otherwise).
   */
  verifyProduce(
    transactionalId: string,
    hp: HostedPartition,
    producer: { producerId: number; producerEpoch: number },
    caller: Caller,
  ): Promise<void> {
    if (!transactionalId)
      return Promise.reject(
        new MillraceError('INVALID_REQUEST', 'a transactional batch needs the producer’s transactional id'),
      );
    const key = `${hp.topic}\u0000${hp.partition}\u0000${producer.producerId}`;
    const pending = this.verifying.get(key);
    if (!pending && hp.log.producerState.txns.hasOpen(producer.producerId)) {
      try {
        this.ctx.access.requireTransactionalId(caller, AclOperation.WRITE, transactionalId);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    const check = (): Promise<void> =>
      hp.log.producerState.txns.hasOpen(producer.producerId)
        ? Promise.resolve(this.ctx.access.requireTransactionalId(caller, AclOperation.WRITE, transactionalId))
        : this.verify(transactionalId, producer.producerId, producer.producerEpoch, hp, caller);
    const next = pending ? pending.then(check, check) : check();
    this.verifying.set(key, next);
    const forget = (): void => {
      if (this.verifying.get(key) === next) this.verifying.delete(key);
    };
    next.then(forget, forget);
    return next;
  }

  private async verify(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    p: TopicPartitionRef,
    caller: Caller,
  ): Promise<void> {
    this.ctx.access.requireTransactionalId(caller, AclOperation.WRITE, transactionalId);
    const topic = this.ctx.image().topics.get(TRANSACTION_STATE_TOPIC);
    const coordinator =
      topic?.partitions[transactionStatePartition(transactionalId, topic.partitions.length)]?.leader ?? -1;
    let ok: boolean;
    if (coordinator === this.ctx.brokerId) ok = this.ctx.txns.verify(transactionalId, producerId, producerEpoch, p);
    else if (coordinator < 0)
      throw new MillraceError('COORDINATOR_NOT_AVAILABLE', 'the transaction coordinator has no leader');
    else {
      const res = await request(
        this.ctx.nc,
        subjects.brokerInternal(this.ctx.cluster, coordinator, 'verify_txn'),
        wire.AddPartitionsToTxnRequest,
        {
          transactionalId,
          producerId,
          producerEpoch,
          topics: [{ name: p.topic, partitions: [p.partition] }],
          verifyOnly: true,
        },
        wire.AddPartitionsToTxnResponse,
        this.ctx.requestTimeoutMs,
      );
      const code = res.errorCode || (res.topics[0]?.partitions[0]?.errorCode ?? -1);
      if (code !== 0 && new MillraceError('TRANSACTION_ABORTABLE', '').code !== code)
        throw new MillraceError('NOT_COORDINATOR', res.errorMessage || 'the transaction coordinator could not verify');
      ok = code === 0;
    }
    if (!ok)
      throw new MillraceError(
        'TRANSACTION_ABORTABLE',
        `${p.topic}-${p.partition} is not in the open transaction of '${transactionalId}' (producer ${producerId} epoch ${producerEpoch}): add it first (AddPartitionsToTxn), or abort`,
      );
  }
}
