/**
 * Idempotent-producer state of one partition replica (Kafka's ProducerStateManager): per producer
 * id, its epoch and the last five batches it wrote (sequences and offsets). The leader checks each
 * produced batch against it: a batch seen before is a duplicate, answered with its first offsets;
 * a gap is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is INVALID_PRODUCER_EPOCH. Followers
 * apply the same batches as they replicate, so a new leader already knows every producer.
 *
 * Transactions ride on the same state: a producer's transactional batch opens its transaction
 * here (`txns`), its marker ends it and sets the epoch the marker carries (KIP-890 bumps it at
 * each end, so sequences start again at 0).
 *
 * Snapshots `<20-digit offset>.snapshot` hold the state of every batch below that offset, open
 * transactions included; they are written on segment roll and clean close, and the state is
 * rebuilt from the latest snapshot at or below the log end plus the batches after it (on open
 * and after a truncation).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { MillraceError } from '../../protocol/errors.js';
import {
  CONTROL_MASK,
  NO_PRODUCER_ID,
  type RecordBatchHeader,
  crc32c,
  readInt64,
  writeInt64,
} from '../../protocol/records/index.js';
import { io, writeFileAtomic } from './files.js';
import { TransactionTracker, type AbortedTxn } from './txn-tracker.js';
import type { MarkerType } from '../../protocol/records/index.js';

/** Batches remembered per producer: the most a producer keeps in flight per partition. */
export const PRODUCER_BATCHES_RETAINED = 5;
export const SNAPSHOT_SUFFIX = '.snapshot';
/**
 * Version 2 adds the open transactions and producers with no batch of their epoch yet (after a
 * marker); version 3 the coordinator epoch of each producer's last marker. All three are read.
 */
const SNAPSHOT_VERSION = 3;
const INT32_MAX = 0x7fffffff;

export interface ProducerBatchMetadata {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
  timestamp: number;
}

export interface ProducerEntry {
  producerId: number;
  producerEpoch: number;
  /** Oldest first, at most PRODUCER_BATCHES_RETAINED; empty after a marker bumped the epoch. */
  batches: ProducerBatchMetadata[];
  /** The largest batch timestamp seen: idle producers expire from it. */
  lastTimestamp: number;
  /**
   * The coordinator epoch of the last marker written for the producer (-1: none, or not known
   * since a restart from a snapshot older than version 3): markers of an older coordinator are refused.
   */
  coordinatorEpoch: number;
}

/** The sequence after `seq`: sequences wrap from Int32 max to 0, as Kafka's do. */
const nextSeq = (seq: number): number => (seq === INT32_MAX ? 0 : seq + 1);
const lastSeqOf = (h: RecordBatchHeader): number => (h.baseSequence + h.lastOffsetDelta) % (INT32_MAX + 1);

export const snapshotFileName = (offset: number): string => `${String(offset).padStart(20, '0')}${SNAPSHOT_SUFFIX}`;

export class ProducerStateManager {
  private readonly producers = new Map<number, ProducerEntry>();
  /** Open transactions, the last stable offset and the aborted transactions of the partition. */
  readonly txns = new TransactionTracker();

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  get producerCount(): number {
    return this.producers.size;
  }

  producerIds(): IterableIterator<number> {
    return this.producers.keys();
  }

  entry(producerId: number): ProducerEntry | undefined {
    return this.producers.get(producerId);
  }

