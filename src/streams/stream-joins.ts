/**
 * KStream-KStream windowed joins, as Kafka Streams' KStream.join/leftJoin/outerJoin(otherStream,
 * joiner, JoinWindows): each side keeps its recent records in a join buffer (a window store,
 * logged to a changelog); a record joins every record of the other side with the same key whose
 * timestamp is within the join window of its own, and the result takes the larger timestamp.
 * Records older than stream time minus the window and grace are dropped as late; buffers keep
 * what a later record may still join.
 *
 * Left and outer joins (KIP-633): a record that found no partner waits in a shared outer store
 * until its window has closed (stream time past its timestamp, the window's reach after it and
 * the grace period); if a partner arrives in time it is joined and leaves the store, else it is
 * emitted with null for the other side once the window closes, so no early null result is
 * followed by a joined one.
 */
import type { Serde } from '../client/index.js';
import { StoreSerdes, defaultValueSerde, type StateStore, type StoreContext } from './stores.js';
import { passThrough, type StreamRecord, type Topology } from './topology.js';
import { requireMs } from './windows.js';

export class JoinWindows {
  private constructor(
    /** How far before a record the other side's records may be. */
    readonly beforeMs: number,
    /** How far after. */
    readonly afterMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifferenceAndGrace(differenceMs: number, graceMs: number): JoinWindows {
    requireMs('a time difference', differenceMs, 0);
    requireMs('a grace period', graceMs, 0);
    return new JoinWindows(differenceMs, differenceMs, graceMs);
  }

  static ofTimeDifferenceWithNoGrace(differenceMs: number): JoinWindows {
    return JoinWindows.ofTimeDifferenceAndGrace(differenceMs, 0);
  }

  /** How long a buffered record may still be joined. */
  get retentionMs(): number {
    return this.beforeMs + this.afterMs + this.graceMs;
  }
}

/** One side's recent records by key (Kafka's join window store), logged as key, timestamp, sequence. */
export class JoinBuffer<K, V> implements StateStore {
  private readonly entries = new Map<string, Array<{ ts: number; seq: number; value: V }>>();
  private readonly serdes: StoreSerdes<K, V>;
  private seq = 0;
  /** The join's stream time, both sides' largest timestamp (kept on the this-side buffer). */
  streamTime = -Infinity;

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    readonly retentionMs: number,
    private readonly context: StoreContext = { changelog: null, stateDir: null },
  ) {
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

  /** Buffers a record; returns its sequence number in this buffer. */
  add(key: K, ts: number, value: V): number {
    const bytes = this.serdes.key(key);
    const seq = this.seq++;
    this.insert(bytes.toString('latin1'), ts, seq, value);
    if (this.context.changelog) {
      const logged = Buffer.allocUnsafe(bytes.length + 12);
      bytes.copy(logged);
      logged.writeBigInt64BE(BigInt(ts), bytes.length);
      logged.writeInt32BE(seq | 0, bytes.length + 8);
      this.context.changelog(logged, this.serdes.value(value));
    }
    return seq;
  }

  private insert(id: string, ts: number, seq: number, value: V): void {
    let list = this.entries.get(id);
    if (!list) this.entries.set(id, (list = []));
    list.push({ ts, seq, value });
  }

  /** The key's records with timestamps in [from, to], in arrival order. */
  fetch(key: K, from: number, to: number): Array<{ ts: number; seq: number; value: V }> {
    const list = this.entries.get(this.serdes.key(key).toString('latin1')) ?? [];
    return list.filter((e) => e.ts >= from && e.ts <= to);
  }

  /** Drops records no later record can join any more. */
  expire(streamTime: number): void {
    for (const [id, list] of this.entries) {
      const kept = list.filter((e) => e.ts + this.retentionMs > streamTime);
      if (kept.length === 0) this.entries.delete(id);
      else if (kept.length !== list.length) this.entries.set(id, kept);
    }
  }

  restore(key: Buffer, value: Buffer | null): void {
    if (value === null || key.length < 12) return;
    const keyBytes = key.subarray(0, key.length - 12);
    const ts = Number(key.readBigInt64BE(key.length - 12));
    const seq = key.readInt32BE(key.length - 4);
    this.seq = Math.max(this.seq, seq + 1);
    this.insert(keyBytes.toString('latin1'), ts, seq, this.serdes.valueFrom(value));
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

/** A record of either side waiting for a partner (left and outer joins). */
interface Unmatched {
  key: unknown;
  value: unknown;
  ts: number;
  seq: number;
  fromThis: boolean;
  /** When stream time passing it means no partner can come any more. */
  closesAt: number;
}

/**
 * The shared outer store of a left or outer join (Kafka's outer-shared-join-store): the records
 * that found no partner yet, by side and sequence. Logged under the record's side (1 byte), sequence (4), timestamp (8) and
 * key; a record that found its partner, or was emitted, is logged as a tombstone.
 */
export class OuterJoinStore<K, V, VO> implements StateStore {
  private readonly waiting = new Map<string, Unmatched>();
  private readonly thisSerdes: StoreSerdes<K, V>;
  private readonly otherSerdes: StoreSerdes<K, VO>;
  /** The earliest closesAt waiting, so most records need no scan. */
  private nextClose = Infinity;

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    otherValueSerde: Serde<VO> | undefined,
    private readonly windows: JoinWindows,
    private readonly context: StoreContext = { changelog: null, stateDir: null },
  ) {
    this.thisSerdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
    this.otherSerdes = new StoreSerdes(name, keySerde, defaultValueSerde(otherValueSerde));
  }

  private closesAt(ts: number, fromThis: boolean): number {
    return ts + (fromThis ? this.windows.afterMs : this.windows.beforeMs) + this.windows.graceMs;
  }

  private id(fromThis: boolean, seq: number): string {
    return `${fromThis ? 't' : 'o'}${seq}`;
  }

  private logKey(u: Pick<Unmatched, 'fromThis' | 'seq' | 'ts'>, keyBytes: Buffer): Buffer {
    const out = Buffer.allocUnsafe(13 + keyBytes.length);
    out.writeUInt8(u.fromThis ? 1 : 0, 0);
    out.writeInt32BE(u.seq | 0, 1);
    out.writeBigInt64BE(BigInt(u.ts), 5);
    keyBytes.copy(out, 13);
    return out;
  }

  private serdes(fromThis: boolean): StoreSerdes<K, unknown> {
    return (fromThis ? this.thisSerdes : this.otherSerdes) as StoreSerdes<K, unknown>;
  }

  add(key: K, value: unknown, ts: number, seq: number, fromThis: boolean): void {
    const u: Unmatched = { key, value, ts, seq, fromThis, closesAt: this.closesAt(ts, fromThis) };
    this.waiting.set(this.id(fromThis, seq), u);
    this.nextClose = Math.min(this.nextClose, u.closesAt);
    const serdes = this.serdes(fromThis);
    this.context.changelog?.(this.logKey(u, serdes.key(key)), serdes.value(value));
  }

  /** A waiting record found its partner: it leaves the store. */
  matched(fromThis: boolean, seq: number): void {
    const u = this.waiting.get(this.id(fromThis, seq));
    if (u) this.remove(u);
  }

  private remove(u: Unmatched): void {
    this.waiting.delete(this.id(u.fromThis, u.seq));
    this.context.changelog?.(this.logKey(u, this.serdes(u.fromThis).key(u.key as K)), null);
  }

  /** The records whose window closed by the join's stream time, oldest first; they leave the store. */
  closed(streamTime: number): Unmatched[] {
    if (streamTime <= this.nextClose) return [];
    const out: Unmatched[] = [];
    this.nextClose = Infinity;
    for (const u of this.waiting.values()) {
      if (u.closesAt < streamTime) out.push(u);
      else this.nextClose = Math.min(this.nextClose, u.closesAt);
    }
    out.sort((a, b) => a.ts - b.ts || a.seq - b.seq);
    for (const u of out) this.remove(u);
    return out;
  }

  restore(key: Buffer, value: Buffer | null): void {
    if (key.length < 13) return;
    const fromThis = key.readUInt8(0) === 1;
    const seq = key.readInt32BE(1);
    const ts = Number(key.readBigInt64BE(5));
    const id = this.id(fromThis, seq);
    if (value === null) {
      this.waiting.delete(id);
      return;
    }
    const serdes = this.serdes(fromThis);
    const closesAt = this.closesAt(ts, fromThis);
    this.waiting.set(id, {
      key: serdes.keyFrom(key.subarray(13)),
      value: serdes.valueFrom(value),
      ts,
      seq,
      fromThis,
      closesAt,
    });
    this.nextClose = Math.min(this.nextClose, closesAt);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Serdes of a stream-stream join's buffers and of its repartitions (Kafka's StreamJoined). */
export interface StreamJoined<K, V, VO> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  otherValueSerde?: Serde<VO>;
  /** Names the buffers: `<name>-this-join-store`, `<name>-other-join-store`. */
  name?: string;
}

export type StreamJoinKind = 'inner' | 'left' | 'outer';

/**
 * Adds a stream-stream join of the nodes `left` and `right` (records of the same key) and returns
 * the node emitting the joined records. `joiner` gets null for a missing side (left: the other
 * side; outer: either).
 */
export function addStreamStreamJoin<K, V, VO, VR>(
  topology: Topology,
  left: string,
  right: string,
  joiner: (value: V | null, otherValue: VO | null) => VR,
  windows: JoinWindows,
  joined: StreamJoined<K, V, VO>,
  bytes: Serde<unknown>,
  kind: StreamJoinKind = 'inner',
): string {
  const keySerde = (joined.keySerde ?? bytes) as Serde<K>;
  const prefix = kind === 'inner' ? 'KSTREAM' : kind === 'left' ? 'KSTREAM-LEFT' : 'KSTREAM-OUTER';
  const thisName = topology.newName(`${prefix}-JOINTHIS`);
  const otherName = topology.newName(`${kind === 'outer' ? 'KSTREAM-OUTER' : 'KSTREAM'}-JOINOTHER`);
  const base = joined.name ?? thisName;
  const thisStore = `${base}-this-join-store`;
  const otherStore = `${base}-other-join-store`;
  const outerStore = kind === 'inner' ? null : `${base}-outer-shared-join-store`;
  const side = (name: string, parent: string, mine: string, theirs: string, fromThis: boolean): void => {
    // Unmatched records of this side wait for a partner: the left side of a left join, both of an outer.
    const waits = kind === 'outer' || (kind === 'left' && fromThis);
    topology.addProcessor(
      name,
      () => {
        return (record, context) => {
          if (record.key === null || record.value === null) return;
          const ts = record.timestamp;
          // One stream time for both sides (Kafka's shared time tracker), kept on this side's buffer.
          const shared = context.getStateStore<JoinBuffer<K, unknown>>(thisStore);
          const streamTime = (shared.streamTime = Math.max(shared.streamTime, ts));
          if (ts + windows.retentionMs <= streamTime) return; // late
          const key = record.key as K;
          const own = context.getStateStore<JoinBuffer<K, unknown>>(mine);
          const other = context.getStateStore<JoinBuffer<K, unknown>>(theirs);
          const outer = outerStore === null ? null : context.getStateStore<OuterJoinStore<K, V, VO>>(outerStore);
          const seq = own.add(key, ts, record.value);
          // The other side's records within the window, seen from this side's record.
          const from = fromThis ? ts - windows.beforeMs : ts - windows.afterMs;
          const to = fromThis ? ts + windows.afterMs : ts + windows.beforeMs;
          const partners = other.fetch(key, from, to);
          for (const o of partners) {
            outer?.matched(!fromThis, o.seq);
            const value = fromThis
              ? joiner(record.value as V, o.value as VO)
              : joiner(o.value as V, record.value as VO);
            const out: StreamRecord<unknown, unknown> = { ...record, value, timestamp: Math.max(ts, o.ts) };
            context.forward(out);
          }
          if (outer) {
            if (partners.length === 0 && waits) outer.add(key, record.value, ts, seq, fromThis);
            for (const u of outer.closed(streamTime)) {
              const value = u.fromThis ? joiner(u.value as V, null) : joiner(null, u.value as VO);
              context.forward({ ...record, key: u.key, value, timestamp: u.ts });
            }
          }
          own.expire(streamTime);
        };
      },
      parent,
    );
  };
  side(thisName, left, thisStore, otherStore, true);
  side(otherName, right, otherStore, thisStore, false);
  topology.addStateStore(
    {
      name: thisStore,
      create: (ctx) => new JoinBuffer<K, V>(thisStore, keySerde, joined.valueSerde, windows.retentionMs, ctx),
    },
    thisName,
    otherName,
  );
  topology.addStateStore(
    {
      name: otherStore,
      create: (ctx) => new JoinBuffer<K, VO>(otherStore, keySerde, joined.otherValueSerde, windows.retentionMs, ctx),
    },
    thisName,
    otherName,
  );
  if (outerStore !== null)
    topology.addStateStore(
      {
        name: outerStore,
        create: (ctx) =>
          new OuterJoinStore<K, V, VO>(outerStore, keySerde, joined.valueSerde, joined.otherValueSerde, windows, ctx),
      },
      thisName,
      otherName,
    );
  const merge = topology.newName('KSTREAM-MERGE');
  topology.addProcessor(merge, passThrough, thisName, otherName);
  return merge;
}
