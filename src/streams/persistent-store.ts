/**
 * A persistent key-value store on local disk (LMDB, see lmdb-file.ts), Kafka Streams' default
 * RocksDB store. Writes go to a write cache first (Kafka's caching layer: read your own writes,
 * one disk transaction per commit) and reach disk on `flush()`, which the runtime calls before
 * it commits; each write is logged to the changelog as it happens.
 */
import type { Serde } from '../client/index.js';
import { CachedLmdbStore } from './lmdb-file.js';
import { StoreSerdes, defaultValueSerde, type KeyValueStore, type StoreContext } from './stores.js';

/** A cached write: the key's bytes and the value, or null for a delete. */
interface KeyWrite<V> {
  key: Buffer;
  value: V | null;
}

export class PersistentKeyValueStore<K, V> extends CachedLmdbStore<KeyWrite<V>> implements KeyValueStore<K, V> {
  private readonly serdes: StoreSerdes<K, V>;

  constructor(
    name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    private readonly context: StoreContext,
  ) {
    super(name, context);
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

  protected writesOf(w: KeyWrite<V>): Array<readonly [Buffer, Buffer | null]> {
    return [[w.key, w.value === null ? null : this.serdes.value(w.value)]];
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
}
