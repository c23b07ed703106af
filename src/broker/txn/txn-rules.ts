/**
 * The transaction coordinator's decisions, as pure functions of a transactional id's metadata, a
 * request and the time, in the manner of Kafka's TransactionCoordinator and TransactionMetadata:
 * each returns the metadata to write to `__transaction_state` (if any), the reply, and whether
 * transaction markers must be written to the partitions. No I/O, no clock: the shell passes `now`
 * and a producer id allocator, writes what comes back, and replies.
 *
 * The design is Kafka's with KIP-890's corrections from the start: the producer epoch is bumped
 * when each transaction ends (so a late write of an ended transaction is fenced instead of
 * landing in the next one), markers carry the bumped epoch, and partitions must be added to the
 * transaction before data is written to them (the shell's verification asks `isInTransaction`).
 */
import { MillraceError } from '../../../protocol/errors.js';
import { VALID_PREVIOUS, type TxnState } from '../../../actors/transaction.js';
import { offsetsPartitionFor } from '../group/offsets-topic.js';

export type { TxnState };

/** Kafka's producer epochs are 16-bit: at the last one a producer gets a new id instead. */
export const MAX_EPOCH = 32_766;
/** transaction.max.timeout.ms */
export const DEFAULT_MAX_TIMEOUT_MS = 900_000;

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

/** What `__transaction_state` holds for one transactional id (its latest record). */
export interface TxnMetadata {
  transactionalId: string;
  producerId: number;
  /** The id before a rollover to a new one (KIP-890: markers of the last transaction keep it). */
  previousProducerId: number;
  producerEpoch: number;
  /** The epoch before the last bump: a retried EndTxn of the ended transaction is recognised by it. */
  lastProducerEpoch: number;
  txnTimeoutMs: number;
  state: TxnState;
  /** Partitions in the transaction, sorted: what the markers go to. */
  partitions: TopicPartitionRef[];
  /** When the transaction began (-1: none open). */
  txnStartTimestamp: number;
  txnLastUpdateTimestamp: number;
}

export interface Decision<R> {
  /** Metadata to write (acks=all) before the reply; none when nothing changes. */
  write?: TxnMetadata;
  /** What to answer once `write` landed: a result, or an error to send (after the write all the same). */
  reply: R | MillraceError;
  /** After `write` lands: the markers to write (commit or abort), then `complete()` of it. */
  markers?: { commit: boolean; partitions: TopicPartitionRef[]; producerId: number; producerEpoch: number };
}

const keyOf = (tp: TopicPartitionRef): string => `${tp.topic}\u0000${tp.partition}`;
const sortPartitions = (tps: TopicPartitionRef[]): TopicPartitionRef[] =>
  [...new Map(tps.map((tp) => [keyOf(tp), tp])).values()].sort((a, b) =>
    a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
  );

function transition(m: TxnMetadata, to: TxnState, now: number, changes: Partial<TxnMetadata> = {}): TxnMetadata {
  if (!VALID_PREVIOUS[to].includes(m.state))
    throw new Error(`transaction ${m.transactionalId}: no transition from ${m.state} to ${to}`);
  return { ...m, ...changes, state: to, txnLastUpdateTimestamp: now };
}

/** The request's producer id and epoch against the metadata: fenced, unknown or current. */
function checkProducer(m: TxnMetadata | undefined, producerId: number, producerEpoch: number): TxnMetadata {
  if (!m || m.state === 'Dead')
    throw new MillraceError('INVALID_PRODUCER_ID_MAPPING', 'the transactional id has no producer: call InitProducerId');
  if (m.producerId !== producerId)
    throw new MillraceError(
      'INVALID_PRODUCER_ID_MAPPING',
      `the transactional id ${m.transactionalId} belongs to producer ${m.producerId}, not ${producerId}`,
    );
  if (producerEpoch < m.producerEpoch)
    throw new MillraceError(
      'PRODUCER_FENCED',
      `producer ${producerId} epoch ${producerEpoch} was fenced by epoch ${m.producerEpoch}: a newer producer has the transactional id ${m.transactionalId}`,
    );
  if (producerEpoch > m.producerEpoch)
    throw new MillraceError(
      'INVALID_PRODUCER_EPOCH',
      `epoch ${producerEpoch} is ahead of the coordinator's ${m.producerEpoch}`,
    );
  return m;
}

const inTransition = (m: TxnMetadata): boolean =>
  m.state === 'PrepareCommit' || m.state === 'PrepareAbort' || m.state === 'PrepareEpochFence';

export interface InitRequest {
  transactionalId: string;
  txnTimeoutMs: number;
  /** KIP-360: a producer that knows its id and epoch asks to bump them (-1: a new producer). */
  producerId: number;
  producerEpoch: number;
}

/**
 * InitProducerId with a transactional id: a new producer id (epoch 0), or the id's next epoch,
 * fencing the previous producer; an open transaction of the previous producer is aborted first
 * (the caller retries on CONCURRENT_TRANSACTIONS, as Kafka's clients do).
 */
