/**
 * What the transaction coordinator keeps per transactional id (its metadata, lifecycle machine
 * and request queue) and per `__transaction_state` partition it leads, as group-runtime.ts does
 * for groups.
 */
import type { Actor } from 'xstate';
import type { transactionMachine } from '../../../actors/transaction.js';
import { errorFields, type MillraceError } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import type { HostedPartition } from '../hosted-partition.js';
import type { TopicPartitionRef, TxnMetadata } from './txn-rules.js';

/** The requests of one transactional id run one at a time, each on the metadata the previous left. */
export class TxnEntry {
  meta: TxnMetadata | undefined;
  actor: Actor<typeof transactionMachine> | null = null;
  /** The partitions still without the ending transaction's marker (null: all of them). */
  markersLeft: TopicPartitionRef[] | null = null;
  /** Requests waiting for the ending transaction's markers (resolved when its Complete record is written). */
  readonly settling: Array<() => void> = [];
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly transactionalId: string) {}

  serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** The transactional ids of one `__transaction_state` partition this broker leads. */
export class TxnPartition {
  readonly ids = new Map<string, TxnEntry>();
  loading = true;

  constructor(
    readonly hp: HostedPartition,
    readonly leaderEpoch: number,
  ) {}

  get stale(): boolean {
    return !this.hp.isLeader || this.hp.leaderEpoch !== this.leaderEpoch;
  }
}

/** One result per asked partition, grouped by topic; null is success. */
export function results(
  asked: TopicPartitionRef[],
  outcome: (p: TopicPartitionRef) => MillraceError | null,
): millrace.IAddPartitionsToTxnResponse {
  const topics = new Map<string, millrace.ITxnPartitionResult[]>();
  for (const p of asked) {
    const e = outcome(p);
    const r = { partition: p.partition, ...(e ? errorFields(e) : { errorCode: 0 }) };
    const list = topics.get(p.topic);
    if (list) list.push(r);
    else topics.set(p.topic, [r]);
  }
  return { topics: [...topics].map(([name, partitions]) => ({ name, partitions })) };
}
