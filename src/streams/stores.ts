/**
 * State stores, as Kafka Streams' KeyValueStore: a processor's state by key. Keys are compared
 * by their serialized bytes (as Kafka's stores, which hold bytes), so any key type with a serde
 * works. A store made by a runtime logs each write to its changelog (the task's partition of
 * `<application.id>-<store>-changelog`) and is rebuilt from it (`restore`) when its task starts
 * on an instance without the state; the test driver's stores log nowhere.
 */
import { jsonSerde, type Serde } from '../client/index.js';
import { deserializeNow, serializeNow } from './topology.js';

/** Where a store's writes go, and where a persistent store keeps its files. */
export interface StoreContext {
  /** Logs one write (key and value bytes; null value: deleted). Null: the store is not logged. */
  changelog: ((key: Buffer, value: Buffer | null) => void) | null;
  /** A directory of the task's own for persistent stores (null: none, as in the test driver). */
  stateDir: string | null;
}

/** What every store gives a runtime: rebuilding from its changelog, flushing and closing. */
export interface StateStore {
  readonly name: string;
  /**
   * Keeps its state on disk between runs (restored from a checkpoint, not the changelog's
   * start); `wipe` empties it when no checkpoint can be trusted.
   */
  readonly persistent?: boolean;
  wipe?(): void;
  /** Applies one changelog record (key and value bytes, as logged). */
  restore(key: Buffer, value: Buffer | null): void;
  /** Makes the writes so far durable (a persistent store); called before offsets are committed. */
  flush(): Promise<void>;
  /** Closes; writes not flushed are dropped (a clean close flushes first). */
  close(): Promise<void>;
}

export interface KeyValueStore<K, V> extends StateStore {
  get(key: K): V | undefined;
  /** A null value deletes the key, as a tombstone does. */
  put(key: K, value: V | null): void;
  delete(key: K): V | undefined;
  /** Every entry, in the order of the keys' serialized bytes. */
  all(): Array<[K, V]>;
  approximateNumEntries(): number;
}

/** The default serde of a store's values: JSON (numbers, strings, objects) when none is given. */
export const defaultValueSerde = <V>(serde: Serde<V> | undefined): Serde<V> => serde ?? jsonSerde<V>();

/** Serializes keys and values of one store, for its ids and its changelog. */
export class StoreSerdes<K, V> {
  constructor(
    private readonly storeName: string,
    readonly keySerde: Serde<K>,
    readonly valueSerde: Serde<V>,
  ) {}

  key(key: K): Buffer {
    return serializeNow(this.keySerde, key, { topic: this.storeName, part: 'key', headers: {} });
  }

  value(value: V): Buffer {
    return serializeNow(this.valueSerde, value, { topic: this.storeName, part: 'value', headers: {} });
  }

  keyFrom(bytes: Buffer): K {
    return deserializeNow(this.keySerde, bytes, { topic: this.storeName, part: 'key', headers: {} });
  }

  valueFrom(bytes: Buffer): V {
    return deserializeNow(this.valueSerde, bytes, { topic: this.storeName, part: 'value', headers: {} });
  }
}

export class InMemoryKeyValueStore<K, V> implements KeyValueStore<K, V> {
  private readonly entries = new Map<string, [K, V]>();
  private readonly serdes: StoreSerdes<K, V>;

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde?: Serde<V>,
    private readonly context: StoreContext = { changelog: null, stateDir: null },
  ) {
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

  get(key: K): V | undefined {
    return this.entries.get(this.serdes.key(key).toString('latin1'))?.[1];
  }

  put(key: K, value: V | null): void {
    const bytes = this.serdes.key(key);
    const id = bytes.toString('latin1');
    if (value === null) this.entries.delete(id);
    else this.entries.set(id, [key, value]);
    this.context.changelog?.(bytes, value === null ? null : this.serdes.value(value));
  }

  delete(key: K): V | undefined {
    const old = this.get(key);
    this.put(key, null);
    return old;
  }

  all(): Array<[K, V]> {
    return [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, kv]) => kv);
  }

  approximateNumEntries(): number {
    return this.entries.size;
  }

  restore(key: Buffer, value: Buffer | null): void {
    const id = key.toString('latin1');
    if (value === null) this.entries.delete(id);
    else this.entries.set(id, [this.serdes.keyFrom(key), this.serdes.valueFrom(value)]);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
