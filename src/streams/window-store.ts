/**
 * Window stores: one value per key and window start, kept while the window may still change
 * (retention). Their changelog key is Kafka's window key: the key's bytes, then the window start
 * as 8 bytes.
 */
import type { Serde } from '../client/index.js';
import { StoreSerdes, defaultValueSerde, type StateStore, type StoreContext } from './stores.js';

export interface WindowStore<K, V> extends StateStore {
  get(key: K, start: number): V | undefined;
  put(key: K, start: number, value: V): void;
  /** The key's windows that start within [from, to], oldest first. */
  fetch(key: K, from: number, to: number): Array<[number, V]>;
  /** Drops windows that started `retention` or longer before `streamTime`. */
  expire(streamTime: number): void;
}

/** Kafka's window changelog key: the key's bytes, then the window start (8 bytes). */
export function windowKey(keyBytes: Buffer, start: number): Buffer {
  const out = Buffer.allocUnsafe(keyBytes.length + 8);
  keyBytes.copy(out);
  out.writeBigInt64BE(BigInt(start), keyBytes.length);
  return out;
}

/**
 * A window store: one value per key and window start, kept while the window may still change
 * (retention: size plus grace). Its changelog key is Kafka's window key: the key's bytes then
 * the window start as 8 bytes; windows past retention are dropped locally, not tombstoned (the
 * changelog is compacted and deleted by time, as Kafka's `compact,delete`).
 */
export class InMemoryWindowStore<K, V> implements WindowStore<K, V> {
  /** By the key's bytes, then by window start. */
  private readonly entries = new Map<string, { key: K; windows: Map<number, V> }>();
  private readonly serdes: StoreSerdes<K, V>;
  private count = 0;

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    readonly retentionMs: number,
    valueSerde?: Serde<V>,
    private readonly context: StoreContext = { changelog: null, stateDir: null },
  ) {
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

  get(key: K, start: number): V | undefined {
    return this.entries.get(this.serdes.key(key).toString('latin1'))?.windows.get(start);
  }

  put(key: K, start: number, value: V): void {
    const bytes = this.serdes.key(key);
    this.set(bytes.toString('latin1'), key, start, value);
    this.context.changelog?.(windowKey(bytes, start), this.serdes.value(value));
  }

  private set(id: string, key: K, start: number, value: V): void {
    let e = this.entries.get(id);
    if (!e) this.entries.set(id, (e = { key, windows: new Map() }));
    if (!e.windows.has(start)) this.count++;
    e.windows.set(start, value);
  }

  /** The key's windows that start within [from, to], oldest first. */
  fetch(key: K, from: number, to: number): Array<[number, V]> {
    const e = this.entries.get(this.serdes.key(key).toString('latin1'));
    if (!e) return [];
    return [...e.windows].filter(([start]) => start >= from && start <= to).sort((a, b) => a[0] - b[0]);
  }

  /** Drops windows that ended before `streamTime - retention`. */
  expire(streamTime: number): void {
    for (const [id, e] of this.entries) {
      for (const start of e.windows.keys())
        if (start + this.retentionMs <= streamTime) {
          e.windows.delete(start);
          this.count--;
        }
      if (e.windows.size === 0) this.entries.delete(id);
    }
  }

  get size(): number {
    return this.count;
  }

  restore(key: Buffer, value: Buffer | null): void {
    if (value === null || key.length < 8) return;
    const keyBytes = key.subarray(0, key.length - 8);
    const start = Number(key.readBigInt64BE(key.length - 8));
    this.set(keyBytes.toString('latin1'), this.serdes.keyFrom(keyBytes), start, this.serdes.valueFrom(value));
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
