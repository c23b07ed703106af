/**
 * KStream-KStream windowed joins, as Kafka Streams' KStream.join(otherStream, joiner,
 * JoinWindows): each side keeps its recent records in a join buffer (a window store, logged to a
 * changelog); a record joins every record of the other side with the same key whose timestamp is
 * within the join window of its own, and the result takes the larger timestamp. Records older
 * than stream time minus the window and grace are dropped as late; buffers keep what a later
 * record may still join.
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

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    readonly retentionMs: number,
    private readonly context: StoreContext = { changelog: null, stateDir: null },
  ) {
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

  add(key: K, ts: number, value: V): void {
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
  }

  private insert(id: string, ts: number, seq: number, value: V): void {
    let list = this.entries.get(id);
    if (!list) this.entries.set(id, (list = []));
    list.push({ ts, seq, value });
  }

  /** The key's records with timestamps in [from, to], in arrival order. */
  fetch(key: K, from: number, to: number): Array<{ ts: number; value: V }> {
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

/** Serdes of a stream-stream join's buffers and of its repartitions (Kafka's StreamJoined). */
export interface StreamJoined<K, V, VO> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  otherValueSerde?: Serde<VO>;
  /** Names the buffers: `<name>-this-join-store`, `<name>-other-join-store`. */
  name?: string;
}

/**
 * Adds an inner stream-stream join of the nodes `left` and `right` (records of the same key)
 * and returns the node emitting the joined records.
 */
export function addStreamStreamJoin<K, V, VO, VR>(
  topology: Topology,
  left: string,
  right: string,
  joiner: (value: V, otherValue: VO) => VR,
  windows: JoinWindows,
  joined: StreamJoined<K, V, VO>,
  bytes: Serde<unknown>,
): string {
  const keySerde = (joined.keySerde ?? bytes) as Serde<K>;
  const thisName = topology.newName('KSTREAM-JOINTHIS');
  const otherName = topology.newName('KSTREAM-JOINOTHER');
  const base = joined.name ?? thisName;
  const thisStore = `${base}-this-join-store`;
  const otherStore = `${base}-other-join-store`;
  const side = (name: string, parent: string, mine: string, theirs: string, fromThis: boolean): void => {
    topology.addProcessor(
      name,
      () => {
        let streamTime = -1;
        return (record, context) => {
          if (record.key === null || record.value === null) return;
          streamTime = Math.max(streamTime, record.timestamp);
          const ts = record.timestamp;
          if (ts + windows.retentionMs <= streamTime) return; // late
          const key = record.key as K;
          const own = context.getStateStore<JoinBuffer<K, unknown>>(mine);
          const other = context.getStateStore<JoinBuffer<K, unknown>>(theirs);
          own.add(key, ts, record.value);
          // The other side's records within the window, seen from this side's record.
          const from = fromThis ? ts - windows.beforeMs : ts - windows.afterMs;
          const to = fromThis ? ts + windows.afterMs : ts + windows.beforeMs;
          for (const o of other.fetch(key, from, to)) {
            const value = fromThis
              ? joiner(record.value as V, o.value as VO)
              : joiner(o.value as V, record.value as VO);
            const out: StreamRecord<unknown, unknown> = { ...record, value, timestamp: Math.max(ts, o.ts) };
            context.forward(out);
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
  const merge = topology.newName('KSTREAM-MERGE');
  topology.addProcessor(merge, passThrough, thisName, otherName);
  return merge;
}
