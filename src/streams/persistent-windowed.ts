/**
 * Persistent window and session stores on local disk (LMDB, see lmdb-file.ts), Kafka Streams'
 * default RocksDB window and session stores. On disk a window is keyed by the key's bytes and
 * its start, a session by the key's bytes, its end and its start, each time in a byte order that
 * sorts as the numbers do, so a key's windows (or sessions) are one range read. Writes go to a
 * per-key cache first and reach disk in one transaction on `flush()`, before the runtime
 * commits; each is logged to the changelog (in Kafka's window and session key formats) as it
 * happens. Expired windows and sessions are hidden at once and swept from disk every half
 * retention of stream time (Kafka drops whole time segments instead).
 */
import type { Serde } from '../client/index.js';
import { CachedLmdbStore, sortableTime, timeFromSortable } from './lmdb-file.js';
import { sessionKey, type Session, type SessionStore } from './session-store.js';
import { StoreSerdes, defaultValueSerde, type StoreContext } from './stores.js';
import { windowKey, type WindowStore } from './window-store.js';

/** Expiry for both stores: what stream time hides, and when the disk is swept. */
class Expiry {
  streamTime = -Infinity;
  private nextSweep = -Infinity;

  constructor(readonly retentionMs: number) {}

  /** Whether something that ended (or started) at `time` is past retention. */
  expired(time: number): boolean {
    return time + this.retentionMs < this.streamTime;
  }

  /** Advances stream time; true when a sweep is due. */
  advance(streamTime: number): boolean {
    this.streamTime = Math.max(this.streamTime, streamTime);
    if (this.streamTime < this.nextSweep) return false;
    this.nextSweep = this.streamTime + Math.max(1, Math.floor(this.retentionMs / 2));
    return true;
  }
}

const concat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** A key's cached window writes, by window start. */
interface KeyWindows<V> {
  keyBytes: Buffer;
  windows: Map<number, V>;
}

export class PersistentWindowStore<K, V> extends CachedLmdbStore<KeyWindows<V>> implements WindowStore<K, V> {
  private readonly serdes: StoreSerdes<K, V>;
  private readonly expiry: Expiry;

  constructor(
    name: string,
    keySerde: Serde<K>,
    retentionMs: number,
    valueSerde: Serde<V> | undefined,
    private readonly context: StoreContext,
  ) {
    super(name, context);
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
    this.expiry = new Expiry(retentionMs);
  }

  protected writesOf(e: KeyWindows<V>): Array<readonly [Buffer, Buffer | null]> {
    return [...e.windows].map(([start, v]) => [concat(e.keyBytes, sortableTime(start)), this.serdes.value(v)]);
  }

  get(key: K, start: number): V | undefined {
    if (this.expiry.expired(start)) return undefined;
    const keyBytes = this.serdes.key(key);
    const cached = this.dirty.get(keyBytes.toString('latin1'))?.windows.get(start);
    if (cached !== undefined) return cached;
    const stored = this.file.db.getBinary(concat(keyBytes, sortableTime(start)));
    return stored === undefined ? undefined : this.serdes.valueFrom(stored);
  }

  put(key: K, start: number, value: V): void {
    const keyBytes = this.serdes.key(key);
    const id = keyBytes.toString('latin1');
    let e = this.dirty.get(id);
    if (!e) this.dirty.set(id, (e = { keyBytes, windows: new Map() }));
    e.windows.set(start, value);
    this.context.changelog?.(windowKey(keyBytes, start), this.serdes.value(value));
  }

  fetch(key: K, from: number, to: number): Array<[number, V]> {
    const keyBytes = this.serdes.key(key);
    const found = new Map<number, V>();
    for (const { key: k, value } of this.file.range(
      concat(keyBytes, sortableTime(from)),
      concat(keyBytes, sortableTime(to + 1)),
    ))
      // A longer key sharing these bytes as its prefix is another key.
      if (k.length === keyBytes.length + 8)
        found.set(timeFromSortable(k, keyBytes.length), this.serdes.valueFrom(value));
    for (const [start, v] of this.dirty.get(keyBytes.toString('latin1'))?.windows ?? [])
      if (start >= from && start <= to) found.set(start, v);
    return [...found].filter(([start]) => !this.expiry.expired(start)).sort((a, b) => a[0] - b[0]);
  }

  expire(streamTime: number): void {
    if (!this.expiry.advance(streamTime)) return;
    for (const [id, e] of this.dirty) {
      for (const start of e.windows.keys()) if (this.expiry.expired(start)) e.windows.delete(start);
      if (e.windows.size === 0) this.dirty.delete(id);
    }
    const gone: Array<[Buffer, null]> = [];
    for (const { key } of this.file.db.getRange({}))
      if (this.expiry.expired(timeFromSortable(key, key.length - 8))) gone.push([key, null]);
    if (gone.length > 0) this.file.write(gone);
  }

  restore(key: Buffer, value: Buffer | null): void {
    if (key.length < 8) return;
    const keyBytes = key.subarray(0, key.length - 8);
    this.file.restore(concat(keyBytes, sortableTime(Number(key.readBigInt64BE(key.length - 8)))), value);
  }
}

