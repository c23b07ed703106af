/**
 * Session windows, as Kafka Streams' SessionWindows: a key's records closer than the inactivity
 * gap belong to one session; a record joining sessions merges them. Each merge emits a tombstone
 * for every session it replaced and the merged session's new value, keyed by `Windowed<K>`
 * (start and end are the first and last record's timestamps). A record whose session would end
 * before stream time minus the grace period is dropped as late, as Kafka drops it.
 */
import type { Serde } from '../client/index.js';
import { KTable } from './ktable.js';
import { StoreSerdes, defaultValueSerde, type StateStore, type StoreContext } from './stores.js';
import type { Topology } from './topology.js';
import { requireMs, type Window, type Windowed } from './windows.js';

export class SessionWindows {
  private constructor(
    readonly gapMs: number,
    readonly graceMs: number,
  ) {}

  static ofInactivityGapWithNoGrace(gapMs: number): SessionWindows {
    return SessionWindows.ofInactivityGapAndGrace(gapMs, 0);
  }

  static ofInactivityGapAndGrace(gapMs: number, graceMs: number): SessionWindows {
    return new SessionWindows(requireMs('an inactivity gap', gapMs, 1), requireMs('a grace period', graceMs, 0));
  }
}

interface Session<V> {
  start: number;
  end: number;
  value: V;
}

/**
 * A session store: each key's sessions, logged under Kafka's session key (the key's bytes, then
 * the session's end and start as 8 bytes each); a merged-away session is logged as a tombstone.
 */
export class InMemorySessionStore<K, V> implements StateStore {
  private readonly sessions = new Map<string, { key: K; list: Array<Session<V>> }>();
  private readonly serdes: StoreSerdes<K, V>;

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    private readonly context: StoreContext = { changelog: null, stateDir: null },
  ) {
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

  /** The key's sessions overlapping [from, to], oldest first. */
  find(key: K, from: number, to: number): Array<Session<V>> {
    const e = this.sessions.get(this.serdes.key(key).toString('latin1'));
    return (e?.list ?? []).filter((s) => s.end >= from && s.start <= to);
  }

  put(key: K, session: Session<V>): void {
    const bytes = this.serdes.key(key);
    this.set(bytes, key, session);
    this.context.changelog?.(sessionKey(bytes, session), this.serdes.value(session.value));
  }

  remove(key: K, session: { start: number; end: number }): void {
    const bytes = this.serdes.key(key);
    this.drop(bytes.toString('latin1'), session);
    this.context.changelog?.(sessionKey(bytes, session), null);
  }

  private set(bytes: Buffer, key: K, session: Session<V>): void {
    const id = bytes.toString('latin1');
    let e = this.sessions.get(id);
    if (!e) this.sessions.set(id, (e = { key, list: [] }));
    e.list = e.list.filter((s) => s.start !== session.start || s.end !== session.end);
    e.list.push(session);
    e.list.sort((a, b) => a.start - b.start);
  }

  private drop(id: string, session: { start: number; end: number }): void {
    const e = this.sessions.get(id);
    if (!e) return;
    e.list = e.list.filter((s) => s.start !== session.start || s.end !== session.end);
    if (e.list.length === 0) this.sessions.delete(id);
  }

  /** Every key's sessions, for inspection. */
  all(): Array<[K, Session<V>]> {
    return [...this.sessions.values()].flatMap((e) => e.list.map((s): [K, Session<V>] => [e.key, s]));
  }

  restore(key: Buffer, value: Buffer | null): void {
    if (key.length < 16) return;
    const keyBytes = key.subarray(0, key.length - 16);
    const end = Number(key.readBigInt64BE(key.length - 16));
    const start = Number(key.readBigInt64BE(key.length - 8));
    if (value === null) this.drop(keyBytes.toString('latin1'), { start, end });
    else this.set(keyBytes, this.serdes.keyFrom(keyBytes), { start, end, value: this.serdes.valueFrom(value) });
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

function sessionKey(keyBytes: Buffer, session: { start: number; end: number }): Buffer {
  const out = Buffer.allocUnsafe(keyBytes.length + 16);
  keyBytes.copy(out);
  out.writeBigInt64BE(BigInt(session.end), keyBytes.length);
  out.writeBigInt64BE(BigInt(session.start), keyBytes.length + 8);
  return out;
}

/** A stream grouped by key and windowed into sessions (Kafka's SessionWindowedKStream). */
export class SessionWindowedKStream<K, V> {
  constructor(
    private readonly topology: Topology,
    private readonly parentFor: (storeName: string) => string,
    private readonly windows: SessionWindows,
    private readonly keySerde: Serde<K>,
  ) {}

  count(materialized: { storeName?: string; valueSerde?: Serde<number> } = {}): KTable<Windowed<K>, number> {
    return this.aggregate<number>(
      () => 0,
      (_k, _v, n) => n + 1,
      (_k, a, b) => a + b,
      materialized,
    );
  }

  reduce(
    reducer: (aggregate: V, value: V) => V,
    materialized: { storeName?: string; valueSerde?: Serde<V> } = {},
  ): KTable<Windowed<K>, V> {
    return this.fold<V>(
      (_k, v, old) => (old === undefined ? v : reducer(old, v)),
      (_k, a, b) => reducer(a, b),
      materialized,
    );
  }

  /** `merger` combines the aggregates of two sessions a record joins into one. */
  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    merger: (key: K, a: VA, b: VA) => VA,
    materialized: { storeName?: string; valueSerde?: Serde<VA> } = {},
  ): KTable<Windowed<K>, VA> {
    return this.fold<VA>(
      (k, v, old) => aggregator(k, v, old === undefined ? initializer() : old),
      merger,
      materialized,
    );
  }

  private fold<VA>(
    step: (key: K, value: V, old: VA | undefined) => VA,
    merger: (key: K, a: VA, b: VA) => VA,
    materialized: { storeName?: string; valueSerde?: Serde<VA> },
  ): KTable<Windowed<K>, VA> {
    const storeName = materialized.storeName ?? this.topology.newName('KSTREAM-AGGREGATE-STATE-STORE');
    const parent = this.parentFor(storeName);
    const name = this.topology.newName('KSTREAM-AGGREGATE');
    const { gapMs, graceMs } = this.windows;
    this.topology.addProcessor(
      name,
      () => {
        let streamTime = -1;
        return (record, context) => {
          if (record.key === null || record.value === null) return;
          streamTime = Math.max(streamTime, record.timestamp);
          const ts = record.timestamp;
          if (ts < streamTime - graceMs) return; // late: its session closed
          const store = context.getStateStore<InMemorySessionStore<K, VA>>(storeName);
          const key = record.key as K;
          const merged = store.find(key, ts - gapMs, ts + gapMs);
          let start = ts;
          let end = ts;
          let aggregate: VA | undefined;
          for (const s of merged) {
            start = Math.min(start, s.start);
            end = Math.max(end, s.end);
            aggregate = aggregate === undefined ? s.value : merger(key, aggregate, s.value);
            store.remove(key, s);
            const window: Window = { start: s.start, end: s.end };
            context.forward({ ...record, key: { key, window }, value: null });
          }
          const value = step(key, record.value as V, aggregate);
          store.put(key, { start, end, value });
          context.forward({ ...record, key: { key, window: { start, end } }, value });
        };
      },
      parent,
    );
    this.topology.addStateStore(
      {
        name: storeName,
        create: (ctx) => new InMemorySessionStore<K, VA>(storeName, this.keySerde, materialized.valueSerde, ctx),
      },
      name,
    );
    return new KTable<Windowed<K>, VA>(this.topology, name, storeName, graceMs);
  }
}
