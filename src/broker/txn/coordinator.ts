/**
 * The transaction coordinator, a shell around a pure core (txn-rules.ts) and one lifecycle
 * machine per transactional id (actors/transaction.ts). Transactional id T lives on the leader of
 * `__transaction_state` partition hash(T) mod N (Kafka's rule). For each request the core decides
 * on T's metadata what to write and what to answer; this shell runs the requests of one id one at
 * a time, writes the decided record at acks=all, tells the machine, and answers. The machine
 * then drives what follows: markers written to the transaction's partitions (retried until they
 * land), the Complete record, and the abort of a transaction open past its timeout. A broker
 * that becomes a partition's leader replays it (COORDINATOR_LOAD_IN_PROGRESS meanwhile) and
 * resumes every transaction where its record left it; one that loses it answers NOT_COORDINATOR.
 */
import type { Logger } from 'pino';
import { createActor, fromPromise } from 'xstate';
import { transactionMachine } from '../../../actors/transaction.js';
import { AclOperation, ResourceType } from '../../../protocol/acl.js';
import { MillraceError, errorFields } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import type { ControllerClient } from '../../cluster/controller-client.js';
import type { MetadataImage } from '../../cluster/image.js';
import { openAccess, type Access, type Caller } from '../authorizer.js';
import { InternalTopicCreator, appendInternal, appendInternalNow, coordinatorWriteError } from '../internal-topics.js';
import type { ReplicaManager } from '../replica-manager.js';
import { TxnEntry, TxnPartition, results } from './txn-runtime.js';
import { TRANSACTION_STATE_TOPIC, byTopic, readTransactionPartition, txnRecord, txnTombstone } from './txn-log.js';
import {
  MAX_EPOCH,
  abortExpired,
  addPartitions,
  completeTransaction,
  endTxn,
  expiredIds,
  initProducerId,
  isInTransaction,
  transactionStatePartition,
  type Decision,
  type TopicPartitionRef,
  type TxnMetadata,
} from './txn-rules.js';

export { TRANSACTION_STATE_TOPIC };

export interface TxnCoordinatorSettings {
  brokerId: number;
  /** transaction.state.log.num.partitions */
  partitions: number;
  /** transaction.state.log.replication.factor (capped at the live brokers, with a warning) */
  replicationFactor: number;
  /** transaction.max.timeout.ms */
  maxTimeoutMs: number;
  /** transactional.id.expiration.ms */
  idExpirationMs: number;
  /** transactional.id.expiration check interval */
  idExpirationCheckMs: number;
  /** How long a state write waits for the in-sync replicas. */
  commitTimeoutMs: number;
  /** Between attempts to write a transaction's markers. */
  markerRetryBackoffMs: number;
  access?: Access;
  /** Why this broker may not serve as a coordinator now (null: it may); see broker.ts. */
  serving?: () => string | null;
  logger: Logger;
  now?: () => number;
}

/** Writes a transaction's markers to its partitions' leaders (markers.ts); returns the partitions that failed. */
export interface MarkerSender {
  send(markers: {
    producerId: number;
    producerEpoch: number;
    commit: boolean;
    coordinatorEpoch: number;
    partitions: TopicPartitionRef[];
  }): Promise<TopicPartitionRef[]>;
}

const isEnding = (m: TxnMetadata): boolean => m.state === 'PrepareCommit' || m.state === 'PrepareAbort';

/** The time left before an Ongoing transaction times out (the machine's timer). */
const remainingMs = (m: TxnMetadata, now: number): number =>
  m.state === 'Ongoing' ? m.txnStartTimestamp + m.txnTimeoutMs - now : 0;

export class TxnCoordinator {
  private readonly partitions = new Map<number, TxnPartition>();
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly access: Access;
  private readonly stateTopic: InternalTopicCreator;
  private readonly expiryTimer: NodeJS.Timeout;

  constructor(
    private readonly settings: TxnCoordinatorSettings,
    private readonly replicas: ReplicaManager,
    controller: ControllerClient,
    private readonly image: () => MetadataImage,
    private readonly generateProducerId: () => Promise<number>,
    private readonly markers: MarkerSender,
  ) {
    this.now = settings.now ?? Date.now;
    this.access = settings.access ?? openAccess;
    this.logger = settings.logger.child({ component: 'txn-coordinator' });
    this.stateTopic = new InternalTopicCreator(
      {
        name: TRANSACTION_STATE_TOPIC,
        partitions: settings.partitions,
        replicationFactor: settings.replicationFactor,
      },
      controller,
      image,
      this.logger,
    );
    this.expiryTimer = setInterval(() => this.expireIds(), settings.idExpirationCheckMs);
    this.expiryTimer.unref();
  }

