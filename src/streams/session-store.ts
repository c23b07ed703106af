/**
 * Session stores: each key's sessions (start and end are its first and last record's
 * timestamps), logged under Kafka's session key: the key's bytes, then the session's end and
 * start as 8 bytes each; a merged-away session is logged as a tombstone.
 */
import type { Serde } from '../client/index.js';
import { StoreSerdes, defaultValueSerde, type StateStore, type StoreContext } from './stores.js';

export interface Session<V> {
  start: number;
  end: number;
  value: V;
}

export interface SessionStore<K, V> extends StateStore {
  /** The key's sessions overlapping [from, to], oldest first. */
  find(key: K, from: number, to: number): Array<Session<V>>;
  put(key: K, session: Session<V>): void;
  remove(key: K, session: { start: number; end: number }): void;
  /** Drops sessions that ended `retention` or longer before `streamTime` (no record can reach them). */
  expire(streamTime: number): void;
  /** Every key's sessions, for inspection. */
  all(): Array<[K, Session<V>]>;
}

export class InMemorySessionStore<K, V> implements SessionStore<K, V> {
  private readonly sessions = new Map<string, { key: K; list: Array<Session<V>> }>();
  private readonly serdes: StoreSerdes<K, V>;

  constructor(
    readonly name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V> | undefined,
    readonly retentionMs: number,
    private readonly context: StoreContext = { changelog: null, stateDir: null },
  ) {
    this.serdes = new StoreSerdes(name, keySerde, defaultValueSerde(valueSerde));
  }

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

  expire(streamTime: number): void {
    for (const [id, e] of this.sessions) {
      e.list = e.list.filter((s) => s.end + this.retentionMs >= streamTime);
      if (e.list.length === 0) this.sessions.delete(id);
    }
  }

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

export function sessionKey(keyBytes: Buffer, session: { start: number; end: number }): Buffer {
  const out = Buffer.allocUnsafe(keyBytes.length + 16);
  keyBytes.copy(out);
  out.writeBigInt64BE(BigInt(session.end), keyBytes.length);
  out.writeBigInt64BE(BigInt(session.start), keyBytes.length + 8);
  return out;
}
