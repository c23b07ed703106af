/**
 * The key-value stores the DSL materializes: persistent (LMDB on local disk, Kafka's default
 * RocksDB store's counterpart) unless `storeType: 'in_memory'` is asked.
 */
import type { Serde } from '../client/index.js';
import { PersistentKeyValueStore } from './persistent-store.js';
import { InMemoryKeyValueStore } from './stores.js';
import type { StoreSpec } from './topology.js';

export type StoreType = 'persistent' | 'in_memory';

export function keyValueStoreSpec<K, V>(
  name: string,
  keySerde: Serde<K>,
  valueSerde: Serde<V> | undefined,
  storeType: StoreType = 'persistent',
): StoreSpec {
  return {
    name,
    create: (ctx) =>
      storeType === 'in_memory'
        ? new InMemoryKeyValueStore<K, V>(name, keySerde, valueSerde, ctx)
        : new PersistentKeyValueStore<K, V>(name, keySerde, valueSerde, ctx),
  };
}
