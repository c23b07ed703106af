/**
 * A processor topology, as Kafka Streams' Topology: source nodes read topics (deserializing
 * keys and values), processor nodes transform records and forward them to their children, sink
 * nodes write topics (serializing). The DSL (kstream.ts) builds one; a runtime (or the
 * TopologyTestDriver) runs it. Node names follow Kafka's (`KSTREAM-FILTER-0000000001`), so
 * descriptions and, later, internal topic names read as Kafka users know them.
 */
import type { TimestampExtractor } from './timestamps.js';
import { MillraceError } from '../../protocol/errors.js';
import type { Serde, SerdeContext } from '../client/index.js';
import type { StateStore, StoreContext } from './stores.js';

/** One record flowing through the topology. */
export interface StreamRecord<K, V> {
  key: K | null;
  value: V | null;
  /** Event time (ms): the source record's timestamp unless a processor changes it. */
  timestamp: number;
  headers: Record<string, Buffer | null>;
}

/** What a processor can do with a record: pass it on, to every child or to one by name; reach its stores. */
export interface ProcessorContext {
  forward(record: StreamRecord<unknown, unknown>, childName?: string): void;
  /** A state store connected to this processor. */
  getStateStore<S>(name: string): S;
  /** Where the record being processed came from (null when not from a topic). */
  readonly topic: string | null;
  readonly partition: number;
  readonly offset: number;
  /** The task's stream time: the largest timestamp it has processed, this record's included (-1 before any). */
  currentStreamTimeMs(): number;
  /**
   * Calls `punctuator(timestamp)` every `intervalMs` of stream time (the largest record timestamp
   * the task has seen) or of wall-clock time (Kafka's context.schedule). Returns how to cancel it.
   */
  schedule(intervalMs: number, type: PunctuationType, punctuator: (timestamp: number) => void): { cancel(): void };
}

export type PunctuationType = 'STREAM_TIME' | 'WALL_CLOCK_TIME';

export type ProcessFn = (record: StreamRecord<unknown, unknown>, context: ProcessorContext) => void;

/** Kafka's Processor: `init` gets the context once (to schedule punctuations), `process` each record. */
export interface Processor {
  init?(context: ProcessorContext): void;
  process: ProcessFn;
}

/** Makes a processor: one per task (Kafka's ProcessorSupplier), so its state is the task's. */
export type ProcessorSupplier = () => ProcessFn | Processor;

/** `(key, value, partitionCount) => partition`, or null for the producer's default. */
export type StreamPartitioner<K, V> = (key: K | null, value: V | null, partitionCount: number) => number | null;

export interface SourceNode {
  kind: 'source';
  name: string;
  topics: string[];
  /** Its own timestamp extractor (null: the instance's default). */
  timestampExtractor: TimestampExtractor | null;
  /** Reads an internal topic (a repartition topic): its name gets the application id as prefix. */
  internal: boolean;
  keySerde: Serde<unknown>;
  valueSerde: Serde<unknown>;
  children: string[];
}

export interface ProcessorNode {
  kind: 'processor';
  name: string;
  supplier: ProcessorSupplier;
  children: string[];
  /** The state stores it may use. */
  stores: string[];
}

/**
 * A global store: every instance holds all of `topic` in it (Kafka's GlobalKTable), read from the
 * topic itself (no changelog) and shared by every task.
 */
export interface GlobalStoreSpec {
  name: string;
  topic: string;
  create: (context: StoreContext) => StateStore;
}

/** A state store the topology holds: its name and how a runtime (or the test driver) makes one per task. */
export interface StoreSpec {
  name: string;
  create: (context: StoreContext) => StateStore;
  /** What interactive queries may ask of it (none given: a processor's own store, or a join's buffer). */
  kind?: 'keyValue' | 'window' | 'session';
}

export interface SinkNode {
  kind: 'sink';
  name: string;
  topic: string;
  internal: boolean;
  keySerde: Serde<unknown>;
  valueSerde: Serde<unknown>;
  partitioner: StreamPartitioner<unknown, unknown> | null;
  children: string[];
}

export type TopologyNode = SourceNode | ProcessorNode | SinkNode;

/** A processor that passes every record on. */
export const passThrough: ProcessorSupplier = () => (record, context) => context.forward(record);

/** Bytes in, bytes out: the serde of a stream whose types were not given. */
export function bytesSerde(): Serde<Buffer> {
  return { serialize: (data) => data, deserialize: (data) => data };
}

