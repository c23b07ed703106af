/** The admin client's transaction part: list and describe transactions (kafka-transactions.sh). */
import { MillraceError } from '../../protocol/errors.js';
import { wire } from '../../protocol/wire.js';
import { GroupAdmin } from './admin-groups.js';
import { callBroker } from './context.js';
import { findCoordinator } from './group.js';

export interface TransactionListing {
  transactionalId: string;
  producerId: number;
  state: string;
  /** The broker coordinating it. */
  coordinatorId: number;
}

export interface TransactionDescription {
  transactionalId: string;
  state: string;
  coordinatorId: number;
  producerId: number;
  producerEpoch: number;
  transactionTimeoutMs: number;
  /** When the open transaction began (null: none open). */
  transactionStartTime: Date | null;
  topicPartitions: Array<{ topic: string; partition: number }>;
}

export class TransactionAdmin extends GroupAdmin {
  /**
   * Every transactional id of the cluster (each broker lists those it coordinates), filtered by
   * state, producer id, or how long their transaction has been open.
   */
  async listTransactions(
    filters: { states?: string[]; producerIds?: number[]; openLongerThanMs?: number } = {},
  ): Promise<TransactionListing[]> {
    await this.ctx.metadata.refresh();
    const listings = await Promise.all(
      this.ctx.metadata.liveBrokers().map(async (broker) => {
        const res = await callBroker(
          this.ctx,
          broker,
          'list_transactions',
          wire.ListTransactionsRequest,
          {
            stateFilters: filters.states ?? [],
            producerIdFilters: filters.producerIds ?? [],
            durationFilterMs: filters.openLongerThanMs ?? 0,
          },
          wire.ListTransactionsResponse,
        );
        return res.transactions.map((t) => ({
          transactionalId: t.transactionalId,
          producerId: t.producerId,
          state: t.state,
          coordinatorId: broker,
        }));
      }),
    );
    return listings.flat().sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : 1));
  }

  /** State, producer, timeout and partitions of each transactional id, from its coordinator. */
  async describeTransactions(transactionalIds: string[]): Promise<TransactionDescription[]> {
    return Promise.all(
      transactionalIds.map(async (transactionalId) => {
        const res = await this.callAt(
          () => findCoordinator(this.ctx, transactionalId, 1),
          'describe_transactions',
          wire.DescribeTransactionsRequest,
          { transactionalIds: [transactionalId] },
          wire.DescribeTransactionsResponse,
        );
        const t = res.transactions[0];
        if (!t) throw new MillraceError('UNKNOWN_SERVER_ERROR', `no answer for transactional id '${transactionalId}'`);
        if (t.errorCode) throw MillraceError.fromCode(t.errorCode, t.errorMessage);
        return {
          transactionalId,
          state: t.state,
          coordinatorId: t.coordinatorId,
          producerId: t.producerId,
          producerEpoch: t.producerEpoch,
          transactionTimeoutMs: t.transactionTimeoutMs,
          transactionStartTime: t.transactionStartTimeMs >= 0 ? new Date(t.transactionStartTimeMs) : null,
          topicPartitions: t.topics.flatMap((tp) => tp.partitions.map((partition) => ({ topic: tp.name, partition }))),
        };
      }),
    );
  }
}
