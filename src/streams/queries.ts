/**
 * Interactive queries and discovery, as Kafka Streams' KafkaStreams.store and
 * queryMetadataForKey: reads of this instance's stores (each running task holds its partition's
 * share; a global store is whole here), and which instance holds a key, from the endpoints and
 * tasks the last rebalance named (assignor.ts).
 */
import { MillraceError } from '../../protocol/errors.js';
import { defaultPartitioner, type Serde } from '../client/index.js';
import type { HostTasks } from './assignor.js';
import type { Session, SessionStore } from './session-store.js';
import type { KeyValueStore, StateStore } from './stores.js';
import { serializeNow, type StoreSpec, type Topology } from './topology.js';
import type { WindowStore } from './window-store.js';

export interface HostInfo {
  host: string;
  port: number;
}

/** Where a key's state lives (Kafka's KeyQueryMetadata). */
export interface KeyQueryMetadata {
  /** The instance running the key's task (null: none has it now, as during a rebalance). */
  activeHost: HostInfo | null;
  standbyHosts: HostInfo[];
  partition: number;
}

/** One instance of the application, as the last rebalance described it (Kafka's StreamsMetadata). */
export interface StreamsMetadata {
  hostInfo: HostInfo;
  stateStoreNames: string[];
  /** Its active tasks' source partitions. */
  topicPartitions: Array<{ topic: string; partition: number }>;
  standbyTopicPartitions: Array<{ topic: string; partition: number }>;
}

const ENDPOINT = /^(.+):(\d{1,5})$/;

export function parseEndpoint(endpoint: string): HostInfo {
  const m = ENDPOINT.exec(endpoint);
  const port = Number(m?.[2]);
  if (!m || port > 65535)
    throw new MillraceError('INVALID_CONFIG', `applicationServer must be host:port, got '${endpoint}'`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}
/** A window store as queries see it (Kafka's ReadOnlyWindowStore). */
export interface ReadOnlyWindowStore<K, V> {
  /** The key's windows that start within [from, to], oldest first. */
  fetch(key: K, from: number, to: number): Array<[start: number, value: V]>;
}

/** A session store as queries see it (Kafka's ReadOnlySessionStore). */
export interface ReadOnlySessionStore<K, V> {
  /** The key's sessions overlapping [from, to] (default: all of them). */
  fetch(key: K, from?: number, to?: number): Array<Session<V>>;
}

/** What the queries read of the running instance. */
export interface QuerySource {
  topology: Topology;
  globalStores: () => ReadonlyMap<string, StateStore>;
  /** The running tasks' stores named `name`. */
  localStores: (name: string) => unknown[];
  /** Every endpoint's tasks, as the last rebalance assigned them. */
  hosts: () => readonly HostTasks[];
  partitionCount: (topic: string) => number | undefined;
}

export class InteractiveQueries {
  constructor(private readonly src: QuerySource) {}

  /**
   * A store of this instance, for interactive queries: reads go to the local task holding the
   * key (each task has its partition's share of the store); a global store is whole here.
   */
  store<K, V>(name: string): Pick<KeyValueStore<K, V>, 'get' | 'all' | 'approximateNumEntries'> {
    const global = this.src.globalStores().get(name);
    if (global) return global as KeyValueStore<K, V>;
    const local = this.localStores<KeyValueStore<K, V>>(name, 'keyValue');
    return {
      get: (key) => {
        for (const s of local()) {
          const v = s.get(key);
          if (v !== undefined) return v;
        }
        return undefined;
      },
      all: () => local().flatMap((s) => s.all()),
      approximateNumEntries: () => local().reduce((n, s) => n + s.approximateNumEntries(), 0),
    };
  }

  /**
   * A window store of this instance, for interactive queries (Kafka's ReadOnlyWindowStore): the
   * key's windows that start within [from, to], from the local task holding the key. A sliding
   * window's value comes with its latest record's timestamp, `{ value, ts }` (Kafka's ValueAndTimestamp).
   */
  windowStore<K, V>(name: string): ReadOnlyWindowStore<K, V> {
    const local = this.localStores<WindowStore<K, V>>(name, 'window');
    return { fetch: (key, from, to) => local().flatMap((s) => s.fetch(key, from, to)) };
  }

  /** A session store of this instance, for interactive queries: the key's sessions overlapping [from, to]. */
  sessionStore<K, V>(name: string): ReadOnlySessionStore<K, V> {
    const local = this.localStores<SessionStore<K, V>>(name, 'session');
    return { fetch: (key, from = -Infinity, to = Infinity) => local().flatMap((s) => s.find(key, from, to)) };
  }

  /** The running tasks' stores named `name`, once it is known to be a store of that kind. */
  private localStores<S>(name: string, kind: NonNullable<StoreSpec['kind']>): () => S[] {
    const spec = this.src.topology.stores.find((s) => s.name === name);
    if (!spec) throw new MillraceError('INVALID_REQUEST', `the topology has no store named '${name}'`);
    if (spec.kind !== undefined && spec.kind !== kind) {
      const method = { keyValue: 'store', window: 'windowStore', session: 'sessionStore' }[spec.kind];
      throw new MillraceError('INVALID_REQUEST', `'${name}' is a ${spec.kind} store: query it with ${method}(name)`);
    }
    return () => this.src.localStores(name) as S[];
  }

  /**
   * Which instance holds `key` in `storeName` (Kafka's queryMetadataForKey): the key's partition
   * is the default partitioner's over the topics feeding the store, and its task's active and
   * standby instances are those the last rebalance named (instances with an applicationServer).
   */
  queryMetadataForKey<K>(storeName: string, key: K, keySerde: Serde<K>): KeyQueryMetadata {
    if (!this.src.topology.stores.some((s) => s.name === storeName))
      throw new MillraceError('INVALID_REQUEST', `the topology has no store named '${storeName}'`);
    const topics = this.src.topology.sourceTopicsOfStore(storeName);
    const partitionCount = Math.max(1, ...topics.map((t) => this.src.partitionCount(t) ?? 1));
    const bytes = serializeNow(keySerde, key, { topic: topics[0] ?? storeName, part: 'key', headers: {} });
    const partition = defaultPartitioner({ topic: topics[0] ?? storeName, key: bytes, partitionCount })!;
    const active = this.src.hosts().find((h) => h.active.includes(partition));
    return {
      activeHost: active ? parseEndpoint(active.endpoint) : null,
      standbyHosts: this.src
        .hosts()
        .filter((h) => h.standby.includes(partition))
        .map((h) => parseEndpoint(h.endpoint)),
      partition,
    };
  }

  /** Every instance with an applicationServer, and what it holds (Kafka's metadataForAllStreamsClients). */
  metadataForAllStreamsClients(): StreamsMetadata[] {
    const stores = this.src.topology.stores.map((s) => s.name);
    const partitionsOf = (tasks: number[]) =>
      tasks.flatMap((p) =>
        this.src.topology.sourceTopics
          .filter((t) => p < (this.src.partitionCount(t) ?? 0))
          .map((topic) => ({ topic, partition: p })),
      );
    return this.src.hosts().map((h) => ({
      hostInfo: parseEndpoint(h.endpoint),
      stateStoreNames: stores,
      topicPartitions: partitionsOf(h.active),
      standbyTopicPartitions: partitionsOf(h.standby),
    }));
  }
}
