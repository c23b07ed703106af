/**
 * Runs a topology without a broker, as Kafka Streams' TopologyTestDriver: records piped into
 * input topics go through the topology one at a time, synchronously; what the sinks write is
 * kept per topic, serialized as a broker would store it, and read back with output topics. A
 * sink writing a topic the topology also reads feeds it again at once (as a repartition would).
 */
import { MillraceError } from '../../protocol/errors.js';
import type { Serde } from '../client/index.js';
import {
  bytesSerde,
  deserializeNow,
  serializeNow,
  type ProcessFn,
  type ProcessorContext,
  type StreamRecord,
  type Topology,
} from './topology.js';
import { InMemoryKeyValueStore, type KeyValueStore } from './stores.js';
import { InMemoryWindowStore } from './windows.js';

const NO_HEADERS: Record<string, Buffer | null> = Object.freeze({}) as Record<string, Buffer | null>;

/** A record as a topic holds it: serialized, with its timestamp and partition. */
export interface StoredRecord {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers: Record<string, Buffer | null>;
  /** The sink's partitioner's choice (null: none given). */
  partition: number | null;
}

/** A record read back from an output topic, deserialized. */
export interface TestRecord<K, V> {
  key: K | null;
  value: V | null;
  timestamp: number;
  headers: Record<string, Buffer | null>;
  partition: number | null;
}

export interface TestDriverOptions {
  /** The wall-clock time the driver starts at (ms). */
  wallClockMs?: number;
  /** Partition counts of topics, for sinks with a partitioner (default 1). */
  partitions?: Record<string, number>;
}

export class TopologyTestDriver {
  private readonly outputs = new Map<string, StoredRecord[]>();
  private readonly offsets = new Map<string, number>();
  private wallClock: number;
  private closed = false;
  /** Records written to topics the topology reads, processed after the current record. */
  private readonly fedBack: Array<{ topic: string; record: StoredRecord }> = [];
  private processing = false;
  private readonly stores = new Map<string, unknown>();
  /** This driver's instance of each processor (its own state, as a task's). */
  private readonly processors = new Map<string, ProcessFn>();

  constructor(
    private readonly topology: Topology,
    private readonly options: TestDriverOptions = {},
  ) {
    this.wallClock = options.wallClockMs ?? Date.now();
    for (const spec of topology.stores) this.stores.set(spec.name, spec.create());
    for (const n of topology.allNodes) if (n.kind === 'processor') this.processors.set(n.name, n.supplier());
  }

  /** A key-value store of the topology, to inspect (Kafka's getKeyValueStore). */
  getKeyValueStore<K, V>(name: string): KeyValueStore<K, V> {
    return this.store(name, InMemoryKeyValueStore) as KeyValueStore<K, V>;
  }

  /** A window store of the topology, to inspect (Kafka's getWindowStore). */
  getWindowStore<K, V>(name: string): InMemoryWindowStore<K, V> {
    return this.store(name, InMemoryWindowStore) as InMemoryWindowStore<K, V>;
  }

  private store(name: string, kind: abstract new (...args: never[]) => unknown): unknown {
    const store = this.stores.get(name);
    if (!store) throw new MillraceError('INVALID_REQUEST', `the topology has no store named '${name}'`);
    if (!(store instanceof kind)) throw new MillraceError('INVALID_REQUEST', `store '${name}' is not a ${kind.name}`);
    return store;
  }