  /**
   * Checks a batch from a producer before it is appended. Returns the earlier batch when this one
   * is a duplicate of it, else null; throws the Kafka error for a bad epoch or sequence.
   * `pending` holds what earlier batches of the same request would change.
   */
  check(h: RecordBatchHeader, pending?: ReadonlyMap<number, ProducerEntry>): ProducerBatchMetadata | null {
    if (h.producerId === NO_PRODUCER_ID || (h.attributes & CONTROL_MASK) !== 0) return null;
    if (h.baseSequence < 0 || h.producerEpoch < 0) {
      throw new MillraceError(
        'INVALID_RECORD',
        `batch of producer ${h.producerId} has epoch ${h.producerEpoch} and sequence ${h.baseSequence}`,
      );
    }
    const entry = pending?.get(h.producerId) ?? this.producers.get(h.producerId);
    const firstSeq = h.baseSequence;
    if (!entry || h.producerEpoch > entry.producerEpoch || entry.batches.length === 0) {
      if (firstSeq === 0 && (!entry || h.producerEpoch >= entry.producerEpoch)) return null;
      if (!entry) {
        throw new MillraceError(
          'UNKNOWN_PRODUCER_ID',
          `no state for producer ${h.producerId} (expired or removed) and sequence ${firstSeq} is not 0`,
        );
      }
      if (h.producerEpoch >= entry.producerEpoch)
        throw new MillraceError(
          'OUT_OF_ORDER_SEQUENCE_NUMBER',
          `producer ${h.producerId} epoch ${h.producerEpoch} begins with sequence ${firstSeq}: a new epoch starts at 0`,
        );
    }
    if (h.producerEpoch < entry.producerEpoch) {
      throw new MillraceError(
        'INVALID_PRODUCER_EPOCH',
        `producer ${h.producerId} epoch ${h.producerEpoch} is older than its current epoch ${entry.producerEpoch}`,
      );
    }
    const lastSeq = lastSeqOf(h);
    const duplicate = entry.batches.find((b) => b.firstSeq === firstSeq && b.lastSeq === lastSeq);
    if (duplicate) return duplicate;
    const expected = nextSeq(entry.batches.at(-1)!.lastSeq);
    if (firstSeq !== expected) {
      const known = entry.batches.map((b) => `${b.firstSeq}-${b.lastSeq}@${b.firstOffset}`).join(', ');
      throw new MillraceError(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
        `producer ${h.producerId} epoch ${h.producerEpoch}: expected sequence ${expected}, got ${firstSeq}-${lastSeq} (last batches ${known})`,
      );
    }
    return null;
  }

  /** Records an appended batch (its offsets assigned). Into `into` when given, else the live state. */
  update(h: RecordBatchHeader, into: Map<number, ProducerEntry> = this.producers): void {
    if (h.producerId === NO_PRODUCER_ID || (h.attributes & CONTROL_MASK) !== 0) return;
    const base = into.get(h.producerId) ?? this.producers.get(h.producerId);
    const batch: ProducerBatchMetadata = {
      firstSeq: h.baseSequence,
      lastSeq: lastSeqOf(h),
      firstOffset: h.baseOffset,
      lastOffset: h.baseOffset + h.lastOffsetDelta,
      timestamp: h.maxTimestamp,
    };
    const sameEpoch = base !== undefined && base.producerEpoch === h.producerEpoch;
    const batches = sameEpoch ? [...base.batches, batch].slice(-PRODUCER_BATCHES_RETAINED) : [batch];
    into.set(h.producerId, {
      producerId: h.producerId,
      producerEpoch: h.producerEpoch,
      batches,
      lastTimestamp: Math.max(base?.lastTimestamp ?? -1, h.maxTimestamp),
      coordinatorEpoch: base?.coordinatorEpoch ?? -1,
    });
  }

  /** Applies the entries a checked request produced. */
  commit(pending: ReadonlyMap<number, ProducerEntry>): void {
    for (const [id, e] of pending) this.producers.set(id, e);
  }

