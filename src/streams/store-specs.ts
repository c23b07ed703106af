/**
 * The stores the DSL materializes: persistent (LMDB on local disk, Kafka's default RocksDB
 * stores' counterpart) unless `storeType: 'in_memory'` is asked.
 */
import type { Serde } from '../client/index.js';
import { PersistentKeyValueStore } from './persistent-store.js';
import { PersistentSessionStore, PersistentWindowStore } from './persistent-windowed.js';
import { InMemorySessionStore } from './session-store.js';
import { InMemoryKeyValueStore, type StateStore, type StoreContext } from './stores.js';
import type { StoreSpec } from './topology.js';
import { InMemoryWindowStore } from './window-store.js';

export type StoreType = 'persistent' | 'in_memory';

/** A spec making the store of the given type. */
function specOf(
  name: string,
  kind: StoreSpec['kind'],
  storeType: StoreType,
  inMemory: (ctx: StoreContext) => StateStore,
  persistent: (ctx: StoreContext) => StateStore,
): StoreSpec {
  return { name, kind, create: (ctx) => (storeType === 'in_memory' ? inMemory(ctx) : persistent(ctx)) };
}

export function keyValueStoreSpec<K, V>(
  name: string,
  keySerde: Serde<K>,
  valueSerde: Serde<V> | undefined,
  storeType: StoreType = 'persistent',
): StoreSpec {
  return specOf(
    name,
    'keyValue',
    storeType,
    (ctx) => new InMemoryKeyValueStore<K, V>(name, keySerde, valueSerde, ctx),
    (ctx) => new PersistentKeyValueStore<K, V>(name, keySerde, valueSerde, ctx),
  );
}

export function windowStoreSpec<K, V>(
  name: string,
  keySerde: Serde<K>,
  retentionMs: number,
  valueSerde: Serde<V> | undefined,
  storeType: StoreType = 'persistent',
): StoreSpec {
  return specOf(
    name,
    'window',
    storeType,
    (ctx) => new InMemoryWindowStore<K, V>(name, keySerde, retentionMs, valueSerde, ctx),
    (ctx) => new PersistentWindowStore<K, V>(name, keySerde, retentionMs, valueSerde, ctx),
  );
}

export function sessionStoreSpec<K, V>(
  name: string,
  keySerde: Serde<K>,
  valueSerde: Serde<V> | undefined,
  retentionMs: number,
  storeType: StoreType = 'persistent',
): StoreSpec {
  return specOf(
    name,
    'session',
    storeType,
    (ctx) => new InMemorySessionStore<K, V>(name, keySerde, valueSerde, retentionMs, ctx),
    (ctx) => new PersistentSessionStore<K, V>(name, keySerde, valueSerde, retentionMs, ctx),
  );
}
