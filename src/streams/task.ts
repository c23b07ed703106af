/**
 * A stream task, as Kafka Streams' StreamTask: one partition's share of the topology, with its
 * own processor instances and state stores. Records go through it one at a time, synchronously:
 * the source deserializes, processors forward, a sink serializes and hands the record to the
 * task's collector (a producer in a runtime, a queue in the test driver).
 */
import { MillraceError } from '../../protocol/errors.js';
import type { StateStore, StoreContext } from './stores.js';
import {
  deserializeNow,
  serializeNow,
  type ProcessFn,
  type ProcessorContext,
  type StreamRecord,
  type Topology,
} from './topology.js';

/** A record as a topic holds it: serialized, with its timestamp and partition. */
export interface StoredRecord {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers: Record<string, Buffer | null>;
  /** The sink's partitioner's choice (null: none given; the producer's default decides). */
  partition: number | null;
}

/** Where a task's sinks write. */
export type RecordCollector = (topic: string, record: StoredRecord) => void;

interface Origin {
  topic: string;
  partition: number;
  offset: number;
}

export class StreamTask {
  /** Kafka's task id: `<sub-topology>_<partition>`. */
  readonly id: string;
  private readonly stores = new Map<string, StateStore>();
  private readonly processors = new Map<string, ProcessFn>();

  constructor(
    private readonly topology: Topology,
    readonly partition: number,
    private readonly collector: RecordCollector,
    storeContext: (storeName: string) => StoreContext,
    /** Partition counts of sink topics, for sinks with a partitioner. */
    private readonly partitionCount: (topic: string) => number,
  ) {
    this.id = `0_${partition}`;
    for (const spec of topology.stores) this.stores.set(spec.name, spec.create(storeContext(spec.name)));
    for (const n of topology.allNodes) if (n.kind === 'processor') this.processors.set(n.name, n.supplier());
  }

  /** The task's stores, by name. */
  get stateStores(): ReadonlyMap<string, StateStore> {
    return this.stores;
  }

  /** One record of `topic` (one of the topology's sources) through the topology. */
  process(topic: string, stored: StoredRecord, offset: number): void {
    const source = this.topology.sourceOf(topic);
    if (!source) throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `the topology reads no topic '${topic}'`);
    const headers = stored.headers;
    const record: StreamRecord<unknown, unknown> = {
      key: stored.key === null ? null : deserializeNow(source.keySerde, stored.key, { topic, part: 'key', headers }),
      value:
        stored.value === null
          ? null
          : deserializeNow(source.valueSerde, stored.value, { topic, part: 'value', headers }),
      timestamp: stored.timestamp,
      headers,
    };
    const origin = { topic, partition: this.partition, offset };
    for (const child of source.children) this.dispatch(child, record, origin);
  }

  private dispatch(nodeName: string, record: StreamRecord<unknown, unknown>, origin: Origin): void {
    const node = this.topology.node(nodeName);
    if (node.kind === 'sink') {
      const ctx = { topic: node.topic, headers: record.headers };
      const key = record.key === null ? null : serializeNow(node.keySerde, record.key, { ...ctx, part: 'key' });
      const value =
        record.value === null ? null : serializeNow(node.valueSerde, record.value, { ...ctx, part: 'value' });
      const partition = node.partitioner
        ? node.partitioner(record.key, record.value, this.partitionCount(node.topic))
        : null;
      this.collector(node.topic, { key, value, timestamp: record.timestamp, headers: record.headers, partition });
      return;
    }
    if (node.kind !== 'processor') return;
    const context: ProcessorContext = {
      topic: origin.topic,
      partition: origin.partition,
      offset: origin.offset,
      getStateStore: <S>(name: string): S => {
        if (!node.stores.includes(name))
          throw new MillraceError('INVALID_REQUEST', `store '${name}' is not connected to processor '${node.name}'`);
        return this.stores.get(name) as S;
      },
      forward: (r, childName) => {
        if (childName !== undefined) {
          if (!node.children.includes(childName))
            throw new MillraceError('INVALID_REQUEST', `'${childName}' is not a child of '${node.name}'`);
          this.dispatch(childName, r, origin);
        } else for (const child of node.children) this.dispatch(child, r, origin);
      },
    };
    this.processors.get(node.name)!(record, context);
  }

  /** Flushes every store (before the task's offsets are committed). */
  async flush(): Promise<void> {
    for (const s of this.stores.values()) await s.flush();
  }

  async close(): Promise<void> {
    for (const s of this.stores.values()) await s.close();
  }
}