  /** Loads partitions this broker now leads and unloads those it no longer does (after each metadata image). */
  sync(): void {
    for (const [p, tp] of this.partitions) if (tp.stale) this.unload(p, tp);
    const topic = this.image().topics.get(TRANSACTION_STATE_TOPIC);
    if (!topic) return;
    for (const { partition } of topic.partitions) {
      const hp = this.replicas.get(TRANSACTION_STATE_TOPIC, partition);
      if (!hp?.isLeader || this.partitions.has(partition)) continue;
      const tp = new TxnPartition(hp, hp.leaderEpoch);
      this.partitions.set(partition, tp);
      void this.load(partition, tp);
    }
  }

  private unload(partition: number, tp: TxnPartition): void {
    this.partitions.delete(partition);
    for (const e of tp.ids.values()) {
      e.actor?.stop();
      for (const settled of e.settling.splice(0)) settled();
    }
    this.logger.info({ partition, transactions: tp.ids.size }, 'unloaded transactions: leadership moved');
  }

  private async load(partition: number, tp: TxnPartition): Promise<void> {
    const started = this.now();
    let ids: Map<string, TxnMetadata> | null;
    try {
      ids = await readTransactionPartition(tp.hp.log, () => tp.stale);
    } catch (err) {
      this.logger.error({ err, partition }, `cannot load ${TRANSACTION_STATE_TOPIC} partition`);
      if (this.partitions.get(partition) === tp) this.partitions.delete(partition);
      return;
    }
    if (!ids || tp.stale) return;
    for (const [id, meta] of ids) {
      const e = this.entryOf(tp, id);
      e.meta = meta;
      // Prepare states resume writing their markers; Ongoing ones time out as they would have.
      e.actor!.send({ type: 'RESTORE', state: meta.state, timeoutInMs: remainingMs(meta, this.now()) });
    }
    tp.loading = false;
    this.logger.info({ partition, transactions: ids.size, ms: this.now() - started }, 'loaded transactions');
  }

  private entryOf(tp: TxnPartition, transactionalId: string): TxnEntry {
    let e = tp.ids.get(transactionalId);
    if (e) return e;
    e = new TxnEntry(transactionalId);
    const entry = e;
    entry.actor = createActor(
      transactionMachine.provide({
        actors: { writeMarkers: fromPromise(() => this.writeMarkers(entry, tp)) },
        actions: {
          timedOut: () =>
            void this.background(entry, tp, 'abort a timed-out transaction', () => this.expire(entry, tp)),
          // The Complete record is not waited for: the next record of the id (written after it) commits it.
          markersWritten: () =>
            void this.background(entry, tp, 'complete a transaction', () =>
              this.apply(entry, tp, { write: completeTransaction(entry.meta!, this.now()), reply: null }, false),
            ),
          markersFailed: (_, { error }) =>
            this.logger.warn({ err: error, transactionalId }, 'cannot write transaction markers yet: retrying'),
          invalidTransition: (_, { from }) =>
            this.logger.error({ transactionalId, from, to: entry.meta?.state }, 'invalid transaction state transition'),
        },
      }),
      { input: { transactionalId, retryBackoffMs: this.settings.markerRetryBackoffMs } },
    ).start();
    tp.ids.set(transactionalId, entry);
    return entry;
  }

  private background(e: TxnEntry, tp: TxnPartition, what: string, run: () => Promise<unknown>): Promise<unknown> {
    return e.serial(run).catch((err: unknown) => {
      if (!tp.stale) this.logger.warn({ err, transactionalId: e.transactionalId }, `cannot ${what}`);
    });
  }

