/**
 * State stores, as Kafka Streams' KeyValueStore: a processor's state by key. Keys are compared
 * by their serialized bytes (as Kafka's stores, which hold bytes), so any key type with a serde
 * works. This is the in-memory store; persistent stores and changelog topics come with the runtime.
 */
import type { Serde } from '../client/index.js';
import { serializeNow } from './topology.js';

export interface KeyValueStore<K, V> {
  readonly name: string;
  get(key: K): V | undefined;
  /** A null value deletes the key, as a tombstone does. */
  put(key: K, value: V | null): void;
  delete(key: K): V | undefined;
  /** Every entry, in the order of the keys' serialized bytes. */
  all(): Array<[K, V]>;
  approximateNumEntries(): number;
}

export class InMemoryKeyValueStore<K, V> implements KeyValueStore<K, V> {
  private readonly entries = new Map<string, [K, V]>();

  constructor(
    readonly name: string,
    private readonly keySerde: Serde<K>,
  ) {}

  private id(key: K): string {
    return serializeNow(this.keySerde, key, { topic: this.name, part: 'key', headers: {} }).toString('latin1');
  }

  get(key: K): V | undefined {
    return this.entries.get(this.id(key))?.[1];
  }

  put(key: K, value: V | null): void {
    if (value === null) this.entries.delete(this.id(key));
    else this.entries.set(this.id(key), [key, value]);
  }

  delete(key: K): V | undefined {
    const id = this.id(key);
    const old = this.entries.get(id)?.[1];
    this.entries.delete(id);
    return old;
  }

  all(): Array<[K, V]> {
    return [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, kv]) => kv);
  }

  approximateNumEntries(): number {
    return this.entries.size;
  }
}