  /**
   * A transaction marker at `offset`: the producer's transaction ends (an abort is returned for
   * the `.txnindex`) and its epoch becomes the marker's; a higher epoch forgets the old batches.
   */
  applyMarker(
    producerId: number,
    producerEpoch: number,
    type: MarkerType,
    offset: number,
    timestamp: number,
    coordinatorEpoch: number,
  ): AbortedTxn | null {
    const entry = this.producers.get(producerId);
    const known = Math.max(entry?.coordinatorEpoch ?? -1, coordinatorEpoch);
    if (!entry || producerEpoch > entry.producerEpoch)
      this.producers.set(producerId, {
        producerId,
        producerEpoch,
        batches: [],
        lastTimestamp: Math.max(entry?.lastTimestamp ?? -1, timestamp),
        coordinatorEpoch: known,
      });
    else entry.coordinatorEpoch = known;
    return this.txns.onMarker(producerId, type, offset);
  }

  /**
   * A marker for `producerId` at `producerEpoch` may be written: an older epoch than the
   * partition knows is a late coordinator's (Kafka: INVALID_PRODUCER_EPOCH).
   */
  checkMarker(producerId: number, producerEpoch: number, coordinatorEpoch: number): void {
    const entry = this.producers.get(producerId);
    if (entry && producerEpoch < entry.producerEpoch)
      throw new MillraceError(
        'INVALID_PRODUCER_EPOCH',
        `marker for producer ${producerId} has epoch ${producerEpoch}, older than the partition's ${entry.producerEpoch}`,
      );
    // Kafka's defence against a zombie coordinator: a marker from an older coordinator is refused.
    if (entry && coordinatorEpoch < entry.coordinatorEpoch)
      throw new MillraceError(
        'TRANSACTION_COORDINATOR_FENCED',
        `marker for producer ${producerId} from coordinator epoch ${coordinatorEpoch}, older than ${entry.coordinatorEpoch}`,
      );
  }

  /** Forgets producers idle for `expirationMs` (producer.id.expiration.ms); returns how many. */
  removeExpired(now: number, expirationMs: number): number {
    let removed = 0;
    const open = this.txns.openTransactions();
    for (const [id, e] of this.producers) {
      // A producer with a transaction open stays until its marker: the LSO depends on it.
      if (now - e.lastTimestamp < expirationMs || open.has(id)) continue;
      this.producers.delete(id);
      removed++;
    }
    return removed;
  }

  clear(): void {
    this.producers.clear();
    this.txns.restore([], []);
  }

  /** Offsets of the snapshot files on disk, ascending. */
  snapshotOffsets(): number[] {
    return io('list', this.dir, () => fs.readdirSync(this.dir))
      .filter((n) => n.endsWith(SNAPSHOT_SUFFIX))
      .map((n) => Number(n.slice(0, -SNAPSHOT_SUFFIX.length)))
      .filter(Number.isSafeInteger)
      .sort((a, b) => a - b);
  }

  /** Writes the state as of `offset` (every batch below it applied). */
  takeSnapshot(offset: number): void {
    const open = this.txns.openTransactions();
    let size = 14 + open.size * 16;
    for (const e of this.producers.values()) size += 23 + e.batches.length * 32;
    const buf = Buffer.alloc(size);
    buf.writeInt16BE(SNAPSHOT_VERSION, 0);
    buf.writeInt32BE(this.producers.size, 6);
    let p = 10;
    for (const e of this.producers.values()) {
      writeInt64(buf, p, e.producerId);
      buf.writeInt16BE(e.producerEpoch, p + 8);
      writeInt64(buf, p + 10, e.lastTimestamp);
      buf.writeInt32BE(e.coordinatorEpoch, p + 18);
      buf.writeInt8(e.batches.length, p + 22);
      p += 23;
      for (const b of e.batches) {
        buf.writeInt32BE(b.firstSeq, p);
        buf.writeInt32BE(b.lastSeq, p + 4);
        writeInt64(buf, p + 8, b.firstOffset);
        writeInt64(buf, p + 16, b.lastOffset);
        writeInt64(buf, p + 24, b.timestamp);
        p += 32;
      }
    }
    buf.writeInt32BE(open.size, p);
    p += 4;
    for (const [producerId, firstOffset] of open) {
      writeInt64(buf, p, producerId);
      writeInt64(buf, p + 8, firstOffset);
      p += 16;
    }
    buf.writeUInt32BE(crc32c(buf.subarray(6)), 2);
    writeFileAtomic(path.join(this.dir, snapshotFileName(offset)), buf);
  }

