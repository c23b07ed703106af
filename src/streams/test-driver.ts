/**
 * Runs a topology without a broker, as Kafka Streams' TopologyTestDriver: records piped into
 * input topics go through the topology one at a time, synchronously; what the sinks write is
 * kept per topic, serialized as a broker would store it, and read back with output topics. A
 * sink writing a topic the topology also reads feeds it again at once (as a repartition would).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MillraceError } from '../../protocol/errors.js';
import type { Serde } from '../client/index.js';
import { bytesSerde, deserializeNow, serializeNow, type Topology } from './topology.js';
import { InMemoryKeyValueStore, type KeyValueStore, type StateStore } from './stores.js';
import { StreamTask, type StoredRecord } from './task.js';
import type { TimestampExtractor } from './timestamps.js';
import { PersistentKeyValueStore } from './persistent-store.js';
import { InMemorySessionStore, type SessionStore } from './session-store.js';
import { InMemoryWindowStore, type WindowStore } from './window-store.js';
import { PersistentSessionStore, PersistentWindowStore } from './persistent-windowed.js';

const NO_HEADERS: Record<string, Buffer | null> = Object.freeze({}) as Record<string, Buffer | null>;

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
  /** For sources without their own extractor (default: failOnInvalidTimestamp). */
  defaultTimestampExtractor?: TimestampExtractor;
}

export class TopologyTestDriver {
  private readonly outputs = new Map<string, StoredRecord[]>();
  private readonly offsets = new Map<string, number>();
  private wallClock: number;
  private closed = false;
  /** Records written to topics the topology reads, processed after the current record. */
  private readonly fedBack: Array<{ topic: string; record: StoredRecord }> = [];
  private processing = false;
  /** Global stores, updated at once by records piped into their topics. */
  private readonly globals = new Map<string, StateStore>();
  /** One task runs the whole topology, its stores logging nowhere. */
  private readonly task: StreamTask;
  /** A temporary directory for persistent stores, as Kafka's driver makes one. */
  private readonly stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-test-driver-'));

  constructor(
    private readonly topology: Topology,
    options: TestDriverOptions = {},
  ) {
    this.wallClock = options.wallClockMs ?? Date.now();
    for (const g of topology.globalStores)
      this.globals.set(g.name, g.create({ changelog: null, stateDir: this.stateDir }));
    this.task = new StreamTask(
      topology,
      0,
      (topic, record) => {
        this.queue(topic).push(record);
        if (this.topology.sourceOf(topic)) this.fedBack.push({ topic, record });
      },
      (spec) => spec.create({ changelog: null, stateDir: this.stateDir }),
      (topic) => options.partitions?.[topic] ?? 1,
      this.globals,
      options.defaultTimestampExtractor,
    );
    // Wall-clock punctuations count from the driver's start.
    this.task.punctuateWallClock(this.wallClock);
  }

  /** A key-value store of the topology, to inspect (Kafka's getKeyValueStore). */
  getKeyValueStore<K, V>(name: string): KeyValueStore<K, V> {
    const store = this.task.stateStores.get(name) ?? this.globals.get(name);
    if (!(store instanceof InMemoryKeyValueStore || store instanceof PersistentKeyValueStore))
      throw new MillraceError('INVALID_REQUEST', `the topology has no key-value store named '${name}'`);
    return store as KeyValueStore<K, V>;
  }

  /** A session store of the topology, to inspect (Kafka's getSessionStore). */
  getSessionStore<K, V>(name: string): SessionStore<K, V> {
    return this.store(name, 'session store', InMemorySessionStore, PersistentSessionStore) as SessionStore<K, V>;
  }

  /** A window store of the topology, to inspect (Kafka's getWindowStore). */
  getWindowStore<K, V>(name: string): WindowStore<K, V> {
    return this.store(name, 'window store', InMemoryWindowStore, PersistentWindowStore) as WindowStore<K, V>;
  }

  private store(name: string, what: string, ...kinds: Array<abstract new (...args: never[]) => unknown>): unknown {
    const store = this.task.stateStores.get(name);
    if (!store) throw new MillraceError('INVALID_REQUEST', `the topology has no store named '${name}'`);
    if (!kinds.some((kind) => store instanceof kind))
      throw new MillraceError('INVALID_REQUEST', `store '${name}' is not a ${what}`);
    return store;
  }

  createInputTopic<K, V>(
    topic: string,
    keySerde: Serde<K> = bytesSerde() as unknown as Serde<K>,
    valueSerde: Serde<V> = bytesSerde() as unknown as Serde<V>,
    options: { startTimestamp?: number; autoAdvanceMs?: number } = {},
  ): TestInputTopic<K, V> {
    if (!this.topology.sourceOf(topic) && !this.topology.globalStoreOf(topic))
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

  /** Moves wall-clock time on, firing the wall-clock punctuations that come due. */
  advanceWallClockTime(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new MillraceError('INVALID_REQUEST', `cannot advance the clock by ${ms} ms`);
    this.wallClock += ms;
    this.run(() => this.task.punctuateWallClock(this.wallClock));
  }

  private queue(topic: string): StoredRecord[] {
    let q = this.outputs.get(topic);
    if (!q) this.outputs.set(topic, (q = []));
    return q;
  }

  /** @internal A serialized record arriving on `topic`: through the topology, and whatever it feeds back. */
  pipe(topic: string, record: StoredRecord): void {
    this.run(() => this.fedBack.push({ topic, record }));
  }

  /** Does `work`, then processes what it and the records it led to fed back. */
  private run(work: () => void): void {
    if (this.closed) throw new MillraceError('INVALID_REQUEST', 'the test driver is closed');
    if (this.processing) {
      work();
      return;
    }
    this.processing = true;
    try {
      work();
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
    const global = this.topology.globalStoreOf(topic);
    if (global && stored.key !== null) this.globals.get(global.name)!.restore(stored.key, stored.value);
    if (!this.topology.sourceOf(topic)) return;
    const offset = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, offset + 1);
    this.task.process(topic, stored, offset);
  }

  /** Closes the stores and removes the driver's state directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.task.close();
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Pipes records into one input topic, serialized with its serdes, as a producer would. */
export type { StoredRecord };

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
