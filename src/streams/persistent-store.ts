/**
 * A persistent key-value store on local disk (LMDB, see lmdb-file.ts), Kafka Streams' default
 * RocksDB store. Writes go to a write cache first (Kafka's caching layer: read your own writes,
 * one disk transaction per commit) and reach disk on `flush()`, which the runtime calls before
 * it commits; each write is logged to the changelog as it happens.
 */
import type { Serde } from '../client/index.js';
import { LmdbFile } from './lmdb-file.js';
import { StoreSerdes, defaultValueSerde, type KeyValueStore, type StoreContext } from './stores.js';

export class PersistentKeyValueStore<K, V> implements KeyValueStore<K, V> {
  readonly persistent = true;
  private readonly serdes: StoreSerdes<K, V>;
  private readonly file: LmdbFile;
  /** Writes since the last flush, by key bytes (latin1): the value, or null for a delete. */
  private readonly dirty = new Map<string, { key: Buffer; value: V | null }>();

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    private readonly context: StoreContext,
  ) {
    this.file = new LmdbFile(name, context);
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

  get(key: K): V | undefined {
    const bytes = this.serdes.key(key);
    const pending = this.dirty.get(bytes.toString('latin1'));
    if (pending) return pending.value ?? undefined;
    const stored = this.file.db.getBinary(bytes);
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
    for (const { key, value } of this.file.db.getRange({}))
      merged.set(key.toString('latin1'), [this.serdes.keyFrom(key), this.serdes.valueFrom(value)]);
    for (const [id, d] of this.dirty) merged.set(id, d.value === null ? null : [this.serdes.keyFrom(d.key), d.value]);
    return [...merged.entries()]
      .filter((e): e is [string, [K, V]] => e[1] !== null)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, kv]) => kv);
  }

  approximateNumEntries(): number {
    let n = this.file.db.getCount();
    for (const d of this.dirty.values()) {
      const onDisk = this.file.db.doesExist(d.key);
      if (d.value === null && onDisk) n--;
      else if (d.value !== null && !onDisk) n++;
    }
    return n;
  }

  restore(key: Buffer, value: Buffer | null): void {
    this.file.restore(key, value);
  }

  /**
   * Writes the cached writes (and restored records) to disk in one transaction. Synchronous, so
   * no read sees the cache emptied before the disk has its writes.
   */
  async flush(): Promise<void> {
    this.file.flushRestored();
    if (this.dirty.size === 0) return;
    const writes = [...this.dirty.values()].map((w): [Buffer, Buffer | null] => [
      w.key,
      w.value === null ? null : this.serdes.value(w.value),
    ]);
    this.dirty.clear();
    this.file.write(writes);
  }

  /** Drops everything on disk (a task restoring from the changelog's start, under exactly_once_v2). */
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