  private async writeMarkers(e: TxnEntry, tp: TxnPartition): Promise<void> {
    const m = e.meta!;
    if (tp.stale) throw new MillraceError('NOT_COORDINATOR', 'the coordinator partition moved');
    // A broker that may have lost its partition without knowing (paused, cut off) writes no markers.
    const notServing = this.settings.serving?.() ?? null;
    if (notServing !== null)
      throw new MillraceError('NOT_COORDINATOR', `broker ${this.settings.brokerId} ${notServing}`);
    const failed = await this.markers.send({
      producerId: m.producerId,
      producerEpoch: m.producerEpoch,
      commit: m.state === 'PrepareCommit',
      coordinatorEpoch: tp.leaderEpoch,
      partitions: e.markersLeft ?? m.partitions,
    });
    e.markersLeft = failed.length > 0 ? failed : null;
    if (failed.length > 0)
      throw new MillraceError(
        'COORDINATOR_NOT_AVAILABLE',
        `markers not written yet to ${failed.map((p) => `${p.topic}-${p.partition}`).join(', ')}`,
      );
  }

  private async expire(e: TxnEntry, tp: TxnPartition): Promise<void> {
    const m = e.meta;
    if (!m || m.state !== 'Ongoing' || remainingMs(m, this.now()) > 0) return;
    this.logger.info(
      { transactionalId: m.transactionalId, producerId: m.producerId },
      'transaction timed out: aborting it',
    );
    await this.apply(e, tp, abortExpired(m, this.now()));
  }

  /**
   * Writes what a decision decided (acks=all unless `durable` is false), tells the machine, and
   * answers as decided.
   */
  private async apply<R>(e: TxnEntry, tp: TxnPartition, d: Decision<R>, durable = true): Promise<R> {
    if (d.write) {
      if (tp.stale) throw new MillraceError('NOT_COORDINATOR', 'the coordinator partition moved');
      try {
        const records = [txnRecord(d.write)];
        if (durable) await appendInternal(tp.hp, records, this.now(), this.settings.commitTimeoutMs);
        else appendInternalNow(tp.hp, records, this.now());
      } catch (err) {
        throw coordinatorWriteError(err);
      }
      e.meta = d.write;
      if (d.markers) e.markersLeft = null;
      if (!isEnding(d.write)) for (const settled of e.settling.splice(0)) settled();
      e.actor!.send({ type: 'WRITTEN', state: d.write.state, timeoutInMs: remainingMs(d.write, this.now()) });
    }
    if (d.reply instanceof Error) throw d.reply;
    return d.reply;
  }

