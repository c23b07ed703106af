/**
 * The transaction APIs on the Kafka door: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
 * TxnOffsetCommit, DescribeTransactions and ListTransactions onto the broker core's coordinator.
 * Kafka clients of these versions keep their epoch through a transaction's end (EndTxn before
 * v5), so EndTxn asks for no epoch bump; everything else is the core's.
 */
import { ErrorCodes, errorFields } from '../../protocol/errors.js';
import { apis } from '../../protocol/kafka/index.js';
import { TXN_STATES } from '../../actors/transaction.js';
import { wire } from '../../protocol/wire.js';
import type { DoorContext, Routes } from './door.js';

/** KIP-890's TRANSACTION_ABORTABLE is new to clients of these versions: they hear INVALID_TXN_STATE, as from Kafka. */
export function forOlderClients(errorCode: number): number {
  return errorCode === ErrorCodes.TRANSACTION_ABORTABLE.code ? ErrorCodes.INVALID_TXN_STATE.code : errorCode;
}

const codeOf = (err: unknown): number => forOlderClients(errorFields(err).errorCode);

export function txnApis(routes: Routes, ctx: DoorContext): void {
  routes.add(apis.AddPartitionsToTxn, async (req, _v, _h, { caller }) => {
    const res = await ctx.txns.addPartitionsToTxn(
      wire.AddPartitionsToTxnRequest.create({
        transactionalId: req.transactionalId,
        producerId: Number(req.producerId),
        producerEpoch: req.producerEpoch,
        topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions })),
      }),
      caller,
    );
    return {
      results: (res.topics ?? []).map((t) => ({
        name: t.name ?? '',
        results: (t.partitions ?? []).map((p) => ({
          partitionIndex: p.partition ?? 0,
          partitionErrorCode: forOlderClients(p.errorCode ?? 0),
        })),
      })),
    };
  });

  routes.add(apis.AddOffsetsToTxn, async (req, _v, _h, { caller }) => {
    try {
      await ctx.txnApis.addOffsetsToTxn(
        wire.AddOffsetsToTxnRequest.create({ ...req, producerId: Number(req.producerId) }),
        caller,
      );
      return { errorCode: 0 };
    } catch (err) {
      return { errorCode: codeOf(err) };
    }
  });

  routes.add(apis.EndTxn, async (req, _v, _h, { caller }) => {
    try {
      await ctx.txns.endTxn(
        wire.EndTxnRequest.create({
          transactionalId: req.transactionalId,
          producerId: Number(req.producerId),
          producerEpoch: req.producerEpoch,
          committed: req.committed,
          bumpEpoch: false,
        }),
        caller,
      );
      return { errorCode: 0 };
    } catch (err) {
      return { errorCode: codeOf(err) };
    }
  });

  routes.add(apis.TxnOffsetCommit, async (req, _v, _h, { caller }) => {
    const asked = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partition: p.partitionIndex,
        offset: Number(p.committedOffset),
        leaderEpoch: p.committedLeaderEpoch,
        metadata: p.committedMetadata ?? '',
      })),
    }));
    const answer = (code: (partition: number, topic: string) => number) => ({
      topics: asked.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partition, errorCode: code(p.partition, t.name) })),
      })),
    });
    try {
      const res = await ctx.txnApis.txnOffsetCommit(
        wire.TxnOffsetCommitRequest.create({
          transactionalId: req.transactionalId,
          groupId: req.groupId,
          producerId: Number(req.producerId),
          producerEpoch: req.producerEpoch,
          generationId: req.generationId,
          memberId: req.memberId,
          groupInstanceId: req.groupInstanceId ?? '',
          topics: asked,
        }),
        caller,
      );
      const codes = new Map<string, number>();
      for (const t of res.topics ?? [])
        for (const p of t.partitions ?? []) codes.set(`${t.name}\u0000${p.partition}`, p.errorCode ?? 0);
      return answer((partition, topic) => forOlderClients(codes.get(`${topic}\u0000${partition}`) ?? 0));
    } catch (err) {
      const code = codeOf(err);
      return answer(() => code);
    }
  });

  routes.add(apis.DescribeTransactions, (req, _v, _h, { caller }) => ({
    transactionStates: (
      ctx.txns.describeTransactions(wire.DescribeTransactionsRequest.create(req), caller).transactions ?? []
    ).map((t) => ({
      errorCode: t.errorCode ?? 0,
      transactionalId: t.transactionalId ?? '',
      transactionState: t.state ?? '',
      transactionTimeoutMs: t.transactionTimeoutMs ?? 0,
      transactionStartTimeMs: BigInt(t.transactionStartTimeMs ?? -1),
      producerId: BigInt(t.producerId ?? -1),
      producerEpoch: t.producerEpoch ?? -1,
      topics: (t.topics ?? []).map((tp) => ({ topic: tp.name ?? '', partitions: tp.partitions ?? [] })),
    })),
  }));

  routes.add(apis.ListTransactions, (req, _v, _h, { caller }) => {
    const known = new Set<string>(TXN_STATES);
    const res = ctx.txns.listTransactions(
      wire.ListTransactionsRequest.create({
        stateFilters: req.stateFilters,
        producerIdFilters: req.producerIdFilters.map(Number),
        durationFilterMs: Math.max(0, Number(req.durationFilter)),
      }),
      caller,
    );
    return {
      errorCode: 0,
      unknownStateFilters: req.stateFilters.filter((s) => !known.has(s)),
      transactionStates: (res.transactions ?? []).map((t) => ({
        transactionalId: t.transactionalId ?? '',
        producerId: BigInt(t.producerId ?? -1),
        transactionState: t.state ?? '',
      })),
    };
  });
}
