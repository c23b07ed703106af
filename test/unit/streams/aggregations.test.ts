import fc from 'fast-check';
import { testDriver } from '../../harness/streams.js';
import { describe, expect, it } from 'vitest';
import { stringSerde } from '../../../src/client/index.js';
import { StreamsBuilder } from '../../../src/streams/index.js';

const str = stringSerde();
const strings = { keySerde: str, valueSerde: str };
const numberSerde = {
  serialize: (n: number) => String(n),
  deserialize: (b: Buffer) => Number(b.toString()),
};

describe('grouped streams and tables, through the test driver', () => {
  it('counts records per key into a store, emitting every update, skipping null keys and values', () => {
    const builder = new StreamsBuilder();
    const counts = builder
      .stream<string, string>('words', strings)
      .groupByKey({ keySerde: str })
      .count({ storeName: 'word-counts' });
    counts.toStream().to('counts', { keySerde: str, valueSerde: numberSerde });
    const topology = builder.build();
    expect(topology.describe()).toContain('stores: [word-counts]');
    const driver = testDriver(topology);
    const input = driver.createInputTopic('words', str, str);
    input.pipeKeyValueList([
      ['a', 'x'],
      ['b', 'x'],
      ['a', 'x'],
      [null, 'x'],
      ['a', null],
    ]);
    expect(driver.createOutputTopic('counts', str, numberSerde).readKeyValuesToList()).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
    ]);
    const store = driver.getKeyValueStore<string, number>('word-counts');
    expect(store.all()).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });

  it('reduces and aggregates per key; table filter turns keys filtered out into tombstones', () => {
    const builder = new StreamsBuilder();
    const amounts = builder
      .stream<string, string>('payments', strings)
      .mapValues((v) => Number(v))
      .groupByKey({ keySerde: str });
    amounts
      .reduce((a, b) => Math.max(a, b))
      .toStream()
      .to('max', { keySerde: str, valueSerde: numberSerde });
    amounts
      .aggregate(
        () => ({ n: 0, sum: 0 }),
        (_k, v, agg) => ({ n: agg.n + 1, sum: agg.sum + v }),
      )
      .mapValues((a) => a.sum / a.n)
      .filter((_k, mean) => mean >= 10)
      .toStream()
      .to('big-means', { keySerde: str, valueSerde: numberSerde });
    const driver = testDriver(builder.build());
    const input = driver.createInputTopic('payments', str, str);
    input.pipeKeyValueList([
      ['u1', '5'],
      ['u1', '30'],
      ['u2', '12'],
      ['u1', '1'],
    ]);
    expect(driver.createOutputTopic('max', str, numberSerde).readKeyValuesToList()).toEqual([
      ['u1', 5],
      ['u1', 30],
      ['u2', 12],
      ['u1', 30],
    ]);
    expect(driver.createOutputTopic('big-means', str, numberSerde).readKeyValuesToList()).toEqual([
      ['u1', null],
      ['u1', 17.5],
      ['u2', 12],
      ['u1', 12],
    ]);
  });

  it('a count equals the count computed directly from the input (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd')), (keys) => {
        const builder = new StreamsBuilder();
        builder.stream<string, string>('in', strings).groupByKey({ keySerde: str }).count({ storeName: 'c' });
        const driver = testDriver(builder.build());
        const input = driver.createInputTopic('in', str, str);
        for (const k of keys) input.pipeInput(k, 'v');
        const direct = new Map<string, number>();
        for (const k of keys) direct.set(k, (direct.get(k) ?? 0) + 1);
        expect(driver.getKeyValueStore<string, number>('c').all()).toEqual(
          [...direct].sort(([a], [b]) => (a < b ? -1 : 1)),
        );
      }),
    );
  });
});