const sessionId = (s: { start: number; end: number }): string => `${s.end},${s.start}`;

/** A key's cached session writes, by session (`end,start`): the session, or null when removed. */
interface KeySessions<K, V> {
  key: K;
  keyBytes: Buffer;
  sessions: Map<string, Session<V> | null>;
}

export class PersistentSessionStore<K, V> extends CachedLmdbStore<KeySessions<K, V>> implements SessionStore<K, V> {
  private readonly serdes: StoreSerdes<K, V>;
  private readonly expiry: Expiry;

  constructor(
    name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    retentionMs: number,
    private readonly context: StoreContext,
  ) {
    super(name, context);
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
    this.expiry = new Expiry(retentionMs);
  }

  protected writesOf(e: KeySessions<K, V>): Array<readonly [Buffer, Buffer | null]> {
    return [...e.sessions].map(([sid, s]) => {
      const [end, start] = sid.split(',').map(Number) as [number, number];
      return [this.diskKey(e.keyBytes, { start, end }), s === null ? null : this.serdes.value(s.value)];
    });
  }

  private diskKey(keyBytes: Buffer, s: { start: number; end: number }): Buffer {
    return concat(keyBytes, sortableTime(s.end), sortableTime(s.start));
  }

  private onDisk(keyBytes: Buffer, from: number): Array<Session<V>> {
    const out: Array<Session<V>> = [];
    const rangeEnd = concat(keyBytes, Buffer.alloc(17, 0xff));
    for (const { key, value } of this.file.range(concat(keyBytes, sortableTime(from)), rangeEnd))
      if (key.length === keyBytes.length + 16)
        out.push({
          end: timeFromSortable(key, keyBytes.length),
          start: timeFromSortable(key, keyBytes.length + 8),
          value: this.serdes.valueFrom(value),
        });
    return out;
  }

  find(key: K, from: number, to: number): Array<Session<V>> {
    const keyBytes = this.serdes.key(key);
    const found = new Map<string, Session<V> | null>();
    for (const s of this.onDisk(keyBytes, from)) found.set(sessionId(s), s);
    for (const [id, s] of this.dirty.get(keyBytes.toString('latin1'))?.sessions ?? []) found.set(id, s);
    return [...found.values()]
      .filter((s): s is Session<V> => s !== null && s.end >= from && s.start <= to && !this.expiry.expired(s.end))
      .sort((a, b) => a.start - b.start);
  }

  private write(key: K, keyBytes: Buffer, s: { start: number; end: number }, session: Session<V> | null): void {
    const id = keyBytes.toString('latin1');
    let e = this.dirty.get(id);
    if (!e) this.dirty.set(id, (e = { key, keyBytes, sessions: new Map() }));
    e.sessions.set(sessionId(s), session);
    this.context.changelog?.(sessionKey(keyBytes, s), session === null ? null : this.serdes.value(session.value));
  }

  put(key: K, session: Session<V>): void {
    this.write(key, this.serdes.key(key), session, session);
  }

  remove(key: K, session: { start: number; end: number }): void {
    this.write(key, this.serdes.key(key), session, null);
  }

  expire(streamTime: number): void {
    if (!this.expiry.advance(streamTime)) return;
    const gone: Array<[Buffer, null]> = [];
    for (const { key } of this.file.db.getRange({}))
      if (this.expiry.expired(timeFromSortable(key, key.length - 16))) gone.push([key, null]);
    if (gone.length > 0) this.file.write(gone);
  }

  all(): Array<[K, Session<V>]> {
    const byKey = new Map<string, { key: K; sessions: Map<string, Session<V> | null> }>();
    for (const { key, value } of this.file.db.getRange({})) {
      const keyBytes = key.subarray(0, key.length - 16);
      const id = keyBytes.toString('latin1');
      let e = byKey.get(id);
      if (!e) byKey.set(id, (e = { key: this.serdes.keyFrom(keyBytes), sessions: new Map() }));
      const s = {
        end: timeFromSortable(key, keyBytes.length),
        start: timeFromSortable(key, keyBytes.length + 8),
        value: this.serdes.valueFrom(value),
      };
      e.sessions.set(sessionId(s), s);
    }
    for (const [id, d] of this.dirty) {
      let e = byKey.get(id);
      if (!e) byKey.set(id, (e = { key: d.key, sessions: new Map() }));
      for (const [sid, s] of d.sessions) e.sessions.set(sid, s);
    }
    return [...byKey.values()].flatMap((e) =>
      [...e.sessions.values()]
        .filter((s): s is Session<V> => s !== null && !this.expiry.expired(s.end))
        .sort((a, b) => a.start - b.start)
        .map((s): [K, Session<V>] => [e.key, s]),
    );
  }

  restore(key: Buffer, value: Buffer | null): void {
    if (key.length < 16) return;
    const keyBytes = key.subarray(0, key.length - 16);
    const end = Number(key.readBigInt64BE(key.length - 16));
    const start = Number(key.readBigInt64BE(key.length - 8));
    this.file.restore(this.diskKey(keyBytes, { start, end }), value);
  }
}