export class Topology {
  private readonly nodes = new Map<string, TopologyNode>();
  private readonly storeSpecs = new Map<string, StoreSpec>();
  private readonly globalSpecs = new Map<string, GlobalStoreSpec>();
  private counter = 0;
  private applicationId: string | null = null;

  /** Kafka's generated node name: `<prefix>-<10-digit index>`. */
  newName(prefix: string): string {
    return `${prefix}-${String(this.counter++).padStart(10, '0')}`;
  }

  private add(node: TopologyNode, parents: readonly string[]): void {
    if (this.nodes.has(node.name))
      throw new MillraceError('INVALID_CONFIG', `the topology already has a node named '${node.name}'`);
    for (const p of parents) {
      const parent = this.nodes.get(p);
      if (!parent) throw new MillraceError('INVALID_CONFIG', `parent node '${p}' of '${node.name}' does not exist`);
      if (parent.kind === 'sink') throw new MillraceError('INVALID_CONFIG', `sink '${p}' cannot have children`);
      parent.children.push(node.name);
    }
    this.nodes.set(node.name, node);
  }

  addSource(
    name: string,
    topics: string[],
    keySerde: Serde<unknown>,
    valueSerde: Serde<unknown>,
    internal = false,
    timestampExtractor: TimestampExtractor | null = null,
  ): this {
    if (topics.length === 0) throw new MillraceError('INVALID_CONFIG', `source '${name}' needs a topic`);
    for (const n of this.nodes.values())
      if (n.kind === 'source' && n.topics.some((t) => topics.includes(t)))
        throw new MillraceError(
          'INVALID_CONFIG',
          `topic '${topics.find((t) => n.topics.includes(t))}' is already read by source '${n.name}'`,
        );
    this.add({ kind: 'source', name, topics, keySerde, valueSerde, internal, timestampExtractor, children: [] }, []);
    return this;
  }

  addProcessor(name: string, supplier: ProcessorSupplier, ...parents: string[]): this {
    if (parents.length === 0) throw new MillraceError('INVALID_CONFIG', `processor '${name}' needs a parent`);
    this.add({ kind: 'processor', name, supplier, children: [], stores: [] }, parents);
    return this;
  }

  /** Adds a state store for the named processors (Kafka's addStateStore). */
  addStateStore(spec: StoreSpec, ...processorNames: string[]): this {
    if (this.storeSpecs.has(spec.name))
      throw new MillraceError('INVALID_CONFIG', `the topology already has a store named '${spec.name}'`);
    this.storeSpecs.set(spec.name, spec);
    for (const p of processorNames) {
      const node = this.node(p);
      if (node.kind !== 'processor') throw new MillraceError('INVALID_CONFIG', `'${p}' is not a processor`);
      node.stores.push(spec.name);
    }
    return this;
  }

  /** Adds a global store, read from its topic by every instance (Kafka's addGlobalStore). */
  addGlobalStore(spec: GlobalStoreSpec): this {
    if (this.storeSpecs.has(spec.name) || this.globalSpecs.has(spec.name))
      throw new MillraceError('INVALID_CONFIG', `the topology already has a store named '${spec.name}'`);
    this.globalSpecs.set(spec.name, spec);
    return this;
  }

  get globalStores(): GlobalStoreSpec[] {
    return [...this.globalSpecs.values()];
  }

  /** The global store read from `topic`, if any. */
  globalStoreOf(topic: string): GlobalStoreSpec | undefined {
    for (const g of this.globalSpecs.values()) if (g.topic === topic) return g;
    return undefined;
  }

  /** Gives one more processor access to an existing store (a join reading a table's store). */
  connectStore(storeName: string, processorName: string): this {
    if (!this.storeSpecs.has(storeName) && !this.globalSpecs.has(storeName))
      throw new MillraceError('INVALID_CONFIG', `no store named '${storeName}'`);
    const node = this.node(processorName);
    if (node.kind !== 'processor') throw new MillraceError('INVALID_CONFIG', `'${processorName}' is not a processor`);
    node.stores.push(storeName);
    return this;
  }

  get stores(): StoreSpec[] {
    return [...this.storeSpecs.values()];
  }

  addSink(
    name: string,
    topic: string,
    keySerde: Serde<unknown>,
    valueSerde: Serde<unknown>,
    partitioner: StreamPartitioner<unknown, unknown> | null,
    parents: string[],
    internal = false,
  ): this {
    this.add({ kind: 'sink', name, topic, keySerde, valueSerde, partitioner, internal, children: [] }, parents);
    return this;
  }

