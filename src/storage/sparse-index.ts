/**
 * A sparse index kept in memory and appended to its file: the offset index (`.index`:
 * int32 offset relative to the segment base, int32 byte position) and the time index
 * (`.timeindex`: int64 timestamp, int32 relative offset), both in Kafka's on-disk layout.
 * Entries are written out lazily on flush, roll and close; after an unclean stop the indexes of
 * unflushed segments are rebuilt from the log, so lazy writing loses nothing.
 */
import * as fs from 'node:fs';
import { readInt64, writeInt64 } from '../../protocol/records/batch.js';
import { logFiles, type FileHandle } from './file-handles.js';
import { io, writeAllAt } from './files.js';

interface EntryLayout {
  readonly bytes: number;
  write(buf: Buffer, pos: number, key: number, value: number, base: number): void;
  read(buf: Buffer, pos: number, base: number): [key: number, value: number];
}

/** key: last offset of the indexed batch; value: byte position of that batch. */
export const offsetIndexLayout: EntryLayout = {
  bytes: 8,
  write(buf, pos, key, value, base) {
    buf.writeInt32BE(key - base, pos);
    buf.writeInt32BE(value, pos + 4);
  },
  read: (buf, pos, base) => [buf.readInt32BE(pos) + base, buf.readInt32BE(pos + 4)],
};

/** key: largest timestamp so far in the segment; value: the offset holding it. */
export const timeIndexLayout: EntryLayout = {
  bytes: 12,
  write(buf, pos, key, value, base) {
    writeInt64(buf, pos, key);
    buf.writeInt32BE(value - base, pos + 8);
  },
  read: (buf, pos, base) => [readInt64(buf, pos), buf.readInt32BE(pos + 8) + base],
};

export class SparseIndex {
  private keys = new Float64Array(64);
  private values = new Float64Array(64);
  private count = 0;
  private persisted = 0;
  private readonly handle: FileHandle;

  constructor(
    readonly file: string,
    private readonly layout: EntryLayout,
    private readonly base: number,
  ) {
    this.handle = logFiles.handle(file);
  }

  get entries(): number {
    return this.count;
  }

  get sizeInBytes(): number {
    return this.count * this.layout.bytes;
  }

  keyAt(i: number): number {
    return this.keys[i]!;
  }

  valueAt(i: number): number {
    return this.values[i]!;
  }

  lastKey(): number | undefined {
    return this.count ? this.keys[this.count - 1] : undefined;
  }

  lastValue(): number | undefined {
    return this.count ? this.values[this.count - 1] : undefined;
  }

  append(key: number, value: number): void {
    if (this.count === this.keys.length) {
      const keys = new Float64Array(this.count * 2);
      keys.set(this.keys);
      this.keys = keys;
      const values = new Float64Array(this.count * 2);
      values.set(this.values);
      this.values = values;
    }
    this.keys[this.count] = key;
    this.values[this.count] = value;
    this.count++;
  }

  /** Index of the last entry with key <= target, or -1. */
  floorByKey(target: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! <= target) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Number of leading entries whose value is below `limit` (values are non-decreasing). */
  countValuesBelow(limit: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.values[mid]! < limit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Keeps the first `n` entries, in memory and on disk. */
  truncateToEntries(n: number): void {
    if (n >= this.count) return;
    this.count = n;
    if (this.persisted > n) {
      this.persisted = n;
      this.handle.use((fd) => io('truncate', this.file, () => fs.ftruncateSync(fd, n * this.layout.bytes)));
    }
  }

  clear(): void {
    this.truncateToEntries(0);
  }

  /**
   * Loads entries from the file. Returns false (and loads nothing) when the file is not a
   * plausible index: a partial entry, keys or values going backwards, or values past `maxValue`.
   */
  load(maxValue: number): boolean {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const { bytes } = this.layout;
    if (buf.length % bytes !== 0) return false;
    this.count = 0;
    let prevKey = -Infinity;
    let prevValue = -Infinity;
    for (let pos = 0; pos < buf.length; pos += bytes) {
      const [key, value] = this.layout.read(buf, pos, this.base);
      if (key < prevKey || value < prevValue || value > maxValue || value < 0) {
        this.count = 0;
        return false;
      }
      prevKey = key;
      prevValue = value;
      this.append(key, value);
    }
    this.persisted = this.count;
    return true;
  }

  /** Writes entries not yet in the file; with `sync`, also fsyncs it. */
  persist(sync: boolean): void {
    this.handle.use((fd) => {
      if (this.persisted < this.count) {
        const { bytes } = this.layout;
        const buf = Buffer.allocUnsafe((this.count - this.persisted) * bytes);
        for (let i = this.persisted; i < this.count; i++) {
          this.layout.write(buf, (i - this.persisted) * bytes, this.keys[i]!, this.values[i]!, this.base);
        }
        writeAllAt(fd, this.file, buf, this.persisted * bytes);
        this.persisted = this.count;
      }
      if (sync) io('sync', this.file, () => fs.fdatasyncSync(fd));
    });
  }

  /** Empties the index and removes its file. */
  reset(): void {
    this.count = 0;
    this.persisted = 0;
    this.handle.release();
    io('delete', this.file, () => fs.rmSync(this.file, { force: true }));
  }

  /** Rewrites the file from memory (after a rebuild). */
  rewrite(): void {
    this.handle.use((fd) => io('truncate', this.file, () => fs.ftruncateSync(fd, 0)));
    this.persisted = 0;
    this.persist(false);
  }

  close(): void {
    this.handle.release();
  }
}
