/**
 * What one partition replica knows of transactions (Kafka's ProducerStateManager transaction
 * part and its `.txnindex`): the transactions open in the log (a producer's first transactional
 * batch after its last marker opens one), the last stable offset (below the first offset of any
 * open transaction, and never above the high watermark), and the aborted transactions a
 * read_committed fetch must be told of.
 *
 * Pure bookkeeping fed with batch headers in offset order (on append, on replication and when a
 * log is loaded); truncation drops what lies at or above the truncation offset. Aborted entries
 * use Kafka's `.txnindex` layout (version, producer id, first offset, last offset, last stable
 * offset: 34 bytes), so a segment's entries can be written and read back as Kafka's are.
 */
import {
  isControlBatch,
  isTransactional,
  type MarkerType,
  type RecordBatchHeader,
} from '../../protocol/records/index.js';

export interface AbortedTxn {
  producerId: number;
  /** The transaction's first offset in this partition. */
  firstOffset: number;
  /** The offset of its abort marker. */
  lastOffset: number;
  /** The last stable offset once the marker was written. */
  lastStableOffset: number;
}

export const TXN_INDEX_ENTRY_BYTES = 34;
const TXN_INDEX_VERSION = 0;

export class TransactionTracker {
  /** First offset of each producer's open transaction. */
  private readonly open = new Map<number, number>();
  private readonly aborted: AbortedTxn[] = [];

  /** Open transactions, as producer id to first offset (for producer snapshots). */
  openTransactions(): ReadonlyMap<number, number> {
    return this.open;
  }

  /** A data batch: a transactional one opens its producer's transaction if none is open. */
  onBatch(h: RecordBatchHeader): void {
    if (!isTransactional(h) || isControlBatch(h)) return;
    this.onOpen(h.producerId, h.baseOffset);
  }

  /** A transactional data batch of `producerId` at `offset`. */
  onOpen(producerId: number, offset: number): void {
    if (!this.open.has(producerId)) this.open.set(producerId, offset);
  }

  /** Whether `producerId` has a transaction open here (KIP-890: else its partition must be verified). */
  hasOpen(producerId: number): boolean {
    return this.open.has(producerId);
  }

  /**
   * A marker at `offset` ends its producer's transaction; an abort is remembered for
   * read_committed fetches. A marker with no open transaction (a retried marker, or one for a
   * transaction that wrote nothing here) changes nothing but an abort's entry, as Kafka's.
   */
  onMarker(producerId: number, type: MarkerType, offset: number): AbortedTxn | null {
    const firstOffset = this.open.get(producerId);
    this.open.delete(producerId);
    if (type === 'COMMIT' || firstOffset === undefined) return null;
    // Kafka's: the first offset of the transactions still open, else just past the marker.
    const entry: AbortedTxn = {
      producerId,
      firstOffset,
      lastOffset: offset,
      lastStableOffset: this.firstUnstableOffset() ?? offset + 1,
    };
    this.aborted.push(entry);
    return entry;
  }

  /** The first offset of the oldest open transaction, or null. */
  firstUnstableOffset(): number | null {
    let first: number | null = null;
    for (const offset of this.open.values()) if (first === null || offset < first) first = offset;
    return first;
  }

  /** read_committed reads below this: the high watermark, or an open transaction's start below it. */
  lastStableOffset(highWatermark: number): number {
    const first = this.firstUnstableOffset();
    return first === null ? highWatermark : Math.min(first, highWatermark);
  }

  /** Aborted transactions overlapping [fetchOffset, upperBound): what a read_committed fetch returns with its data. */
  abortedIn(fetchOffset: number, upperBound: number): AbortedTxn[] {
    return this.aborted.filter((a) => a.lastOffset >= fetchOffset && a.firstOffset < upperBound);
  }

  /** The log was truncated to `offset`: transactions and markers at or above it are gone. */
  truncateTo(offset: number): void {
    for (const [producerId, first] of this.open) if (first >= offset) this.open.delete(producerId);
    for (let i = this.aborted.length - 1; i >= 0; i--)
      if (this.aborted[i]!.lastOffset >= offset) this.aborted.splice(i, 1);
  }

  /** Entries whose transactions end below `offset` are no longer needed (the log start moved past them). */
  dropBefore(offset: number): void {
    let keep = 0;
    while (keep < this.aborted.length && this.aborted[keep]!.lastOffset < offset) keep++;
    this.aborted.splice(0, keep);
  }

  /** Restores open transactions from a producer snapshot, before the batches after it are replayed. */
  restore(open: Iterable<[number, number]>, aborted: Iterable<AbortedTxn>): void {
    this.open.clear();
    for (const [producerId, first] of open) this.open.set(producerId, first);
    this.aborted.length = 0;
    this.aborted.push(...aborted);
  }
}

/** Kafka's `.txnindex` entry: version (int16), producer id, first, last and last stable offsets (int64). */
export function encodeTxnIndexEntry(a: AbortedTxn): Buffer {
  const b = Buffer.alloc(TXN_INDEX_ENTRY_BYTES);
  b.writeInt16BE(TXN_INDEX_VERSION, 0);
  b.writeBigInt64BE(BigInt(a.producerId), 2);
  b.writeBigInt64BE(BigInt(a.firstOffset), 10);
  b.writeBigInt64BE(BigInt(a.lastOffset), 18);
  b.writeBigInt64BE(BigInt(a.lastStableOffset), 26);
  return b;
}

/** Reads a `.txnindex`; a torn last entry (a crash mid-write) is left out, as Kafka's sanity check does. */
export function decodeTxnIndex(data: Buffer): AbortedTxn[] {
  const out: AbortedTxn[] = [];
  for (let at = 0; at + TXN_INDEX_ENTRY_BYTES <= data.length; at += TXN_INDEX_ENTRY_BYTES) {
    const version = data.readInt16BE(at);
    if (version !== TXN_INDEX_VERSION) throw new Error(`.txnindex entry at byte ${at} has version ${version}`);
    out.push({
      producerId: Number(data.readBigInt64BE(at + 2)),
      firstOffset: Number(data.readBigInt64BE(at + 10)),
      lastOffset: Number(data.readBigInt64BE(at + 18)),
      lastStableOffset: Number(data.readBigInt64BE(at + 26)),
    });
  }
  return out;
}
