import fc from 'fast-check';
import { testDriver } from '../../harness/streams.js';
import { describe, expect, it } from 'vitest';
import { jsonSerde, stringSerde } from '../../../src/client/index.js';
import { StreamsBuilder, type KStream } from '../../../src/streams/index.js';

const T0 = 1_700_000_000_000;
const str = stringSerde();
const strings = { keySerde: str, valueSerde: str };

/** A topology from `build`, driven from 'in' (string keys and values) to the topics it writes. */
function drive(build: (input: KStream<string, string>) => void) {
  const builder = new StreamsBuilder();
  build(builder.stream<string, string>('in', strings));
  const driver = testDriver(builder.build(), { wallClockMs: T0 });
  const input = driver.createInputTopic('in', str, str, { startTimestamp: T0, autoAdvanceMs: 10 });
  return { driver, input, output: (topic = 'out') => driver.createOutputTopic(topic, str, str) };
}

describe('stateless stream operators, through the test driver', () => {
  it('filter and filterNot keep and drop by key and value', () => {
    const { input, output } = drive((s) => {
      s.filter((_k, v) => Number(v) % 2 === 0).to('even', strings);
      s.filterNot((k) => k === 'skip').to('out', strings);
    });
    input.pipeKeyValueList([
      ['a', '1'],
      ['skip', '2'],
      ['b', '4'],
    ]);
    expect(output('even').readKeyValuesToList()).toEqual([
      ['skip', '2'],
      ['b', '4'],
    ]);
    expect(output().readKeyValuesToList()).toEqual([
      ['a', '1'],
      ['b', '4'],
    ]);
  });

  it('map, mapValues, selectKey and peek change keys and values, keeping timestamps', () => {
    const peeked: string[] = [];
    const { input, output } = drive((s) =>
      s
        .map((k, v) => [v, k] as [string, string])
        .mapValues((v, k) => `${v}:${k}`)
        .selectKey((_k, v) => v!.toUpperCase())
        .peek((k) => peeked.push(k!))
        .to('out', strings),
    );
    input.pipeInput('k1', 'v1');
    input.pipeInput('k2', 'v2', T0 + 500);
    const records = output().readRecordsToList();
    expect(records.map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ['K1:V1', 'k1:v1', T0],
      ['K2:V2', 'k2:v2', T0 + 500],
    ]);
    expect(peeked).toEqual(['K1:V1', 'K2:V2']);
  });

  it('flatMap and flatMapValues emit any number of records per input', () => {
    const { input, output } = drive((s) => {
      s.flatMapValues((v) => v!.split(' ')).to('words', strings);
      s.flatMap((k, v) => Array.from({ length: Number(v) }, (_, i) => [`${k}${i}`, String(i)] as [string, string])).to(
        'out',
        strings,
      );
    });
    input.pipeInput('x', 'the quick fox');
    input.pipeInput('y', '2');
    expect(output('words').readValuesToList()).toEqual(['the', 'quick', 'fox', '2']);
    expect(output().readKeyValuesToList()).toEqual([
      ['y0', '0'],
      ['y1', '1'],
    ]);
  });

  it('split sends each record to the first matching branch or the default; branch() is the older form', () => {
    const { input, output } = drive((s) => {
      const b = s
        .split('route-')
        .branch((_k, v) => v!.startsWith('a'), 'a')
        .branch((_k, v) => v!.startsWith('b'), 'b')
        .defaultBranch('other');
      b['route-a']!.to('a', strings);
      b['route-b']!.to('b', strings);
      b['route-other']!.to('other', strings);
      const [small, large] = s.branch(
        (_k, v) => v!.length < 4,
        (_k, v) => v!.length >= 6,
      );
      small!.to('small', strings);
      large!.to('large', strings);
    });
    input.pipeValueList(['apple', 'avocado', 'banana', 'cherry', 'ab', 'fig']);
    expect(output('a').readValuesToList()).toEqual(['apple', 'avocado', 'ab']);
    expect(output('b').readValuesToList()).toEqual(['banana']);
    expect(output('other').readValuesToList()).toEqual(['cherry', 'fig']);
    expect(output('small').readValuesToList()).toEqual(['ab', 'fig']);
    expect(output('large').readValuesToList()).toEqual(['avocado', 'banana', 'cherry']);
  });

  it('merge interleaves two streams in arrival order; a sink with a partitioner picks partitions', () => {
    const builder = new StreamsBuilder();
    const left = builder.stream<string, string>('left', strings);
    const right = builder.stream<string, string>('right', strings);
    left.merge(right).to('out', { ...strings, partitioner: (k, _v, n) => (k === 'r' ? n - 1 : 0) });
    const driver = testDriver(builder.build(), { partitions: { out: 3 } });
    driver.createInputTopic('left', str, str).pipeInput('l', '1');
    driver.createInputTopic('right', str, str).pipeInput('r', '2');
    driver.createInputTopic('left', str, str).pipeInput('l', '3');
    const out = driver.createOutputTopic('out', str, str).readRecordsToList();
    expect(out.map((r) => [r.value, r.partition])).toEqual([
      ['1', 0],
      ['2', 2],
      ['3', 0],
    ]);
  });

  it('types values end to end with serdes, and feeds a topic it writes and reads back through', () => {
    interface Order {
      id: number;
      amount: number;
    }
    const builder = new StreamsBuilder();
    builder
      .stream<string, Order>('orders', { keySerde: str, valueSerde: jsonSerde<Order>() })
      .mapValues((o) => ({ ...o!, amount: o!.amount * 2 }))
      .to('doubled', { keySerde: str, valueSerde: jsonSerde<Order>() });
    builder
      .stream<string, Order>('doubled', { keySerde: str, valueSerde: jsonSerde<Order>() })
      .filter((_k, o) => o!.amount > 10)
      .mapValues((o) => `order ${o!.id}`)
      .to('large', strings);
    const topology = builder.build();
    expect(topology.describe()).toContain('Source: KSTREAM-SOURCE-0000000000 (topics: [orders])');
    const driver = testDriver(topology);
    const orders = driver.createInputTopic('orders', str, jsonSerde<Order>());
    orders.pipeInput('o1', { id: 1, amount: 3 });
    orders.pipeInput('o2', { id: 2, amount: 8 });
    expect(driver.createOutputTopic('doubled', str, jsonSerde<Order>()).readValuesToList()).toEqual([
      { id: 1, amount: 6 },
      { id: 2, amount: 16 },
    ]);
    expect(driver.createOutputTopic('large', str, str).readKeyValuesToList()).toEqual([['o2', 'order 2']]);
  });

  it('refuses what Kafka refuses: unknown topics, duplicate sources, asynchronous serdes', () => {
    const builder = new StreamsBuilder();
    builder.stream('a').to('b');
    expect(() => builder.stream('a')).toThrow(/already read/);
    const driver = testDriver(builder.build());
    expect(() => driver.createInputTopic('nope')).toThrow(
      expect.objectContaining({ errorName: 'UNKNOWN_TOPIC_OR_PARTITION' }),
    );
    const slow = { serialize: async (s: string) => s, deserialize: async (b: Buffer) => b.toString() };
    expect(() => driver.createInputTopic('a', slow, slow).pipeInput('k', 'v')).toThrow(/asynchronous/);
  });

  it('filter then mapValues equals the same done directly on the input (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.integer({ min: -1000, max: 1000 }))), (records) => {
        const { input, output } = drive((s) =>
          s
            .filter((_k, v) => Number(v) >= 0)
            .mapValues((v) => String(Number(v) * 3))
            .to('out', strings),
        );
        input.pipeKeyValueList(records.map(([k, v]) => [k, String(v)]));
        const expected = records.filter(([, v]) => v >= 0).map(([k, v]) => [k, String(v * 3)]);
        expect(output().readKeyValuesToList()).toEqual(expected);
      }),
    );
  });
});
