/**
 * Sliding windows, as Kafka Streams' SlidingWindows (KIP-450): a window of `timeDifferenceMs`
 * for each distinct set of a key's records that close together. Each record has a left window
 * ending at it, `[t - d, t]`, and, when records follow within the difference, a right window
 * starting just after it, `[t + 1, t + 1 + d]`; both ends are inclusive (Kafka's sliding windows
 * are). Aggregates are built incrementally from the windows already stored, as Kafka's
 * KStreamSlidingWindowAggregate builds them: the store keeps each window's aggregate and its
 * latest record timestamp, and every non-empty right window exists, so the window before a new
 * record holds exactly the records of its left window, and the window holding it with the latest
 * start holds exactly those of its right window. Records early in time get windows starting
 * before 0 (Kafka folds them into `[0, d]`).
 */
import type { Serde } from '../client/index.js';
import { defaultValueSerde } from './stores.js';
import { deserializeNow, serializeNow, type ProcessFn } from './topology.js';
import { requireMs, type Window } from './windows.js';
import type { WindowStore } from './window-store.js';

export class SlidingWindows {
  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): SlidingWindows {
    return SlidingWindows.ofTimeDifferenceAndGrace(timeDifferenceMs, 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): SlidingWindows {
    return new SlidingWindows(
      requireMs('a time difference', timeDifferenceMs, 1),
      requireMs('a grace period', graceMs, 0),
    );
  }

  /** How long a window must be kept: the next records look back two differences. */
  get retentionMs(): number {
    return 3 * this.timeDifferenceMs + this.graceMs + 2;
  }
}

/** A window's aggregate and its latest record's timestamp (Kafka's ValueAndTimestamp). */
export interface TimestampedAggregate<VA> {
  value: VA;
  ts: number;
}

/** Stores a timestamped aggregate as Kafka's timestamped stores do: 8 bytes of timestamp, then the value. */
export function timestampedSerde<VA>(valueSerde: Serde<VA> | undefined): Serde<TimestampedAggregate<VA>> {
  const inner = defaultValueSerde(valueSerde);
  return {
    serialize: (data, context) => {
      const value = serializeNow(inner, data.value, context);
      const out = Buffer.allocUnsafe(8 + value.length);
      out.writeBigInt64BE(BigInt(data.ts));
      value.copy(out, 8);
      return out;
    },
    deserialize: (data, context) => ({
      ts: Number(data.readBigInt64BE(0)),
      value: deserializeNow(inner, data.subarray(8), context),
    }),
  };
}

/** The processor of a sliding-window aggregation into the window store `storeName`. */
export function slidingAggregateProcessor<K, V, VA>(
  windows: SlidingWindows,
  storeName: string,
  step: (key: K, value: V, old: VA | undefined) => VA,
  /** A copy of a stored aggregate: a window's aggregate is built from another's, which an aggregator may change in place. */
  copy: (aggregate: VA) => VA,
): () => ProcessFn {
  const d = windows.timeDifferenceMs;
  return () => {
    let streamTime = -Infinity;
    return (record, context) => {
      if (record.key === null || record.value === null) return;
      streamTime = Math.max(streamTime, record.timestamp);
      const t = record.timestamp;
      const closeTime = streamTime - windows.graceMs;
      if (t + 1 + d < closeTime) return; // late: every window it would join has closed
      const store = context.getStateStore<WindowStore<K, TimestampedAggregate<VA>>>(storeName);
      const key = record.key as K;
      const value = record.value as V;
      const put = (window: Window, aggregate: TimestampedAggregate<VA>): void => {
        if (window.end < closeTime) return; // closed: its end (inclusive) plus grace is behind stream time
        store.put(key, window.start, aggregate);
        context.forward({ ...record, key: { key, window }, value: aggregate.value, timestamp: aggregate.ts });
      };
      let leftAggregate: TimestampedAggregate<VA> | null = null;
      let rightAggregate: TimestampedAggregate<VA> | null = null;
      let leftExists = false;
      let rightExists = false;
      let previousTs: number | null = null;
      const starts = new Set<number>();
      for (const [start, agg] of store.fetch(key, t - 2 * d, t + 1)) {
        starts.add(start);
        const end = start + d;
        if (end < t) {
          // The latest window ending before t: the records of t's left window, but t.
          leftAggregate = agg;
          previousTs = agg.ts;
        } else if (end === t) {
          leftExists = true;
          put({ start, end }, { value: step(key, value, agg.value), ts: Math.max(agg.ts, t) });
        } else if (start <= t) {
          // Before t joins it (an aggregator may change the aggregate in place).
          rightAggregate = { value: copy(agg.value), ts: agg.ts };
          put({ start, end }, { value: step(key, value, agg.value), ts: Math.max(agg.ts, t) });
        } else rightExists = true; // start is t + 1
      }
      // The previous record's right window was empty until now: t alone.
      if (previousTs !== null) {
        const start = previousTs + 1;
        if (!starts.has(start) && start <= t && t <= start + d)
          put({ start, end: start + d }, { value: step(key, value, undefined), ts: t });
      }
      if (!leftExists) {
        const before = leftAggregate !== null && previousTs !== null && t - d <= previousTs ? leftAggregate : null;
        put({ start: t - d, end: t }, { value: step(key, value, before ? copy(before.value) : undefined), ts: t });
      }
      // t's right window, if records follow t within the difference: those of the latest window holding t, but t.
      if (!rightExists && rightAggregate !== null && rightAggregate.ts > t)
        put({ start: t + 1, end: t + 1 + d }, rightAggregate);
      store.expire(streamTime);
    };
  };
}
