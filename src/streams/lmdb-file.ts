/**
 * One persistent store's LMDB environment, under `<task dir>/lmdb/<store>`: Kafka Streams'
 * RocksDB stores in Node, through the `lmdb` package. Chosen because its npm package ships
 * prebuilt binaries as optional platform packages (nothing is downloaded or compiled at
 * install), its reads are synchronous (a topology processes a record synchronously), and it
 * keeps keys in byte order (so ranges come back sorted, as Kafka's stores return them). Stores
 * keep their writes in a cache of their own and hand them here in one transaction per commit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { MillraceError } from '../../protocol/errors.js';
import type { StoreContext } from './stores.js';

const RESTORE_BATCH = 10_000;

export class LmdbFile {
  readonly db: RootDatabase<Buffer, Buffer>;
  private restored: Array<[Buffer, Buffer | null]> = [];

  constructor(name: string, context: StoreContext) {
    if (context.stateDir === null)
      throw new MillraceError('INVALID_CONFIG', `persistent store '${name}' needs a state directory`);
    const dir = path.join(context.stateDir, 'lmdb', name);
    fs.mkdirSync(dir, { recursive: true });
    this.db = open<Buffer, Buffer>({ path: dir, keyEncoding: 'binary', encoding: 'binary' });
  }

  /** Writes (a null value deletes) in one disk transaction; synchronous, so no read sees them half done. */
  write(writes: Iterable<readonly [Buffer, Buffer | null]>): void {
    this.db.transactionSync(() => {
      for (const [key, value] of writes) {
        if (value === null) this.db.removeSync(key);
        else this.db.putSync(key, value);
      }
    });
  }

  /** Restored records reach disk in batches: one transaction per RESTORE_BATCH of them. */
  restore(key: Buffer, value: Buffer | null): void {
    this.restored.push([key, value]);
    if (this.restored.length >= RESTORE_BATCH) this.flushRestored();
  }

  flushRestored(): void {
    if (this.restored.length === 0) return;
    const batch = this.restored;
    this.restored = [];
    this.write(batch);
  }

  /** Entries with keys in [start, end), in byte order. */
  range(start: Buffer, end: Buffer): Array<{ key: Buffer; value: Buffer }> {
    return [...this.db.getRange({ start, end })];
  }

  /** Drops everything on disk (a task restoring from the changelog's start). */
  wipe(): void {
    this.restored = [];
    this.db.clearSync();
  }

  /** Closes; restored records not yet written are dropped (no checkpoint covers them). */
  async close(): Promise<void> {
    this.restored = [];
    await this.db.close();
  }
}

/**
 * What the three persistent stores share: their file and a write cache of entries `E` by the
 * key's bytes (latin1), written to disk in one transaction by `flush()` (with what was restored),
 * dropped by `wipe()` and by a `close()` that did not flush first.
 */
export abstract class CachedLmdbStore<E> {
  readonly persistent = true;
  protected readonly file: LmdbFile;
  /** Writes since the last flush. */
  protected readonly dirty = new Map<string, E>();

  constructor(
    readonly name: string,
    context: StoreContext,
  ) {
    this.file = new LmdbFile(name, context);
  }

  /** A cached entry as disk writes (a null value deletes). */
  protected abstract writesOf(entry: E): Iterable<readonly [Buffer, Buffer | null]>;

  /** Synchronous inside, so no read sees the cache emptied before the disk has its writes. */
  async flush(): Promise<void> {
    this.file.flushRestored();
    if (this.dirty.size === 0) return;
    const writes: Array<readonly [Buffer, Buffer | null]> = [];
    for (const entry of this.dirty.values()) writes.push(...this.writesOf(entry));
    this.dirty.clear();
    this.file.write(writes);
  }

  /** Drops everything on disk (a task restoring from the changelog's start). */
  wipe(): void {
    this.dirty.clear();
    this.file.wipe();
  }

  /** Closes without flushing: what is not flushed was not committed (a clean close flushes first). */
  async close(): Promise<void> {
    this.dirty.clear();
    await this.file.close();
  }
}

/** An 8-byte time whose bytes sort as the numbers do, negatives first (the sign bit flipped). */
export function sortableTime(ms: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  // A bound of a range query may be unbounded (±Infinity): the widest time there is.
  out.writeBigInt64BE(BigInt(Math.trunc(Math.min(Number.MAX_SAFE_INTEGER, Math.max(Number.MIN_SAFE_INTEGER, ms)))));
  out[0]! ^= 0x80;
  return out;
}

export function timeFromSortable(bytes: Buffer, offset: number): number {
  const copy = Buffer.from(bytes.subarray(offset, offset + 8));
  copy[0]! ^= 0x80;
  return Number(copy.readBigInt64BE(0));
}