  /** The partition coordinating `transactionalId` here, or NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS. */
  private partitionOf(transactionalId: string): TxnPartition {
    if (!transactionalId) throw new MillraceError('INVALID_REQUEST', 'a transactional id must not be empty');
    const topic = this.image().topics.get(TRANSACTION_STATE_TOPIC);
    if (!topic) throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `${TRANSACTION_STATE_TOPIC} does not exist yet`);
    const tp = this.partitions.get(transactionStatePartition(transactionalId, topic.partitions.length));
    const notServing = this.settings.serving?.() ?? null;
    if (notServing !== null)
      throw new MillraceError(
        'NOT_COORDINATOR',
        `broker ${this.settings.brokerId} ${notServing}: find the coordinator again`,
      );
    if (!tp || tp.stale)
      throw new MillraceError(
        'NOT_COORDINATOR',
        `broker ${this.settings.brokerId} is not the transaction coordinator of '${transactionalId}'`,
      );
    if (tp.loading)
      throw new MillraceError(
        'COORDINATOR_LOAD_IN_PROGRESS',
        `the transactions of '${transactionalId}' are still loading`,
      );
    return tp;
  }

  /** Runs a request of one transactional id after the ones before it; `decide` sees its current metadata. */
  private run<R>(
    transactionalId: string,
    decide: (m: TxnMetadata | undefined) => Decision<R> | Promise<Decision<R>>,
  ): Promise<R> {
    const tp = this.partitionOf(transactionalId);
    const known = tp.ids.has(transactionalId);
    const e = this.entryOf(tp, transactionalId);
    return this.settled(e)
      .then(() => e.serial(async () => this.apply(e, tp, await decide(e.meta))))
      .catch((err: unknown) => {
        // A new id whose first record was not written is not kept.
        if (!known && e.meta === undefined && tp.ids.get(transactionalId) === e) {
          e.actor?.stop();
          tp.ids.delete(transactionalId);
        }
        throw err;
      });
  }

  /**
   * Waits (a while) for an ending transaction's markers: the next transaction's first request
   * then goes through instead of CONCURRENT_TRANSACTIONS and a client backoff, as a producer
   * committing every 100 ms would otherwise pay each time.
   */
  private settled(e: TxnEntry): Promise<void> {
    if (!e.meta || !isEnding(e.meta)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.settings.commitTimeoutMs);
      e.settling.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** FindCoordinator with key type 1: creates __transaction_state on first use. */
  async findCoordinator(transactionalId: string, caller: Caller): Promise<millrace.IFindCoordinatorResponse> {
    if (!transactionalId) throw new MillraceError('INVALID_REQUEST', 'a transactional id must not be empty');
    this.access.requireTransactionalId(caller, AclOperation.DESCRIBE, transactionalId);
    const topic = this.image().topics.get(TRANSACTION_STATE_TOPIC);
    if (!topic) {
      await this.stateTopic.create();
      throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `${TRANSACTION_STATE_TOPIC} is being created`);
    }
    const leader = topic.partitions[transactionStatePartition(transactionalId, topic.partitions.length)]!.leader;
    if (leader < 0)
      throw new MillraceError(
        'COORDINATOR_NOT_AVAILABLE',
        `the coordinator partition of transactional id '${transactionalId}' has no leader`,
      );
    return { nodeId: leader };
  }

  /** InitProducerId with a transactional id: a new producer, or the next epoch fencing the previous one. */
  initProducerId(
    req: millrace.InitProducerIdRequest,
    caller: Caller,
  ): Promise<{ producerId: number; producerEpoch: number }> {
    this.access.requireTransactionalId(caller, AclOperation.WRITE, req.transactionalId);
    return this.run(req.transactionalId, async (m) => {
      const needsId = !m || m.state === 'Dead' || m.producerEpoch >= MAX_EPOCH;
      const spare = needsId ? await this.generateProducerId() : -1;
      return initProducerId(
        m,
        {
          transactionalId: req.transactionalId,
          txnTimeoutMs: req.transactionTimeoutMs,
          producerId: req.producerId > 0 || req.producerEpoch > 0 ? req.producerId : -1,
          producerEpoch: req.producerId > 0 || req.producerEpoch > 0 ? req.producerEpoch : -1,
        },
        this.now(),
        () => spare,
        this.settings.maxTimeoutMs,
      );
    });
  }

  /**
   * AddPartitionsToTxn: the partitions join the transaction (topics the caller may not write,
   * or that do not exist, fail it whole, as Kafka's). With verify_only (a partition leader's
   * KIP-890 check), answers whether each partition is in the open transaction.
   */
  async addPartitionsToTxn(
    req: millrace.AddPartitionsToTxnRequest,
    caller: Caller,
  ): Promise<millrace.IAddPartitionsToTxnResponse> {
    this.access.requireTransactionalId(caller, AclOperation.WRITE, req.transactionalId);
    const asked = req.topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition })));
    if (req.verifyOnly) {
      const m = this.partitionOf(req.transactionalId).ids.get(req.transactionalId)?.meta;
      return results(asked, (p) =>
        isInTransaction(m, req.producerId, req.producerEpoch, p)
          ? null
          : new MillraceError(
              'TRANSACTION_ABORTABLE',
              `${p.topic}-${p.partition} was not added to the transaction of producer ${req.producerId} epoch ${req.producerEpoch}`,
            ),
      );
    }
    const image = this.image();
    const problem = (p: TopicPartitionRef): MillraceError | null => {
      if (!this.access.topicAllowed(caller, AclOperation.WRITE, p.topic))
        return this.access.topicRefusal(caller, AclOperation.WRITE, p.topic);
      const t = image.topics.get(p.topic);
      if (!t || p.partition < 0 || p.partition >= t.partitions.length)
        return new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${p.topic}-${p.partition} does not exist`);
      return null;
    };
    if (asked.some((p) => problem(p) !== null)) {
      const notAttempted = new MillraceError('OPERATION_NOT_ATTEMPTED', 'another partition of the request failed');
      return results(asked, (p) => problem(p) ?? notAttempted);
    }
    try {
      await this.run(req.transactionalId, (m) =>
        addPartitions(m, req.producerId, req.producerEpoch, asked, this.now()),
      );
      return results(asked, () => null);
    } catch (err) {
      return results(asked, () => MillraceError.from(err));
    }
  }

  /** AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction. */
  async addOffsetsToTxn(
    req: millrace.AddOffsetsToTxnRequest,
    offsetsPartition: TopicPartitionRef,
    caller: Caller,
  ): Promise<void> {
    this.access.requireTransactionalId(caller, AclOperation.WRITE, req.transactionalId);
    await this.run(req.transactionalId, (m) =>
      addPartitions(m, req.producerId, req.producerEpoch, [offsetsPartition], this.now()),
    );
  }

  /** Whether the partitions are in the producer's open transaction (KIP-890), on this coordinator. */
  verify(transactionalId: string, producerId: number, producerEpoch: number, p: TopicPartitionRef): boolean {
    return isInTransaction(
      this.partitionOf(transactionalId).ids.get(transactionalId)?.meta,
      producerId,
      producerEpoch,
      p,
    );
  }

  /** EndTxn: commit or abort; the markers follow (the machine writes them), the reply does not wait for them. */
  endTxn(req: millrace.EndTxnRequest, caller: Caller): Promise<{ producerId: number; producerEpoch: number }> {
    this.access.requireTransactionalId(caller, AclOperation.WRITE, req.transactionalId);
    return this.run(req.transactionalId, (m) =>
      endTxn(m, req.producerId, req.producerEpoch, req.committed, this.now(), req.bumpEpoch),
    );
  }

  describeTransactions(
    req: millrace.DescribeTransactionsRequest,
    caller: Caller,
  ): millrace.IDescribeTransactionsResponse {
    return {
      transactions: req.transactionalIds.map((transactionalId): millrace.IDescribedTransaction => {
        try {
          this.access.requireTransactionalId(caller, AclOperation.DESCRIBE, transactionalId);
          const m = this.partitionOf(transactionalId).ids.get(transactionalId)?.meta;
          if (!m || m.state === 'Dead')
            throw new MillraceError('TRANSACTIONAL_ID_NOT_FOUND', `no transactional id '${transactionalId}' here`);
          return {
            transactionalId,
            errorCode: 0,
            state: m.state,
            transactionTimeoutMs: m.txnTimeoutMs,
            transactionStartTimeMs: m.txnStartTimestamp,
            producerId: m.producerId,
            producerEpoch: m.producerEpoch,
            topics: byTopic(m.partitions),
            coordinatorId: this.settings.brokerId,
          };
        } catch (err) {
          return { transactionalId, ...errorFields(err) };
        }
      }),
    };
  }

  /** The transactional ids this broker coordinates that the caller may describe, filtered as asked (KIP-664, KIP-994). */
  listTransactions(req: millrace.ListTransactionsRequest, caller: Caller): millrace.IListTransactionsResponse {
    const now = this.now();
    const states = new Set(req.stateFilters);
    const producers = new Set(req.producerIdFilters.map(Number));
    const transactions: millrace.IListedTransaction[] = [];
    for (const tp of this.partitions.values()) {
      if (tp.loading || tp.stale) continue;
      for (const [id, e] of tp.ids) {
        const m = e.meta;
        if (!m || m.state === 'Dead') continue;
        if (states.size > 0 && !states.has(m.state)) continue;
        if (producers.size > 0 && !producers.has(m.producerId)) continue;
        if (req.durationFilterMs > 0 && (m.txnStartTimestamp < 0 || now - m.txnStartTimestamp < req.durationFilterMs))
          continue;
        if (!this.access.authorizer.allows(caller, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, id)) continue;
        transactions.push({
          transactionalId: id,
          producerId: m.producerId,
          state: m.state,
          transactionStartTimeMs: m.txnStartTimestamp,
        });
      }
    }
    return { transactions };
  }

  /** Removes ids idle past transactional.id.expiration.ms with nothing open (a tombstone each). */
  expireIds(): void {
    const now = this.now();
    for (const tp of this.partitions.values()) {
      if (tp.loading || tp.stale) continue;
      const idle = expiredIds(
        [...tp.ids.values()].flatMap((e) => (e.meta ? [e.meta] : [])),
        now,
        this.settings.idExpirationMs,
      );
      for (const m of idle) {
        const e = tp.ids.get(m.transactionalId)!;
        void this.background(e, tp, 'expire a transactional id', async () => {
          if (e.meta !== m) return;
          await appendInternal(tp.hp, [txnTombstone(m.transactionalId)], this.now(), this.settings.commitTimeoutMs);
          e.actor?.stop();
          tp.ids.delete(m.transactionalId);
          this.logger.info({ transactionalId: m.transactionalId }, 'transactional id expired');
        });
      }
    }
  }

  stop(): void {
    clearInterval(this.expiryTimer);
    for (const [p, tp] of this.partitions) this.unload(p, tp);
  }
}
