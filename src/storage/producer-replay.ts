/**
 * Keeps a log's producer state and transactions in step with its batches: batches replicated
 * from a leader or replayed from the files after a snapshot, markers (an abort indexed in the
 * `.txnindex` of the segment holding it), and the rebuild on open and after truncation.
 */
import type { Logger } from 'pino';
import {
  RECORD_BATCH_OVERHEAD,
  isControlBatch,
  isTransactional,
  lastOffsetOf,
  newBatchHeader,
  readBatchHeader,
  readMarker,
  type MarkerType,
  type RecordBatchHeader,
} from '../../protocol/records/index.js';
import type { ProducerStateManager } from './producer-state.js';
import { TxnIndexFiles } from './txn-index.js';

/** What a replay reads of its log. */
export interface ReplayedLog {
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  readonly segmentBaseOffsets: number[];
  /** The base offset of the segment holding `offset`. */
  segmentBaseOf(offset: number): number;
  read(offset: number, maxBytes: number, upperBound: number): { records: Buffer };
}

export class ProducerReplay {
  private readonly txnIndex: TxnIndexFiles;

  constructor(
    dir: string,
    private readonly state: ProducerStateManager,
    private readonly log: ReplayedLog,
    private readonly logger: Logger,
  ) {
    this.txnIndex = new TxnIndexFiles(dir);
  }

  /** A marker at `offset`: the transaction ends; an abort is indexed. */
  marker(
    producerId: number,
    epoch: number,
    type: MarkerType,
    offset: number,
    timestamp: number,
    coordinatorEpoch: number,
  ): void {
    const aborted = this.state.applyMarker(producerId, epoch, type, offset, timestamp, coordinatorEpoch);
    if (aborted) this.txnIndex.append(this.log.segmentBaseOf(offset), aborted);
  }

  /** A replicated or replayed batch (at `pos` of `buf`) updates producers and transactions. */
  batch(buf: Buffer, pos: number, h: RecordBatchHeader): void {
    if (!isControlBatch(h)) {
      this.state.update(h);
      if (isTransactional(h)) this.state.txns.onBatch(h);
      return;
    }
    const m = readMarker(buf, pos, h);
    if (m) this.marker(h.producerId, h.producerEpoch, m.type, m.offset, m.timestamp, m.coordinatorEpoch);
  }

  /**
   * Producer state from the newest snapshot at or below the log end, plus the batches after it
   * (read by header; markers decoded). Runs on open and after a truncation removed batches it had applied.
   */
  rebuild(): void {
    const { logStartOffset, logEndOffset } = this.log;
    const from = Math.max(this.state.loadSnapshot(logEndOffset), logStartOffset);
    // Aborts indexed below `from` stand; those at or past it are indexed again by the replay.
    const bases = this.log.segmentBaseOffsets;
    this.txnIndex.removeFrom(from, bases);
    const txns = this.state.txns;
    txns.restore([...txns.openTransactions()], this.txnIndex.read(bases));
    txns.dropBefore(logStartOffset);
    const header = newBatchHeader();
    let next = from;
    while (next < logEndOffset) {
      const { records } = this.log.read(next, 1024 * 1024, logEndOffset);
      if (records.length === 0) break;
      for (let p = 0; p + RECORD_BATCH_OVERHEAD <= records.length; p += header.sizeInBytes) {
        readBatchHeader(records, p, header);
        if (lastOffsetOf(header) >= next) this.batch(records, p, header);
      }
      next = lastOffsetOf(header) + 1;
    }
    if (next > from)
      this.logger.info({ from, to: next, producers: this.state.producerCount }, 'rebuilt producer state');
  }
}
