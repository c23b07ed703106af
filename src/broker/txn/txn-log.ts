/**
 * The records of `__transaction_state` (Kafka's layout: a 2-byte key version, then the key and
 * value bodies, here protobuf): one record per transactional id, its latest metadata; a
 * tombstone when the id expired. Compacted, so the partition holds each id's latest state.
 */
import { isControlBatch } from '../../../protocol/records/index.js';
import { wire } from '../../../protocol/wire.js';
import type { Log } from '../../storage/log.js';
import { replayInternal, type InternalRecord } from '../internal-topics.js';
import { TXN_STATES } from '../../../actors/transaction.js';
import type { TopicPartitionRef, TxnMetadata, TxnState } from './txn-rules.js';

export const TRANSACTION_STATE_TOPIC = '__transaction_state';
const KEY_VERSION = 0;

export function txnKey(transactionalId: string): Buffer {
  const body = wire.TransactionLogKey.encode({ transactionalId }).finish();
  const key = Buffer.allocUnsafe(2 + body.length);
  key.writeInt16BE(KEY_VERSION, 0);
  key.set(body, 2);
  return key;
}

/** Partitions grouped by topic, as the wire carries them. */
export function byTopic(partitions: readonly TopicPartitionRef[]): Array<{ name: string; partitions: number[] }> {
  const out = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    const list = out.get(topic);
    if (list) list.push(partition);
    else out.set(topic, [partition]);
  }
  return [...out].map(([name, ps]) => ({ name, partitions: ps }));
}

export function txnRecord(m: TxnMetadata): InternalRecord {
  const value = wire.TransactionLogValue.encode({
    producerId: m.producerId,
    previousProducerId: m.previousProducerId,
    producerEpoch: m.producerEpoch,
    lastProducerEpoch: m.lastProducerEpoch,
    transactionTimeoutMs: m.txnTimeoutMs,
    state: m.state,
    partitions: byTopic(m.partitions),
    transactionStartTimestamp: m.txnStartTimestamp,
    transactionLastUpdateTimestamp: m.txnLastUpdateTimestamp,
  }).finish();
  return { key: txnKey(m.transactionalId), value: Buffer.from(value) };
}

export const txnTombstone = (transactionalId: string): InternalRecord => ({
  key: txnKey(transactionalId),
  value: null,
});

function decodeValue(transactionalId: string, value: Buffer): TxnMetadata {
  const v = wire.TransactionLogValue.decode(value);
  if (!TXN_STATES.includes(v.state as TxnState))
    throw new Error(`transaction ${transactionalId} has an unknown state '${v.state}'`);
  return {
    transactionalId,
    producerId: v.producerId,
    previousProducerId: v.previousProducerId,
    producerEpoch: v.producerEpoch,
    lastProducerEpoch: v.lastProducerEpoch,
    txnTimeoutMs: v.transactionTimeoutMs,
    state: v.state as TxnState,
    partitions: v.partitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition }))),
    txnStartTimestamp: v.transactionStartTimestamp,
    txnLastUpdateTimestamp: v.transactionLastUpdateTimestamp,
  };
}

/**
 * Replays a partition (latest record per id wins, a tombstone removes it) in chunks that yield
 * to the event loop; null when `stale()` says the partition moved meanwhile.
 */
export async function readTransactionPartition(
  log: Log,
  stale: () => boolean,
): Promise<Map<string, TxnMetadata> | null> {
  const ids = new Map<string, TxnMetadata>();
  const done = await replayInternal(log, stale, (batch, from) => {
    if (isControlBatch(batch.header)) return;
    for (const r of batch.records) {
      if (r.offset < from || !r.key || r.key.length < 2 || r.key.readInt16BE(0) !== KEY_VERSION) continue;
      const { transactionalId } = wire.TransactionLogKey.decode(r.key.subarray(2));
      if (r.value === null) ids.delete(transactionalId);
      else ids.set(transactionalId, decodeValue(transactionalId, r.value));
    }
  });
  return done ? ids : null;
}