  /**
   * Prefixes internal topics with the application id (`<applicationId>-<name>-repartition`), as
   * Kafka Streams names them; once, by the runtime that runs the topology.
   */
  setApplicationId(applicationId: string): void {
    if (this.applicationId !== null) {
      if (this.applicationId === applicationId) return;
      throw new MillraceError(
        'INVALID_CONFIG',
        `the topology runs as application '${this.applicationId}' already: build another for '${applicationId}'`,
      );
    }
    this.applicationId = applicationId;
    for (const n of this.nodes.values()) {
      if (n.kind === 'source' && n.internal) n.topics = n.topics.map((t) => `${applicationId}-${t}`);
      if (n.kind === 'sink' && n.internal) n.topic = `${applicationId}-${n.topic}`;
    }
  }

  /** The repartition topics (as named now: with the application id once it is set). */
  get internalTopics(): string[] {
    return [...this.nodes.values()].flatMap((n) => (n.kind === 'source' && n.internal ? n.topics : []));
  }

  /** The topics the application's input comes from (not its internal ones): they set the task count. */
  get externalSourceTopics(): string[] {
    return [...this.nodes.values()].flatMap((n) => (n.kind === 'source' && !n.internal ? n.topics : []));
  }

  /** Every node, in the order added. */
  get allNodes(): TopologyNode[] {
    return [...this.nodes.values()];
  }

  node(name: string): TopologyNode {
    const n = this.nodes.get(name);
    if (!n) throw new MillraceError('INVALID_CONFIG', `no node named '${name}'`);
    return n;
  }

  /** The source reading `topic`, if any. */
  sourceOf(topic: string): SourceNode | undefined {
    for (const n of this.nodes.values()) if (n.kind === 'source' && n.topics.includes(topic)) return n;
    return undefined;
  }

  /** The source topics whose records reach the processors using `storeName`: they partition its keys. */
  sourceTopicsOfStore(storeName: string): string[] {
    const parents = new Map<string, string[]>();
    for (const n of this.nodes.values())
      for (const c of n.children) parents.set(c, [...(parents.get(c) ?? []), n.name]);
    const seen = new Set<string>();
    const topics = new Set<string>();
    const visit = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      const n = this.nodes.get(name);
      if (n?.kind === 'source') for (const t of n.topics) topics.add(t);
      for (const p of parents.get(name) ?? []) visit(p);
    };
    for (const n of this.nodes.values()) if (n.kind === 'processor' && n.stores.includes(storeName)) visit(n.name);
    return [...topics];
  }

  get sourceTopics(): string[] {
    return [...this.nodes.values()].flatMap((n) => (n.kind === 'source' ? n.topics : []));
  }

  /** Topics the application writes (not its internal ones). */
  get sinkTopics(): string[] {
    return [...new Set([...this.nodes.values()].flatMap((n) => (n.kind === 'sink' && !n.internal ? [n.topic] : [])))];
  }

  /** Kafka's TopologyDescription, as text: each node with its topics and its successors. */
  describe(): string {
    const lines = ['Topologies:', '   Sub-topology: 0'];
    for (const n of this.nodes.values()) {
      const what =
        n.kind === 'source'
          ? `Source: ${n.name} (topics: [${n.topics.join(', ')}])`
          : n.kind === 'sink'
            ? `Sink: ${n.name} (topic: ${n.topic})`
            : `Processor: ${n.name} (stores: [${n.stores.join(', ')}])`;
      lines.push(`    ${what}`, `      --> ${n.children.length ? n.children.join(', ') : 'none'}`);
    }
    return lines.join('\n');
  }
}

/** A serde's answer, which must be at hand: the topology runs records one at a time, synchronously. */
function now<T>(out: T | Promise<T>, context: SerdeContext): T {
  if (out instanceof Promise)
    throw new MillraceError(
      'INVALID_CONFIG',
      `the ${context.part} serde of '${context.topic}' is asynchronous: a topology needs synchronous serdes`,
    );
  return out;
}

export function serializeNow<T>(serde: Serde<T>, data: T, context: SerdeContext): Buffer {
  const out = now(serde.serialize(data, context), context);
  return typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
}

export function deserializeNow<T>(serde: Serde<T>, data: Buffer, context: SerdeContext): T {
  return now(serde.deserialize(data, context), context);
}
