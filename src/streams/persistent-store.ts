/**
 * A persistent key-value store on local disk, Kafka Streams' RocksDB store in Node: LMDB through
 * the `lmdb` package. Chosen because its npm package ships prebuilt binaries as optional
 * platform packages (nothing is downloaded or compiled at install), its reads are synchronous
 * (a topology processes a record synchronously), and it keeps keys in byte order (as Kafka's
 * stores, ranges come back sorted). Writes go to a write cache first (Kafka's caching layer:
 * read your own writes, one disk transaction per commit) and reach disk on `flush()`, which the
 * runtime calls before it commits; each write is logged to the changelog as it happens.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { MillraceError } from '../../protocol/errors.js';
import type { Serde } from '../client/index.js';
import { StoreSerdes, defaultValueSerde, type KeyValueStore, type StoreContext } from './stores.js';

const RESTORE_BATCH = 10_000;

export class PersistentKeyValueStore<K, V> implements KeyValueStore<K, V> {
  readonly persistent = true;
  private readonly serdes: StoreSerdes<K, V>;
  private db: RootDatabase<Buffer, Buffer>;
  /** Writes since the last flush, by key bytes (latin1): the value, or null for a delete. */
  private readonly dirty = new Map<string, { key: Buffer; value: V | null }>();
  private readonly dir: string;
  private restored: Array<[Buffer, Buffer | null]> = [];

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    private readonly context: StoreContext,
  ) {
    if (context.stateDir === null)
      throw new MillraceError('INVALID_CONFIG', `persistent store '${name}' needs a state directory`);
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
    this.dir = path.join(context.stateDir, 'lmdb', name);
    fs.mkdirSync(this.dir, { recursive: true });
    this.db = this.openDb();
  }

  private openDb(): RootDatabase<Buffer, Buffer> {
    return open<Buffer, Buffer>({ path: this.dir, keyEncoding: 'binary', encoding: 'binary' });
  }

  get(key: K): V | undefined {
    const bytes = this.serdes.key(key);
    const pending = this.dirty.get(bytes.toString('latin1'));
    if (pending) return pending.value ?? undefined;
    const stored = this.db.getBinary(bytes);
    return stored === undefined ? undefined : this.serdes.valueFrom(stored);
  }

  put(key: K, value: V | null): void {
    const bytes = this.serdes.key(key);
    this.dirty.set(bytes.toString('latin1'), { key: bytes, value });
    this.context.changelog?.(bytes, value === null ? null : this.serdes.value(value));
  }

  delete(key: K): V | undefined {
    const old = this.get(key);
    this.put(key, null);
    return old;
  }

  all(): Array<[K, V]> {
    const merged = new Map<string, [K, V] | null>();
    for (const { key, value } of this.db.getRange({}))
      merged.set(key.toString('latin1'), [this.serdes.keyFrom(key), this.serdes.valueFrom(value)]);
    for (const [id, d] of this.dirty) merged.set(id, d.value === null ? null : [this.serdes.keyFrom(d.key), d.value]);
    return [...merged.entries()]
      .filter((e): e is [string, [K, V]] => e[1] !== null)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, kv]) => kv);
  }

  approximateNumEntries(): number {
    let n = this.db.getCount();
    for (const d of this.dirty.values()) {
      const onDisk = this.db.doesExist(d.key);
      if (d.value === null && onDisk) n--;
      else if (d.value !== null && !onDisk) n++;
    }
    return n;
  }

  /** Restored records are written to disk in batches: one disk transaction per RESTORE_BATCH of them. */
  restore(key: Buffer, value: Buffer | null): void {
    this.restored.push([key, value]);
    if (this.restored.length >= RESTORE_BATCH) this.writeRestored();
  }

  private writeRestored(): void {
    const batch = this.restored;
    this.restored = [];
    this.db.transactionSync(() => {
      for (const [key, value] of batch) {
        if (value === null) this.db.removeSync(key);
        else this.db.putSync(key, value);
      }
    });
  }

  /**
   * Writes the cached writes (and restored records) to disk in one transaction. Synchronous, so
   * no read sees the cache emptied before the disk has its writes.
   */
  async flush(): Promise<void> {
    if (this.restored.length > 0) this.writeRestored();
    if (this.dirty.size === 0) return;
    const writes = [...this.dirty.values()];
    this.dirty.clear();
    this.db.transactionSync(() => {
      for (const w of writes) {
        if (w.value === null) this.db.removeSync(w.key);
        else this.db.putSync(w.key, this.serdes.value(w.value));
      }
    });
  }

  /** Drops everything on disk (a task restoring from the changelog's start, under exactly_once_v2). */
  wipe(): void {
    this.dirty.clear();
    this.restored = [];
    this.db.clearSync();
  }

  /** Closes without flushing: what is not flushed was not committed (a clean close flushes first). */
  async close(): Promise<void> {
    this.dirty.clear();
    this.restored = [];
    await this.db.close();
  }
}
