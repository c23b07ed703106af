import { describe, expect, it } from 'vitest';
import {
  checkStreams,
  expectedAggregates,
  outputsComplete,
  summarizeStreams,
  type StreamsOutputs,
} from '../../src/chaos/streams-checker.js';

/** What an application emits for `values` as it processed them: each key's running aggregate, each window's running count. */
function emitted(values: number[], keys: number): StreamsOutputs {
  const out: StreamsOutputs = { aggregates: new Map(), windows: new Map() };
  for (let i = 0; i < values.length; i++) {
    const key = `k${values[i]! % keys}`;
    const now = expectedAggregates(values.slice(0, i + 1), keys).aggregates.get(key)!;
    out.aggregates.set(key, [...(out.aggregates.get(key) ?? []), now]);
  }
  for (const [w, n] of expectedAggregates(values, keys).windows)
    out.windows.set(
      w,
      Array.from({ length: n }, (_, i) => i + 1),
    );
  return out;
}

const values = Array.from({ length: 40 }, (_, v) => v);

describe('the streams verifier', () => {
  it('recomputes count, sum, min and max per key and counts per 10 s window from the input', () => {
    const want = expectedAggregates([0, 3, 6, 1000, 1003], 3);
    expect(want.aggregates.get('k0')).toEqual({ count: 3, sum: 9, min: 0, max: 6 });
    expect(want.aggregates.get('k1')).toEqual({ count: 2, sum: 2003, min: 1000, max: 1003 });
    // Value v is at T0 + 10 v ms: 0..999 in the first 10 s window, 1000.. in the next.
    expect([...want.windows.values()].sort()).toEqual([2, 3]);
  });

  it('passes faithful exactly-once output, and names duplicates and wrong aggregates', () => {
    const want = expectedAggregates(values, 4);
    const good = emitted(values, 4);
    expect(outputsComplete(want, good)).toBe(true);
    const verdict = checkStreams('exactly_once_v2', want, good);
    expect(verdict.valid).toBe(true);
    expect(summarizeStreams(verdict)).toMatch(/exact, every update once/);

    // The record 8 processed twice (a replayed batch): a duplicate update, counts one too high.
    const dup = emitted([...values.slice(0, 9), 8, ...values.slice(9)], 4);
    const bad = checkStreams('exactly_once_v2', want, dup);
    expect(bad.valid).toBe(false);
    expect(bad.wrong[0]).toMatch(/^k0: want/);
    expect(bad.duplicatedOrSkipped[0]).toMatch(/^k0: 11 updates for 10 records/);
    // At least once, the same output loses nothing: valid.
    expect(checkStreams('at_least_once', want, dup).valid).toBe(true);
  });

  it('at least once: a lost record is a failure', () => {
    const want = expectedAggregates(values, 4);
    const lost = emitted(
      values.filter((v) => v !== 39),
      4,
    );
    expect(outputsComplete(want, lost)).toBe(false);
    const verdict = checkStreams('at_least_once', want, lost);
    expect(verdict.valid).toBe(false);
    expect(summarizeStreams(verdict)).toMatch(/wrong/);
  });
});
