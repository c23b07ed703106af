/**
 * A stream task, as Kafka Streams' StreamTask: one partition's share of the topology, with its
 * own processor instances and state stores. Records go through it one at a time, synchronously:
 * the source deserializes, processors forward, a sink serializes and hands the record to the
 * task's collector (a producer in a runtime, a queue in the test driver).
 */
import { MillraceError } from '../../protocol/errors.js';
import type { StateStore } from './stores.js';
import { failOnInvalidTimestamp, type TimestampExtractor } from './timestamps.js';
import {
  deserializeNow,
  serializeNow,
  type Processor,
  type ProcessorContext,
  type PunctuationType,
  type ProcessorNode,
  type SinkNode,
  type SourceNode,
  type StoreSpec,
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

/** Headers of a record that has none: one shared object, so "none" is an identity check. */
export const NO_HEADERS: Record<string, Buffer | null> = Object.freeze({}) as Record<string, Buffer | null>;

/** Where a task's sinks write. */
export type RecordCollector = (topic: string, record: StoredRecord) => void;

interface Punctuation {
  type: PunctuationType;
  intervalMs: number;
  punctuator: (timestamp: number) => void;
  /** When it fires next (-1: at the first chance). */
  next: number;
  cancelled: boolean;
}

/** One node's work on a record; the topology is compiled into these once per task. */
type Runner = (record: StreamRecord<unknown, unknown>) => void;

export class StreamTask {
  /** Kafka's task id: `<sub-topology>_<partition>`. */
  readonly id: string;
  private readonly stores = new Map<string, StateStore>();
  private readonly runners = new Map<string, Runner>();
  /** By topic: the source reading it and its children's runners. */
  private readonly sources = new Map<string, { node: SourceNode; children: Runner[] }>();
  /** Where the record being processed came from, as processors' contexts report it. */
  private topic = '';
  private offset = -1;
  /** The largest record timestamp the task has processed (Kafka's stream time). */
  private streamTime = -1;
  private readonly punctuations: Punctuation[] = [];
  /** The largest time extracted per source topic (Kafka's partition time). */
  private readonly partitionTimes = new Map<string, number>();
  /** Records dropped because their extractor gave no valid time. */
  skippedRecords = 0;

  constructor(
    private readonly topology: Topology,
    readonly partition: number,
    private readonly collector: RecordCollector,
    /** Makes (or hands over, from a standby) the task's store of each spec. */
    storeFor: (spec: StoreSpec) => StateStore,
    /** Partition counts of sink topics, for sinks with a partitioner. */
    private readonly partitionCount: (topic: string) => number,
    /** The instance's global stores, shared by its tasks. */
    private readonly globals: ReadonlyMap<string, StateStore> = new Map(),
    /** For sources without their own extractor. */
    private readonly defaultExtractor: TimestampExtractor = failOnInvalidTimestamp,
  ) {
    this.id = `0_${partition}`;
    for (const spec of topology.stores) this.stores.set(spec.name, storeFor(spec));
    for (const n of topology.allNodes)
      if (n.kind === 'source') {
        const children = n.children.map((c) => this.runner(c));
        for (const t of n.topics) this.sources.set(t, { node: n, children });
      }
  }

  /** The task's stores, by name. */
  get stateStores(): ReadonlyMap<string, StateStore> {
    return this.stores;
  }

  /** One record of `topic` (one of the topology's sources) through the topology. */
  process(topic: string, stored: StoredRecord, offset: number): void {
    const source = this.sources.get(topic);
    if (!source) throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `the topology reads no topic '${topic}'`);
    const { node } = source;
    const headers = stored.headers;
    const key = stored.key === null ? null : deserializeNow(node.keySerde, stored.key, { topic, part: 'key', headers });
    const value =
      stored.value === null ? null : deserializeNow(node.valueSerde, stored.value, { topic, part: 'value', headers });
    let timestamp = stored.timestamp;
    // Repartition topics carry the time extracted when the records were first read.
    if (!node.internal) {
      const partitionTime = this.partitionTimes.get(topic) ?? -1;
      const extract = node.timestampExtractor ?? this.defaultExtractor;
      timestamp = extract({ topic, partition: this.partition, offset, key, value, timestamp }, partitionTime);
      if (timestamp < 0) {
        this.skippedRecords++;
        return; // Kafka drops a record its extractor gives no valid time
      }
      if (timestamp > partitionTime) this.partitionTimes.set(topic, timestamp);
    }
    const record: StreamRecord<unknown, unknown> = { key, value, timestamp, headers };
    this.topic = topic;
    this.offset = offset;
    // Stream time counts the record being processed (Kafka's currentStreamTimeMs); stream-time
    // punctuations fire after it.
    const advanced = timestamp > this.streamTime;
    if (advanced) this.streamTime = timestamp;
    for (const child of source.children) child(record);
    if (advanced && this.punctuations.length > 0) this.punctuateStreamTime();
  }

  /** The runner of node `name`, made once (processors get their function and context here). */
  private runner(name: string): Runner {
    const made = this.runners.get(name);
    if (made) return made;
    const node = this.topology.node(name);
    let run: Runner;
    if (node.kind === 'sink') run = this.sinkRunner(node);
    else if (node.kind === 'processor') run = this.processorRunner(node);
    else throw new MillraceError('INVALID_CONFIG', `source '${name}' cannot be a child`);
    this.runners.set(name, run);
    return run;
  }

  private sinkRunner(node: SinkNode): Runner {
    const keyContext = { topic: node.topic, part: 'key' as const, headers: {} as Record<string, Buffer | null> };
    const valueContext = { ...keyContext, part: 'value' as const };
    return (record) => {
      keyContext.headers = valueContext.headers = record.headers;
      const key = record.key === null ? null : serializeNow(node.keySerde, record.key, keyContext);
      const value = record.value === null ? null : serializeNow(node.valueSerde, record.value, valueContext);
      const partition = node.partitioner
        ? node.partitioner(record.key, record.value, this.partitionCount(node.topic))
        : null;
      this.collector(node.topic, { key, value, timestamp: record.timestamp, headers: record.headers, partition });
    };
  }

  private processorRunner(node: ProcessorNode): Runner {
    const made = node.supplier();
    const processor: Processor = typeof made === 'function' ? { process: made } : made;
    const children = node.children.map((c) => this.runner(c));
    const context = {
      getStateStore: <S>(storeName: string): S => {
        if (!node.stores.includes(storeName))
          throw new MillraceError(
            'INVALID_REQUEST',
            `store '${storeName}' is not connected to processor '${node.name}'`,
          );
        return (this.stores.get(storeName) ?? this.globals.get(storeName)) as S;
      },
      forward: (r, childName) => {
        if (childName !== undefined) {
          if (!node.children.includes(childName))
            throw new MillraceError('INVALID_REQUEST', `'${childName}' is not a child of '${node.name}'`);
          this.runner(childName)(r);
          return;
        }
        for (const child of children) child(r);
      },
      schedule: (intervalMs: number, type: PunctuationType, punctuator: (timestamp: number) => void) => {
        if (!Number.isInteger(intervalMs) || intervalMs < 1)
          throw new MillraceError('INVALID_CONFIG', `a punctuation interval must be at least 1 ms, got ${intervalMs}`);
        const p: Punctuation = { type, intervalMs, punctuator, next: -1, cancelled: false };
        this.punctuations.push(p);
        return { cancel: () => void (p.cancelled = true) };
      },
    } as ProcessorContext;
    // Where the current record came from: read from the task as it processes each record.
    Object.defineProperties(context, {
      topic: { get: () => this.topic },
      partition: { get: () => this.partition },
      offset: { get: () => this.offset },
      currentStreamTimeMs: { value: () => this.streamTime },
    });
    processor.init?.(context);
    const process = processor.process;
    return (record) => process(record, context);
  }

  /** Stream-time punctuations due now (after a record moved stream time on). */
  private punctuateStreamTime(): void {
    for (const p of this.punctuations) {
      if (p.cancelled || p.type !== 'STREAM_TIME') continue;
      // The first fires at the first record; then every interval of stream time.
      if (p.next === -1 || this.streamTime >= p.next) {
        p.next = this.streamTime + p.intervalMs;
        p.punctuator(this.streamTime);
      }
    }
  }

  /** Wall-clock punctuations due at `now` (the runtime's clock, or the test driver's). */
  punctuateWallClock(now: number): void {
    for (const p of this.punctuations) {
      if (p.cancelled || p.type !== 'WALL_CLOCK_TIME') continue;
      if (p.next === -1) p.next = now + p.intervalMs;
      else if (now >= p.next) {
        p.next = now + p.intervalMs;
        p.punctuator(now);
      }
    }
  }

  /** Flushes every store (before the task's offsets are committed). */
  async flush(): Promise<void> {
    for (const s of this.stores.values()) await s.flush();
  }

  async close(): Promise<void> {
    for (const s of this.stores.values()) await s.close();
  }
}