export function initProducerId(
  m: TxnMetadata | undefined,
  req: InitRequest,
  now: number,
  allocateProducerId: () => number,
  maxTimeoutMs = DEFAULT_MAX_TIMEOUT_MS,
): Decision<{ producerId: number; producerEpoch: number }> {
  if (!Number.isInteger(req.txnTimeoutMs) || req.txnTimeoutMs <= 0 || req.txnTimeoutMs > maxTimeoutMs)
    throw new MillraceError(
      'INVALID_TRANSACTION_TIMEOUT',
      `transaction timeout ${req.txnTimeoutMs} ms is not within (0, ${maxTimeoutMs}] (transaction.max.timeout.ms)`,
    );
  if (!m || m.state === 'Dead') {
    const write: TxnMetadata = {
      transactionalId: req.transactionalId,
      producerId: allocateProducerId(),
      previousProducerId: -1,
      producerEpoch: 0,
      lastProducerEpoch: -1,
      txnTimeoutMs: req.txnTimeoutMs,
      state: 'Empty',
      partitions: [],
      txnStartTimestamp: -1,
      txnLastUpdateTimestamp: now,
    };
    return { write, reply: { producerId: write.producerId, producerEpoch: 0 } };
  }
  if (inTransition(m))
    throw new MillraceError('CONCURRENT_TRANSACTIONS', `transaction ${m.transactionalId} is completing: retry`);
  if (req.producerId >= 0) {
    // A known producer bumping its own epoch: it must be the current one (or the one just before, retrying).
    const current = req.producerId === m.producerId && req.producerEpoch === m.producerEpoch;
    const retried = req.producerId === m.producerId && req.producerEpoch === m.lastProducerEpoch;
    if (!current && !retried)
      throw new MillraceError(
        'PRODUCER_FENCED',
        `producer ${req.producerId} epoch ${req.producerEpoch} is not current`,
      );
  }
  if (m.state === 'Ongoing') {
    // The previous producer left a transaction open: fence it (an epoch bump) and abort the
    // transaction; the caller retries on CONCURRENT_TRANSACTIONS, as Kafka's clients do.
    const { write, markers } = abortExpired(m, now);
    return { write, markers, reply: FENCING_ABORT };
  }
  const rollover = m.producerEpoch >= MAX_EPOCH;
  const write = transition(m, 'Empty', now, {
    producerId: rollover ? allocateProducerId() : m.producerId,
    previousProducerId: rollover ? m.producerId : m.previousProducerId,
    producerEpoch: rollover ? 0 : m.producerEpoch + 1,
    lastProducerEpoch: rollover ? -1 : m.producerEpoch,
    txnTimeoutMs: req.txnTimeoutMs,
    partitions: [],
    txnStartTimestamp: -1,
  });
  return { write, reply: { producerId: write.producerId, producerEpoch: write.producerEpoch } };
}

/**
 * AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets` partition): the
 * partitions join the open transaction, which begins if none was open.
 */
export function addPartitions(
  m: TxnMetadata | undefined,
  producerId: number,
  producerEpoch: number,
  partitions: TopicPartitionRef[],
  now: number,
): Decision<Record<string, never>> {
  const current = checkProducer(m, producerId, producerEpoch);
  if (inTransition(current))
    throw new MillraceError('CONCURRENT_TRANSACTIONS', `transaction ${current.transactionalId} is completing: retry`);
  if (partitions.length === 0) throw new MillraceError('INVALID_REQUEST', 'AddPartitionsToTxn needs partitions');
  const merged = sortPartitions([...current.partitions, ...partitions]);
  if (current.state === 'Ongoing' && merged.length === current.partitions.length) return { reply: {} };
  const write = transition(current, 'Ongoing', now, {
    partitions: merged,
    txnStartTimestamp: current.state === 'Ongoing' ? current.txnStartTimestamp : now,
  });
  return { write, reply: {} };
}

/** KIP-890's verification: data for a partition is taken only while the partition is in the transaction. */
export function isInTransaction(
  m: TxnMetadata | undefined,
  producerId: number,
  producerEpoch: number,
  tp: TopicPartitionRef,
): boolean {
  return (
    m !== undefined &&
    m.state === 'Ongoing' &&
    m.producerId === producerId &&
    m.producerEpoch === producerEpoch &&
    m.partitions.some((p) => p.topic === tp.topic && p.partition === tp.partition)
  );
}

/**
 * EndTxn: PrepareCommit or PrepareAbort, then markers to every partition of the transaction.
 * With `bumpEpoch` (KIP-890 part 2, a client that takes the epoch from the reply) the epoch is
 * bumped and the markers carry the new one; without it (older clients: kafkajs, EndTxn v0-4) the
 * epoch stays. A retry of an EndTxn that already ended answers as it did; the other outcome is
 * INVALID_TXN_STATE.
 */