  /**
   * Loads the newest valid snapshot at or below `maxOffset`, deleting newer ones and any that do
   * not parse. Returns its offset, or -1 when none is usable (the state is then empty).
   */
  loadSnapshot(maxOffset: number): number {
    this.clear();
    const offsets = this.snapshotOffsets();
    for (const offset of offsets.filter((o) => o > maxOffset)) this.deleteSnapshot(offset);
    for (const offset of offsets.filter((o) => o <= maxOffset).reverse()) {
      const file = path.join(this.dir, snapshotFileName(offset));
      const problem = this.readSnapshot(io('read', file, () => fs.readFileSync(file)));
      if (problem === null) return offset;
      this.logger.warn({ file, problem }, 'producer state snapshot unreadable: deleted, using an older one');
      this.clear();
      this.deleteSnapshot(offset);
    }
    return -1;
  }

  private readSnapshot(buf: Buffer): string | null {
    if (buf.length < 10) return `${buf.length} bytes is shorter than the header`;
    const version = buf.readInt16BE(0);
    if (version < 1 || version > SNAPSHOT_VERSION) return `version ${version} is not 1 to ${SNAPSHOT_VERSION}`;
    if (buf.readUInt32BE(2) !== crc32c(buf.subarray(6))) return 'CRC-32C mismatch';
    const count = buf.readInt32BE(6);
    const entryBytes = version >= 3 ? 23 : 19;
    let p = 10;
    for (let i = 0; i < count; i++) {
      if (p + entryBytes > buf.length) return 'truncated entry';
      const producerId = readInt64(buf, p);
      const producerEpoch = buf.readInt16BE(p + 8);
      const lastTimestamp = readInt64(buf, p + 10);
      const coordinatorEpoch = version >= 3 ? buf.readInt32BE(p + 18) : -1;
      const n = buf.readInt8(p + entryBytes - 1);
      p += entryBytes;
      if (n < (version === 1 ? 1 : 0) || n > PRODUCER_BATCHES_RETAINED || p + n * 32 > buf.length)
        return 'bad batch count';
      const batches: ProducerBatchMetadata[] = [];
      for (let j = 0; j < n; j++, p += 32) {
        batches.push({
          firstSeq: buf.readInt32BE(p),
          lastSeq: buf.readInt32BE(p + 4),
          firstOffset: readInt64(buf, p + 8),
          lastOffset: readInt64(buf, p + 16),
          timestamp: readInt64(buf, p + 24),
        });
      }
      this.producers.set(producerId, { producerId, producerEpoch, batches, lastTimestamp, coordinatorEpoch });
    }
    const open: Array<[number, number]> = [];
    if (version >= 2) {
      if (p + 4 > buf.length) return 'truncated open transactions';
      const count = buf.readInt32BE(p);
      p += 4;
      if (count < 0 || p + count * 16 > buf.length) return 'bad open transaction count';
      for (let i = 0; i < count; i++, p += 16) open.push([readInt64(buf, p), readInt64(buf, p + 8)]);
    }
    this.txns.restore(open, []);
    return p === buf.length ? null : 'trailing bytes';
  }

  deleteSnapshot(offset: number): void {
    const file = path.join(this.dir, snapshotFileName(offset));
    io('delete', file, () => fs.rmSync(file, { force: true }));
  }

  /** Deletes snapshots below `offset` except the newest of them (the base a rebuild would start from). */
  deleteSnapshotsBelow(offset: number): void {
    const below = this.snapshotOffsets().filter((o) => o < offset);
    for (const o of below.slice(0, -1)) this.deleteSnapshot(o);
  }
}
