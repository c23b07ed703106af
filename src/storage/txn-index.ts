/**
 * The aborted-transaction index of a log's segments (Kafka's `<base>.txnindex`): each abort
 * marker's entry goes to the file of the segment holding the marker, so the entries leave with
 * their segment (retention) and are cut with it (truncation). Loaded whole on open: one 34-byte
 * entry per aborted transaction.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { io } from './files.js';
import { segmentFileName, TXN_INDEX_SUFFIX } from './segment.js';
import { decodeTxnIndex, encodeTxnIndexEntry, type AbortedTxn } from './txn-tracker.js';

export class TxnIndexFiles {
  constructor(private readonly dir: string) {}

  private file(segmentBase: number): string {
    return path.join(this.dir, segmentFileName(segmentBase, TXN_INDEX_SUFFIX));
  }

  /** Appends an abort's entry to its segment's file. */
  append(segmentBase: number, entry: AbortedTxn): void {
    const file = this.file(segmentBase);
    io('write', file, () => fs.appendFileSync(file, encodeTxnIndexEntry(entry)));
  }

  /** Every entry of the given segments, in offset order. */
  read(segmentBases: readonly number[]): AbortedTxn[] {
    const out: AbortedTxn[] = [];
    for (const base of segmentBases) {
      const file = this.file(base);
      if (!fs.existsSync(file)) continue;
      out.push(...decodeTxnIndex(io('read', file, () => fs.readFileSync(file))));
    }
    return out;
  }

  /** Drops the entries of markers at or past `offset` (they are replayed, or truncated away). */
  removeFrom(offset: number, segmentBases: readonly number[]): void {
    for (const base of segmentBases) {
      const file = this.file(base);
      if (!fs.existsSync(file)) continue;
      const entries = decodeTxnIndex(io('read', file, () => fs.readFileSync(file)));
      const kept = entries.filter((e) => e.lastOffset < offset);
      if (kept.length === entries.length) continue;
      if (kept.length === 0) io('delete', file, () => fs.rmSync(file, { force: true }));
      else io('write', file, () => fs.writeFileSync(file, Buffer.concat(kept.map(encodeTxnIndexEntry))));
    }
  }
}
