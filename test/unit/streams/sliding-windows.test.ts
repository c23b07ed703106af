import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonSerde, stringSerde } from '../../../src/client/index.js';
import { SlidingWindows, StreamsBuilder, type Windowed } from '../../../src/streams/index.js';
import { testDriver } from '../../harness/streams.js';

const str = stringSerde();

/** A sliding-window aggregation's results, as `key@start-end` → the latest value. */
function slidingApp(windows: SlidingWindows, aggregate: 'count' | 'sum') {
  const builder = new StreamsBuilder();
  const grouped = builder
    .stream<string, number>('in', { keySerde: str, valueSerde: jsonSerde<number>() })
    .groupByKey({ keySerde: str })
    .windowedBy(windows);
  const table =
    aggregate === 'count'
      ? grouped.count({ storeName: 'sliding' })
      : grouped.aggregate<{ total: number }>(
          () => ({ total: 0 }),
          // Changes its aggregate in place: a window built from another must not change that one.
          (_k, v, a) => {
            a.total += v;
            return a;
          },
          { storeName: 'sliding' },
        );
  table
    .toStream()
    .map((k: Windowed<string> | null, v: unknown): [string, string] => [
      `${k!.key}@${k!.window.start}-${k!.window.end}`,
      JSON.stringify(v),
    ])
    .to('out', { keySerde: str, valueSerde: str });
  const driver = testDriver(builder.build());
  const input = driver.createInputTopic('in', str, jsonSerde<number>());
  const output = driver.createOutputTopic('out', str, str);
  return {
    input,
    latest: () => new Map(output.readKeyValuesToList().map(([k, v]) => [k!, JSON.parse(v!) as unknown])),
  };
}

describe('sliding windows, through the test driver', () => {
  it("creates Kafka's windows: the left window of each record, and right windows where records follow", () => {
    const { input, latest } = slidingApp(SlidingWindows.ofTimeDifferenceWithNoGrace(10), 'count');
    input.pipeInput('k', 1, 100);
    input.pipeInput('k', 1, 105);
    input.pipeInput('k', 1, 120);
    expect(Object.fromEntries(latest())).toEqual({
      'k@90-100': 1, // left window of 100
      'k@95-105': 2, // left window of 105: 100 and 105
      'k@101-111': 1, // right window of 100: 105
      'k@110-120': 1, // left window of 120 (105 is out of reach; 105's right window is empty)
    });
  });

  it('drops a record once every window it would join has closed', () => {
    const { input, latest } = slidingApp(SlidingWindows.ofTimeDifferenceAndGrace(10, 5), 'count');
    input.pipeInput('k', 1, 100);
    input.pipeInput('k', 1, 200); // stream time 200: windows ending before 195 are closed
    input.pipeInput('k', 1, 183); // its right window [184, 194] closed too: late
    input.pipeInput('k', 1, 190); // its left window [180, 190] is closed; [190, 200] and its right window [191, 201] are not
    expect(Object.fromEntries(latest())).toEqual({ 'k@90-100': 1, 'k@190-200': 2, 'k@191-201': 1 });
  });

  it('suppress(untilWindowCloses) emits each sliding window once, after stream time passes its (inclusive) end', () => {
    const builder = new StreamsBuilder();
    builder
      .stream<string, number>('in', { keySerde: str, valueSerde: jsonSerde<number>() })
      .groupByKey({ keySerde: str })
      .windowedBy(SlidingWindows.ofTimeDifferenceWithNoGrace(10))
      .count({ storeName: 'sliding' })
      .suppressUntilWindowCloses()
      .toStream()
      .map((k: Windowed<string> | null, v: number | null): [string, string] => [
        `${k!.key}@${k!.window.start}-${k!.window.end}`,
        String(v),
      ])
      .to('out', { keySerde: str, valueSerde: str });
    const driver = testDriver(builder.build());
    const input = driver.createInputTopic('in', str, jsonSerde<number>());
    const output = driver.createOutputTopic('out', str, str);
    input.pipeInput('k', 1, 100);
    input.pipeInput('k', 1, 105);
    input.pipeInput('k', 1, 111); // [101, 111] holds 111 itself: still open
    expect(output.readKeyValuesToList()).toEqual([
      ['k@90-100', '1'],
      ['k@95-105', '2'],
    ]);
    input.pipeInput('k', 1, 112);
    expect(output.readKeyValuesToList()).toEqual([['k@101-111', '2']]);
  });

  it('rejects a time difference or grace that is not a whole number of ms', () => {
    expect(() => SlidingWindows.ofTimeDifferenceWithNoGrace(0)).toThrow(/time difference must be a positive integer/);
    expect(() => SlidingWindows.ofTimeDifferenceAndGrace(10, -1)).toThrow(/grace period must be a non-negative/);
  });

  it('gives every window the aggregate of exactly the records within it, in any order (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(
          fc.record({
            key: fc.constantFrom('a', 'b'),
            ts: fc.integer({ min: 0, max: 200 }),
            v: fc.integer({ min: 1, max: 9 }),
          }),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        (d, records) => {
          const count = slidingApp(SlidingWindows.ofTimeDifferenceAndGrace(d, 1_000_000), 'count');
          const sum = slidingApp(SlidingWindows.ofTimeDifferenceAndGrace(d, 1_000_000), 'sum');
          for (const r of records) {
            count.input.pipeInput(r.key, r.v, r.ts);
            sum.input.pipeInput(r.key, r.v, r.ts);
          }
          const counts = count.latest();
          const sums = sum.latest();
          const within = (key: string, start: number, end: number) =>
            records.filter((r) => r.key === key && r.ts >= start && r.ts <= end);
          for (const [window, n] of counts) {
            const [, key, start, end] = /^(\w)@(-?\d+)-(-?\d+)$/.exec(window)!;
            const inside = within(key!, Number(start), Number(end));
            expect(n, window).toBe(inside.length);
            expect(sums.get(window), window).toEqual({ total: inside.reduce((t, r) => t + r.v, 0) });
          }
          for (const r of records) {
            expect(counts.has(`${r.key}@${r.ts - d}-${r.ts}`), `left window of ${r.ts}`).toBe(true);
            if (within(r.key, r.ts + 1, r.ts + 1 + d).length > 0)
              expect(counts.has(`${r.key}@${r.ts + 1}-${r.ts + 1 + d}`), `right window of ${r.ts}`).toBe(true);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
