import { testDriver } from '../../harness/streams.js';
import { describe, expect, it } from 'vitest';
import { stringSerde } from '../../../src/client/index.js';
import { StreamsBuilder } from '../../../src/streams/index.js';

const str = stringSerde();
const strings = { keySerde: str, valueSerde: str };

describe('repartitioning, through the test driver', () => {
  it('groupBy counts by the new key through a repartition topic named after the store', () => {
    const builder = new StreamsBuilder();
    builder
      .stream<string, string>('lines', strings)
      .flatMapValues((line) => line!.split(' '))
      .groupBy((_k, word) => word, { keySerde: str, valueSerde: str })
      .count({ storeName: 'word-counts' });
    const topology = builder.build();
    expect(topology.internalTopics).toEqual(['word-counts-repartition']);
    expect(topology.describe()).toContain('Sink: word-counts-repartition-sink (topic: word-counts-repartition)');
    expect(topology.describe()).toContain('Source: word-counts-repartition-source (topics: [word-counts-repartition])');
    const driver = testDriver(topology);
    driver.createInputTopic('lines', str, str).pipeKeyValueList([
      ['l1', 'a b a'],
      ['l2', 'b c'],
    ]);
    expect(driver.getKeyValueStore<string, number>('word-counts').all()).toEqual([
      ['a', 2],
      ['b', 2],
      ['c', 1],
    ]);
  });

  it('repartitions groupByKey after a key change only, Grouped naming the topic', () => {
    const keyed = new StreamsBuilder();
    keyed
      .stream<string, string>('in', strings)
      .mapValues((v) => v)
      .groupByKey({ keySerde: str })
      .count();
    expect(keyed.build().internalTopics).toEqual([]);

    const rekeyed = new StreamsBuilder();
    rekeyed
      .stream<string, string>('in', strings)
      .selectKey((_k, v) => v)
      .filter(() => true)
      .groupByKey({ name: 'by-value', keySerde: str, valueSerde: str })
      .count();
    expect(rekeyed.build().internalTopics).toEqual(['by-value-repartition']);
  });

  it('names an unnamed aggregation’s repartition after its generated store, and setApplicationId prefixes it', () => {
    const builder = new StreamsBuilder();
    builder
      .stream<string, string>('in', strings)
      .map((k, v) => [v, k])
      .groupByKey({ keySerde: str, valueSerde: str })
      .count();
    const topology = builder.build();
    expect(topology.internalTopics).toEqual(['KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition']);
    topology.setApplicationId('shop');
    expect(topology.internalTopics).toEqual(['shop-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition']);
    expect(topology.sourceTopics).toContain('shop-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition');
    expect(() => topology.setApplicationId('other')).toThrow(/runs as application 'shop'/);
  });

  it('repartition() and through() write a topic and read it back', () => {
    const builder = new StreamsBuilder();
    const source = builder.stream<string, string>('in', strings);
    source
      .repartition({ name: 'spread', ...strings })
      .mapValues((v) => `r:${v}`)
      .to('out-r', strings);
    source
      .through('mid', strings)
      .mapValues((v) => `t:${v}`)
      .to('out-t', strings);
    const topology = builder.build();
    expect(topology.internalTopics).toEqual(['spread-repartition']);
    expect(topology.sinkTopics).toEqual(['out-r', 'mid', 'out-t']);
    const driver = testDriver(topology);
    driver.createInputTopic('in', str, str).pipeInput('k', 'v');
    expect(driver.createOutputTopic('out-r', str, str).readKeyValuesToList()).toEqual([['k', 'r:v']]);
    expect(driver.createOutputTopic('mid', str, str).readKeyValuesToList()).toEqual([['k', 'v']]);
    expect(driver.createOutputTopic('out-t', str, str).readKeyValuesToList()).toEqual([['k', 't:v']]);
  });

  it('repartitions a re-keyed stream before a stream-table join', () => {
    const builder = new StreamsBuilder();
    const prices = builder.table<string, string>('prices', strings);
    builder
      .stream<string, string>('orders', strings)
      .selectKey((_k, item) => item)
      .join(prices, (item, price) => `${item}@${price}`, { name: 'orders-by-item', ...strings })
      .to('priced', strings);
    const topology = builder.build();
    expect(topology.internalTopics).toEqual(['orders-by-item-repartition']);
    const driver = testDriver(topology);
    driver.createInputTopic('prices', str, str).pipeInput('pear', '3');
    driver.createInputTopic('orders', str, str).pipeInput('order-1', 'pear');
    expect(driver.createOutputTopic('priced', str, str).readKeyValuesToList()).toEqual([['pear', 'pear@3']]);
  });
});
