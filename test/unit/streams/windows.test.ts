import fc from 'fast-check';
import { testDriver } from '../../harness/streams.js';
import { describe, expect, it } from 'vitest';
import { jsonSerde, stringSerde } from '../../../src/client/index.js';
import { StreamsBuilder, TimeWindows, type Windowed } from '../../../src/streams/index.js';

const str = stringSerde();
const strings = { keySerde: str, valueSerde: str };
/** Windowed results as text, to write them to a topic. */
const show = (k: Windowed<string> | null, v: number | null): [string, string] => [
  `${k!.key}@${k!.window.start}-${k!.window.end}`,
  String(v),
];

function windowedCount(windows: TimeWindows, suppress = false) {
  const builder = new StreamsBuilder();
  let table = builder
    .stream<string, string>('clicks', strings)
    .groupByKey({ keySerde: str })
    .windowedBy(windows)
    .count({ storeName: 'clicks-per-window' });
  if (suppress) table = table.suppressUntilWindowCloses();
  table
    .toStream()
    .map((k, v) => show(k, v))
    .to('out', strings);
  const driver = testDriver(builder.build());
  return {
    driver,
    input: driver.createInputTopic('clicks', str, str),
    output: () => driver.createOutputTopic('out', str, str).readKeyValuesToList(),
  };
}

describe('windowed aggregations, through the test driver', () => {
  it('finds the windows of a timestamp: tumbling, and hopping (Kafka’s windowsFor)', () => {
    expect(TimeWindows.ofSizeWithNoGrace(100).windowsFor(250)).toEqual([{ start: 200, end: 300 }]);
    expect(TimeWindows.ofSizeWithNoGrace(100).advanceBy(40).windowsFor(250)).toEqual([
      { start: 160, end: 260 },
      { start: 200, end: 300 },
      { start: 240, end: 340 },
    ]);
    expect(TimeWindows.ofSizeWithNoGrace(100).advanceBy(40).windowsFor(10)).toEqual([{ start: 0, end: 100 }]);
    expect(() => TimeWindows.ofSizeWithNoGrace(100).advanceBy(200)).toThrow(/advance/);
  });

  it('counts per key and tumbling window, dropping records whose window closed past the grace period', () => {
    const { driver, input, output } = windowedCount(TimeWindows.ofSizeAndGrace(1000, 500));
    input.pipeInput('u', 'c', 100);
    input.pipeInput('u', 'c', 900);
    input.pipeInput('u', 'c', 1200); // stream time 1200
    input.pipeInput('u', 'c', 800); // window [0,1000) closes at 1500: still open
    input.pipeInput('v', 'c', 2600); // stream time 2600
    input.pipeInput('u', 'c', 700); // late: [0,1000) closed at 1500
    expect(output()).toEqual([
      ['u@0-1000', '1'],
      ['u@0-1000', '2'],
      ['u@1000-2000', '1'],
      ['u@0-1000', '3'],
      ['v@2000-3000', '1'],
    ]);
    // Windows are kept for their size plus the grace period from their start, as Kafka's store.
    const store = driver.getWindowStore<string, number>('clicks-per-window');
    expect(store.fetch('v', 0, 3000)).toEqual([[2000, 1]]);
    expect(store.fetch('u', 0, 3000)).toEqual([]);
    expect(() => driver.getKeyValueStore('clicks-per-window')).toThrow(/no key-value store named 'clicks-per-window'/);
  });

  it('suppresses updates until each window closes, then emits its final count once', () => {
    const { input, output } = windowedCount(TimeWindows.ofSizeAndGrace(1000, 200), true);
    input.pipeInput('u', 'c', 100);
    input.pipeInput('u', 'c', 500);
    input.pipeInput('w', 'c', 900);
    expect(output()).toEqual([]);
    input.pipeInput('u', 'c', 1100); // stream time 1100: [0,1000) closes at 1200, not yet
    expect(output()).toEqual([]);
    input.pipeInput('x', 'c', 1300); // closes [0,1000)
    expect(output()).toEqual([
      ['u@0-1000', '2'],
      ['w@0-1000', '1'],
    ]);
  });

  it('a windowed count equals the count computed directly from the input (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 5000 })), { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }).map((n) => n * 200),
        fc.integer({ min: 0, max: 3 }).map((n) => n * 100),
        (records, size, advanceLess) => {
          const windows = TimeWindows.ofSizeAndGrace(size, 10_000).advanceBy(
            size - advanceLess > 0 ? size - advanceLess : size,
          );
          const { output } = (() => {
            const w = windowedCount(windows);
            for (const [k, t] of records) w.input.pipeInput(k, 'x', t);
            return w;
          })();
          // The last update of each key and window is its count: compare with counting directly.
          const last = new Map(output());
          const direct = new Map<string, string>();
          const counts = new Map<string, number>();
          for (const [k, t] of records)
            for (const win of windows.windowsFor(t)) {
              const id = `${k}@${win.start}-${win.end}`;
              counts.set(id, (counts.get(id) ?? 0) + 1);
              direct.set(id, String(counts.get(id)));
            }
          expect(last).toEqual(direct);
        },
      ),
    );
  });

  it('reduce and aggregate per key and window (hopping windows: a record in each window holding it)', () => {
    const builder = new StreamsBuilder();
    const grouped = builder
      .stream<string, number>('amounts', { keySerde: str, valueSerde: jsonSerde<number>() })
      .groupByKey({ keySerde: str })
      .windowedBy(TimeWindows.ofSizeWithNoGrace(100).advanceBy(50));
    grouped
      .reduce((a, b) => Math.max(a, b), { storeName: 'maxima' })
      .toStream()
      .map((k, v) => show(k, v))
      .to('maxima', strings);
    grouped
      .aggregate<number[]>(
        () => [],
        (_k, v, list) => [...list, v],
        { storeName: 'lists' },
      )
      .toStream()
      .map((k, v): [string, string] => [`${k!.key}@${k!.window.start}`, JSON.stringify(v)])
      .to('lists', strings);
    const driver = testDriver(builder.build());
    const input = driver.createInputTopic('amounts', str, jsonSerde<number>());
    input.pipeInput('k', 5, 60); // windows [0,100) and [50,150)
    input.pipeInput('k', 3, 120); // windows [50,150) and [100,200)
    const latest = (topic: string) =>
      Object.fromEntries(driver.createOutputTopic(topic, str, str).readKeyValuesToList());
    expect(latest('maxima')).toEqual({ 'k@0-100': '5', 'k@50-150': '5', 'k@100-200': '3' });
    expect(latest('lists')).toEqual({ 'k@0': '[5]', 'k@50': '[5,3]', 'k@100': '[3]' });
  });

  it('keeps windows for a retention of your choice, never shorter than the windows need', () => {
    const grouped = new StreamsBuilder().stream<string, string>('clicks', strings).groupByKey({ keySerde: str });
    expect(() =>
      grouped.windowedBy(TimeWindows.ofSizeAndGrace(1_000, 500)).count({ storeName: 'short', retentionMs: 1_000 }),
    ).toThrow(/store 'short' needs a retention of at least 1500 ms for its windows, got 1000/);
    const { driver, input } = windowedCount(TimeWindows.ofSizeWithNoGrace(1_000));
    input.pipeInput('u', 'c', 100);
    input.pipeInput('u', 'c', 5_000); // the window at 0 is past its default retention
    expect(driver.getWindowStore<string, number>('clicks-per-window').fetch('u', 0, 10_000)).toEqual([[5_000, 1]]);
  });
});
