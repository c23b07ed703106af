/**
 * The streams chaos workload's verifier (Kafka's EOS test driver's verification side), pure: from
 * the numbered input it recomputes each key's aggregate (count, sum, min, max) and each key's
 * 10 s window counts, and checks what the application's outputs hold, read read_committed.
 * Under exactly_once_v2 every final aggregate is exact and each key's updates are 1, 2, ... n
 * once each; under at_least_once nothing is lost (counts reach at least the truth, min and max
 * exact).
 */
import type { ProcessingGuarantee } from '../streams/index.js';

export interface Aggregate {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
}

export const STREAMS_WINDOW_MS = 10_000;
/** Input timestamps: value v at T0 + 10 v ms, so a 10 s window holds 1,000 values. */
export const STREAMS_T0 = Date.UTC(2026, 0, 1);
export const timestampOfValue = (v: number): number => STREAMS_T0 + v * 10;
export const keyOfValue = (v: number, keys: number): string => `k${v % keys}`;

export interface Expected {
  aggregates: Map<string, Aggregate>;
  /** By `key@windowStart`. */
  windows: Map<string, number>;
}

/** The truth for the input values as the input topic holds them. */
export function expectedAggregates(values: readonly number[], keys: number): Expected {
  const aggregates = new Map<string, Aggregate>();
  const windows = new Map<string, number>();
  for (const v of values) {
    const key = keyOfValue(v, keys);
    const a = aggregates.get(key) ?? { count: 0, sum: 0, min: null, max: null };
    aggregates.set(key, {
      count: a.count + 1,
      sum: a.sum + v,
      min: a.min === null ? v : Math.min(a.min, v),
      max: a.max === null ? v : Math.max(a.max, v),
    });
    const w = `${key}@${Math.floor(timestampOfValue(v) / STREAMS_WINDOW_MS) * STREAMS_WINDOW_MS}`;
    windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  return { aggregates, windows };
}

/** Every update each output key saw, in order. */
export interface StreamsOutputs {
  aggregates: Map<string, Aggregate[]>;
  windows: Map<string, number[]>;
}

/** Whether the outputs have caught up with the input: each key's max and count, each window's count. */
export function outputsComplete(want: Expected, got: StreamsOutputs): boolean {
  return (
    [...want.aggregates].every(([k, a]) => {
      const last = got.aggregates.get(k)?.at(-1);
      return last !== undefined && last.max === a.max && last.count >= a.count;
    }) && [...want.windows].every(([w, n]) => (got.windows.get(w)?.at(-1) ?? 0) >= n)
  );
}

export interface StreamsVerdict {
  valid: boolean;
  guarantee: ProcessingGuarantee;
  keys: number;
  windows: number;
  /** Aggregates or windows whose final value is wrong (exactly once), or short (at least once). */
  wrong: string[];
  /** Keys or windows whose updates were not 1, 2, ... n once each (exactly once only). */
  duplicatedOrSkipped: string[];
}

const runOf = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const same = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export function checkStreams(guarantee: ProcessingGuarantee, want: Expected, got: StreamsOutputs): StreamsVerdict {
  const exact = guarantee === 'exactly_once_v2';
  const wrong: string[] = [];
  const duplicatedOrSkipped: string[] = [];
  for (const [key, a] of want.aggregates) {
    const updates = got.aggregates.get(key) ?? [];
    const last = updates.at(-1);
    const ok =
      last !== undefined &&
      (exact
        ? last.count === a.count && last.sum === a.sum && last.min === a.min && last.max === a.max
        : last.count >= a.count && last.min === a.min && last.max === a.max);
    if (!ok) wrong.push(`${key}: want ${JSON.stringify(a)}, got ${JSON.stringify(last ?? null)}`);
    if (
      exact &&
      !same(
        updates.map((u) => u.count),
        runOf(a.count),
      )
    )
      duplicatedOrSkipped.push(`${key}: ${updates.length} updates for ${a.count} records`);
  }
  for (const [w, n] of want.windows) {
    const updates = got.windows.get(w) ?? [];
    const last = updates.at(-1) ?? 0;
    if (exact ? last !== n : last < n) wrong.push(`${w}: want ${n}, got ${last}`);
    if (exact && !same(updates, runOf(n))) duplicatedOrSkipped.push(`${w}: ${updates.length} updates for ${n} records`);
  }
  return {
    valid: wrong.length === 0 && duplicatedOrSkipped.length === 0,
    guarantee,
    keys: want.aggregates.size,
    windows: want.windows.size,
    wrong,
    duplicatedOrSkipped,
  };
}

export function summarizeStreams(v: StreamsVerdict): string {
  const what = `streams ${v.guarantee}: ${v.keys} keys, ${v.windows} windows`;
  if (v.valid) return `${what} ${v.guarantee === 'exactly_once_v2' ? 'exact, every update once' : 'nothing lost'}`;
  return `${what}: ${v.wrong.length} wrong, ${v.duplicatedOrSkipped.length} duplicated or skipped (e.g. ${[...v.wrong, ...v.duplicatedOrSkipped].slice(0, 3).join('; ')})`;
}