  createInputTopic<K, V>(
    topic: string,
    keySerde: Serde<K> = bytesSerde() as unknown as Serde<K>,
    valueSerde: Serde<V> = bytesSerde() as unknown as Serde<V>,
    options: { startTimestamp?: number; autoAdvanceMs?: number } = {},
  ): TestInputTopic<K, V> {
    if (!this.topology.sourceOf(topic))
      throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `the topology reads no topic '${topic}'`);
    return new TestInputTopic(
      this,
      topic,
      keySerde,
      valueSerde,
      options.startTimestamp ?? this.wallClock,
      options.autoAdvanceMs ?? 0,
    );
  }

  createOutputTopic<K, V>(
    topic: string,
    keySerde: Serde<K> = bytesSerde() as unknown as Serde<K>,
    valueSerde: Serde<V> = bytesSerde() as unknown as Serde<V>,
  ): TestOutputTopic<K, V> {
    return new TestOutputTopic(this.queue(topic), topic, keySerde, valueSerde);
  }

  /** The driver's wall-clock time (what wall-clock punctuation will see). */
  get wallClockMs(): number {
    return this.wallClock;
  }

  advanceWallClockTime(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new MillraceError('INVALID_REQUEST', `cannot advance the clock by ${ms} ms`);
    this.wallClock += ms;
  }

  private queue(topic: string): StoredRecord[] {
    let q = this.outputs.get(topic);
    if (!q) this.outputs.set(topic, (q = []));
    return q;
  }

  /** @internal A serialized record arriving on `topic`: through the topology, and whatever it feeds back. */
  pipe(topic: string, record: StoredRecord): void {
    if (this.closed) throw new MillraceError('INVALID_REQUEST', 'the test driver is closed');
    this.fedBack.push({ topic, record });
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.fedBack.length > 0) {
        const next = this.fedBack.shift()!;
        this.process(next.topic, next.record);
      }
    } finally {
      this.processing = false;
      this.fedBack.length = 0;
    }
  }

  private process(topic: string, stored: StoredRecord): void {
    const source = this.topology.sourceOf(topic)!;
    const offset = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, offset + 1);
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
    const origin = { topic, partition: stored.partition ?? 0, offset };
    for (const child of source.children) this.dispatch(child, record, origin);
  }

  private dispatch(
    nodeName: string,
    record: StreamRecord<unknown, unknown>,
    origin: { topic: string; partition: number; offset: number },
  ): void {
    const node = this.topology.node(nodeName);
    if (node.kind === 'sink') {
      const ctx = { topic: node.topic, headers: record.headers };
      const key = record.key === null ? null : serializeNow(node.keySerde, record.key, { ...ctx, part: 'key' });
      const value =
        record.value === null ? null : serializeNow(node.valueSerde, record.value, { ...ctx, part: 'value' });
      const partition = node.partitioner
        ? node.partitioner(record.key, record.value, this.options.partitions?.[node.topic] ?? 1)
        : null;
      const stored: StoredRecord = { key, value, timestamp: record.timestamp, headers: record.headers, partition };
      this.queue(node.topic).push(stored);
      if (this.topology.sourceOf(node.topic)) this.fedBack.push({ topic: node.topic, record: stored });
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

  close(): void {
    this.closed = true;
  }
}

/** Pipes records into one input topic, serialized with its serdes, as a producer would. */
export class TestInputTopic<K, V> {
  private nextTimestamp: number;

  constructor(
    private readonly driver: TopologyTestDriver,
    readonly topic: string,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
    startTimestamp: number,
    private readonly autoAdvanceMs: number,
  ) {
    this.nextTimestamp = startTimestamp;
  }

  /** One record; its timestamp is given, or the topic's current time (then advanced by autoAdvanceMs). */
  pipeInput(
    key: K | null,
    value: V | null,
    timestamp?: number,
    headers: Record<string, Buffer | null> = NO_HEADERS,
  ): void {
    const ts = timestamp ?? this.nextTimestamp;
    if (timestamp === undefined) this.nextTimestamp += this.autoAdvanceMs;
    const ctx = { topic: this.topic, headers };
    this.driver.pipe(this.topic, {
      key: key === null ? null : serializeNow(this.keySerde, key, { ...ctx, part: 'key' }),
      value: value === null ? null : serializeNow(this.valueSerde, value, { ...ctx, part: 'value' }),
      timestamp: ts,
      headers,
      partition: null,
    });
  }

  pipeKeyValueList(records: Array<[K | null, V | null]>): void {
    for (const [k, v] of records) this.pipeInput(k, v);
  }

  pipeValueList(values: Array<V | null>): void {
    for (const v of values) this.pipeInput(null, v);
  }

  /** Moves the topic's time on: records piped without a timestamp get it. */
  advanceTime(ms: number): void {
    this.nextTimestamp += ms;
  }
}

/** Reads what the topology wrote to one topic, oldest first, deserialized with its serdes. */
export class TestOutputTopic<K, V> {
  constructor(
    private readonly records: StoredRecord[],
    readonly topic: string,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
  ) {}

  isEmpty(): boolean {
    return this.records.length === 0;
  }

  getQueueSize(): number {
    return this.records.length;
  }

  readRecord(): TestRecord<K, V> {
    const r = this.records.shift();
    if (!r) throw new MillraceError('INVALID_REQUEST', `no record left in output topic '${this.topic}'`);
    const ctx = { topic: this.topic, headers: r.headers };
    return {
      key: r.key === null ? null : deserializeNow(this.keySerde, r.key, { ...ctx, part: 'key' }),
      value: r.value === null ? null : deserializeNow(this.valueSerde, r.value, { ...ctx, part: 'value' }),
      timestamp: r.timestamp,
      headers: r.headers,
      partition: r.partition,
    };
  }

  readKeyValue(): [K | null, V | null] {
    const r = this.readRecord();
    return [r.key, r.value];
  }

  readValue(): V | null {
    return this.readRecord().value;
  }

  readRecordsToList(): Array<TestRecord<K, V>> {
    const out: Array<TestRecord<K, V>> = [];
    while (!this.isEmpty()) out.push(this.readRecord());
    return out;
  }

  readKeyValuesToList(): Array<[K | null, V | null]> {
    return this.readRecordsToList().map((r) => [r.key, r.value]);
  }

  readValuesToList(): Array<V | null> {
    return this.readRecordsToList().map((r) => r.value);
  }
}