export function endTxn(
  m: TxnMetadata | undefined,
  producerId: number,
  producerEpoch: number,
  commit: boolean,
  now: number,
  bumpEpoch = true,
): Decision<{ producerId: number; producerEpoch: number }> {
  const asked: TxnState[] = commit ? ['PrepareCommit', 'CompleteCommit'] : ['PrepareAbort', 'CompleteAbort'];
  const other: TxnState[] = commit ? ['PrepareAbort', 'CompleteAbort'] : ['PrepareCommit', 'CompleteCommit'];
  // A retry from the producer that ended it with an epoch bump: its epoch is now the previous one.
  if (
    m &&
    m.producerId === producerId &&
    producerEpoch === m.lastProducerEpoch &&
    producerEpoch >= 0 &&
    producerEpoch !== m.producerEpoch
  ) {
    if (asked.includes(m.state)) return { reply: { producerId: m.producerId, producerEpoch: m.producerEpoch } };
    if (other.includes(m.state))
      throw new MillraceError('INVALID_TXN_STATE', `transaction ${m.transactionalId} ended otherwise (${m.state})`);
    // A next transaction began: the old epoch is simply fenced (below).
  }
  const current = checkProducer(m, producerId, producerEpoch);
  if (current.state === 'Ongoing') {
    const { write, markers } = endTransaction(current, commit, now, bumpEpoch);
    return { write, markers, reply: { producerId: write!.producerId, producerEpoch: write!.producerEpoch } };
  }
  const reply = { producerId: current.producerId, producerEpoch: current.producerEpoch };
  if (current.state === 'Empty') return { reply };
  // Same epoch: a retry of an EndTxn that did not bump it (or of one still writing its markers).
  if (inTransition(current) && asked.includes(current.state))
    throw new MillraceError('CONCURRENT_TRANSACTIONS', `transaction ${current.transactionalId} is completing: retry`);
  if (asked.includes(current.state)) return { reply };
  throw new MillraceError(
    'INVALID_TXN_STATE',
    `transaction ${current.transactionalId} is ${current.state}: cannot ${commit ? 'commit' : 'abort'}`,
  );
}

/** Ongoing (or fenced) to PrepareCommit / PrepareAbort, the epoch bumped unless told not to, and its markers. */
function endTransaction(m: TxnMetadata, commit: boolean, now: number, bumpEpoch = true): Decision<null> {
  const bump = bumpEpoch && m.producerEpoch < MAX_EPOCH;
  const write = transition(m, commit ? 'PrepareCommit' : 'PrepareAbort', now, {
    producerEpoch: bump ? m.producerEpoch + 1 : m.producerEpoch,
    lastProducerEpoch: bump ? m.producerEpoch : m.lastProducerEpoch,
  });
  return {
    write,
    reply: null,
    markers: { commit, partitions: m.partitions, producerId: m.producerId, producerEpoch: write.producerEpoch },
  };
}

/** The InitProducerId that found a transaction open: after aborting it, the client retries. */
const FENCING_ABORT = new MillraceError(
  'CONCURRENT_TRANSACTIONS',
  'the previous producer of this transactional id had a transaction open: it is being aborted, retry',
);

/** The markers are written: CompleteCommit / CompleteAbort, the partitions cleared. */
export function completeTransaction(m: TxnMetadata, now: number): TxnMetadata {
  const to = m.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort';
  return transition(m, to, now, { partitions: [], txnStartTimestamp: -1 });
}

/** Transactions open longer than their timeout, to abort (fencing their producer). */
export function expiredTransactions(all: Iterable<TxnMetadata>, now: number): TxnMetadata[] {
  return [...all].filter((m) => m.state === 'Ongoing' && now - m.txnStartTimestamp > m.txnTimeoutMs);
}

/**
 * Aborts a transaction whose producer is fenced (timed out, or replaced): the epoch is bumped,
 * and the old one is not remembered as a retry's, so its producer hears PRODUCER_FENCED.
 */
export function abortExpired(m: TxnMetadata, now: number): Decision<null> {
  const d = endTransaction(transition(m, 'PrepareEpochFence', now), false, now);
  return { ...d, write: { ...d.write!, lastProducerEpoch: -1 } };
}

/** Ids idle past transactional.id.expiration.ms with nothing open: removed (Dead, then a tombstone). */
export function expiredIds(all: Iterable<TxnMetadata>, now: number, expirationMs: number): TxnMetadata[] {
  return [...all].filter(
    (m) =>
      ['Empty', 'CompleteCommit', 'CompleteAbort'].includes(m.state) && now - m.txnLastUpdateTimestamp > expirationMs,
  );
}

/** The partition of `__transaction_state` a transactional id lives in: Kafka's rule, as for groups. */
export const transactionStatePartition = (transactionalId: string, partitions: number): number =>
  offsetsPartitionFor(transactionalId, partitions);
