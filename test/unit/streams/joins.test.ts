import fc from 'fast-check';
import { testDriver } from '../../harness/streams.js';
import { describe, expect, it } from 'vitest';
import { jsonSerde, stringSerde } from '../../../src/client/index.js';
import { JoinWindows, StreamsBuilder } from '../../../src/streams/index.js';

const str = stringSerde();

interface Order {
  customer: string;
  amount: number;
}
interface Customer {
  name: string;
  tier: string;
}

/** Orders keyed by customer id, enriched from the customers table (the orders-enrichment example). */
function enrichment(left: boolean) {
  const builder = new StreamsBuilder();
  const customers = builder.table<string, Customer>('customers', {
    keySerde: str,
    valueSerde: jsonSerde<Customer>(),
    storeName: 'customers-store',
  });
  const orders = builder.stream<string, Order>('orders', { keySerde: str, valueSerde: jsonSerde<Order>() });
  const joined = left
    ? orders.leftJoin(customers, (o, c) => `${o!.amount} for ${c?.name ?? 'unknown'}`)
    : orders.join(customers, (o, c) => `${o!.amount} for ${c.name} (${c.tier})`);
  joined.to('enriched', { keySerde: str, valueSerde: str });
  const driver = testDriver(builder.build());
  return {
    driver,
    customers: driver.createInputTopic('customers', str, jsonSerde<Customer>()),
    orders: driver.createInputTopic('orders', str, jsonSerde<Order>()),
    output: () => driver.createOutputTopic('enriched', str, str).readKeyValuesToList(),
  };
}

describe('stream-table joins, through the test driver', () => {
  it('joins each order with the customer’s current row; no row, no output (inner join)', () => {
    const t = enrichment(false);
    t.orders.pipeInput('c1', { customer: 'c1', amount: 5 });
    t.customers.pipeInput('c1', { name: 'Ada', tier: 'gold' });
    t.orders.pipeInput('c1', { customer: 'c1', amount: 7 });
    t.customers.pipeInput('c1', { name: 'Ada', tier: 'platinum' });
    t.orders.pipeInput('c1', { customer: 'c1', amount: 9 });
    t.customers.pipeInput('c1', null); // deleted
    t.orders.pipeInput('c1', { customer: 'c1', amount: 11 });
    expect(t.output()).toEqual([
      ['c1', '7 for Ada (gold)'],
      ['c1', '9 for Ada (platinum)'],
    ]);
    expect(t.driver.getKeyValueStore('customers-store').approximateNumEntries()).toBe(0);
  });

  it('left-joins every order, with null where the table has no row', () => {
    const t = enrichment(true);
    t.orders.pipeInput('c2', { customer: 'c2', amount: 1 });
    t.customers.pipeInput('c2', { name: 'Grace', tier: 'silver' });
    t.orders.pipeInput('c2', { customer: 'c2', amount: 2 });
    t.orders.pipeInput(null, { customer: '?', amount: 3 }); // no key: dropped, as Kafka's
    expect(t.output()).toEqual([
      ['c2', '1 for unknown'],
      ['c2', '2 for Grace'],
    ]);
  });

  it('refuses a join with a table that is not materialized', () => {
    const builder = new StreamsBuilder();
    const table = builder.table<string, string>('t', { keySerde: str, valueSerde: str }).mapValues((v) => v);
    expect(() => builder.stream<string, string>('s').join(table, (a, b) => `${a}${b}`)).toThrow(/materialized/);
  });
});

const s = str;
const strs = { keySerde: str, valueSerde: str };

describe('table-table joins, through the test driver', () => {
  function tables(kind: 'join' | 'leftJoin' | 'outerJoin') {
    const builder = new StreamsBuilder();
    const left = builder.table<string, string>('left', { ...strs, storeName: 'left-store', storeType: 'in_memory' });
    const right = builder.table<string, string>('right', { ...strs, storeName: 'right-store' });
    const joined =
      kind === 'join'
        ? left.join(right, (l, r) => `${l}+${r}`)
        : kind === 'leftJoin'
          ? left.leftJoin(right, (l, r) => `${l}+${r ?? '-'}`)
          : left.outerJoin(right, (l, r) => `${l ?? '-'}+${r ?? '-'}`);
    joined.toStream().to('joined', strs);
    const topology = builder.build();
    const driver = testDriver(topology);
    return {
      topology,
      l: driver.createInputTopic('left', s, s),
      r: driver.createInputTopic('right', s, s),
      out: () => driver.createOutputTopic('joined', s, s).readKeyValuesToList(),
    };
  }

  it('inner: a key is in the result while both sides hold it, leaving it with a tombstone', () => {
    const t = tables('join');
    expect(t.topology.describe()).toContain('KTABLE-JOINTHIS');
    expect(t.topology.describe()).toContain('KTABLE-JOINOTHER');
    t.l.pipeInput('a', 'L1');
    t.r.pipeInput('a', 'R1');
    t.l.pipeInput('a', 'L2');
    t.r.pipeInput('a', null);
    t.l.pipeInput('b', 'L9'); // no right row: nothing
    expect(t.out()).toEqual([
      ['a', 'L1+R1'],
      ['a', 'L2+R1'],
      ['a', null],
    ]);
  });

  it('left: every key of the left table; a right update without a left row emits nothing', () => {
    const t = tables('leftJoin');
    t.r.pipeInput('b', 'R0');
    t.l.pipeInput('a', 'L1');
    t.r.pipeInput('a', 'R1');
    t.r.pipeInput('a', null);
    expect(t.out()).toEqual([
      ['a', 'L1+-'],
      ['a', 'L1+R1'],
      ['a', 'L1+-'],
    ]);
  });

  it('outer: every key of either table', () => {
    const t = tables('outerJoin');
    t.r.pipeInput('b', 'R0');
    t.l.pipeInput('b', 'L0');
    t.l.pipeInput('b', null);
    t.r.pipeInput('b', null);
    expect(t.out()).toEqual([
      ['b', '-+R0'],
      ['b', 'L0+R0'],
      ['b', '-+R0'],
      ['b', null],
    ]);
  });
});

describe('stream-stream windowed joins, through the test driver', () => {
  it('joins records of one key within the window, either side first, at the later timestamp; drops late ones', () => {
    const builder = new StreamsBuilder();
    const clicks = builder.stream<string, string>('clicks', strs);
    const views = builder.stream<string, string>('views', strs);
    clicks
      .join(views, (c, v) => `${c}/${v}`, JoinWindows.ofTimeDifferenceAndGrace(1_000, 500), { name: 'cv' })
      .to('joined', strs);
    const topology = builder.build();
    expect(topology.stores.map((st) => st.name)).toEqual(['cv-this-join-store', 'cv-other-join-store']);
    const driver = testDriver(topology);
    const c = driver.createInputTopic('clicks', s, s);
    const v = driver.createInputTopic('views', s, s);
    v.pipeInput('a', 'v1', 1_000);
    c.pipeInput('a', 'c1', 1_800); // within 1 s of v1
    c.pipeInput('b', 'c2', 1_900); // no view of b
    v.pipeInput('a', 'v2', 2_500); // within 1 s of c1 (1800), not of nothing else
    c.pipeInput('a', 'c3', 4_000); // v2 is 1.5 s away: no join
    v.pipeInput('a', 'v0', 100); // late: 100 + 2500 (window and grace) <= stream time 4000
    const out = driver.createOutputTopic('joined', s, s).readRecordsToList();
    expect(out.map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ['a', 'c1/v1', 1_800],
      ['a', 'c1/v2', 2_500],
    ]);
  });
});

describe('stream-stream left and outer joins, through the test driver', () => {
  function streamJoin(kind: 'leftJoin' | 'outerJoin', windows: JoinWindows) {
    const builder = new StreamsBuilder();
    const clicks = builder.stream<string, string>('clicks', strs);
    const views = builder.stream<string, string>('views', strs);
    const joiner = (c: string | null, v: string | null) => `${c ?? '-'}/${v ?? '-'}`;
    (kind === 'leftJoin'
      ? clicks.leftJoin(views, joiner, windows, { name: 'cv' })
      : clicks.outerJoin(views, joiner, windows, { name: 'cv' })
    ).to('joined', strs);
    const topology = builder.build();
    const driver = testDriver(topology);
    return {
      topology,
      c: driver.createInputTopic('clicks', s, s),
      v: driver.createInputTopic('views', s, s),
      out: () =>
        driver
          .createOutputTopic('joined', s, s)
          .readRecordsToList()
          .map((r) => [r.key, r.value, r.timestamp]),
    };
  }

  it('left join: a click without a view is emitted with null once its window closed, never before a join', () => {
    const t = streamJoin('leftJoin', JoinWindows.ofTimeDifferenceAndGrace(1_000, 0));
    expect(t.topology.stores.map((st) => st.name)).toEqual([
      'cv-this-join-store',
      'cv-other-join-store',
      'cv-outer-shared-join-store',
    ]);
    t.c.pipeInput('a', 'c1', 1_000); // no view yet: waits
    t.v.pipeInput('a', 'v1', 1_500); // joins c1: c1 leaves the outer store
    t.c.pipeInput('b', 'c2', 1_600); // waits until stream time passes 2600
    t.v.pipeInput('z', 'v9', 1_700); // a view without a click: a left join drops it
    expect(t.out()).toEqual([['a', 'c1/v1', 1_500]]);
    t.c.pipeInput('a', 'c3', 2_601); // stream time 2601: c2's window closed
    expect(t.out()).toEqual([['b', 'c2/-', 1_600]]);
  });

  it('outer join: either side without a partner is emitted with null once its window closed', () => {
    const t = streamJoin('outerJoin', JoinWindows.ofTimeDifferenceAndGrace(100, 50));
    t.v.pipeInput('a', 'v1', 1_000);
    t.c.pipeInput('b', 'c1', 1_010);
    t.c.pipeInput('a', 'c2', 1_050); // joins v1
    t.c.pipeInput('x', 'c9', 1_300); // stream time 1300: c1 (1010 + 150) closed; v1 was joined
    expect(t.out()).toEqual([
      ['a', 'c2/v1', 1_050],
      ['b', 'c1/-', 1_010],
    ]);
    t.v.pipeInput('y', 'v2', 1_301);
    t.v.pipeInput('y', 'v3', 1_600); // closes c9 (1300 + 150) and v2 (1301 + 150)
    expect(t.out()).toEqual([
      ['x', 'c9/-', 1_300],
      ['y', '-/v2', 1_301],
    ]);
  });

  it('outer join: every pair within the window is joined once, every record without one emitted once with null, in any order (property)', () => {
    const record = fc.record({
      side: fc.constantFrom('c', 'v'),
      key: fc.constantFrom('a', 'b'),
      ts: fc.integer({ min: 0, max: 1_000 }),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 25 }), fc.integer({ min: 0, max: 200 }), (records, diff) => {
        const t = streamJoin('outerJoin', JoinWindows.ofTimeDifferenceAndGrace(diff, 5_000));
        records.forEach((r, i) => (r.side === 'c' ? t.c : t.v).pipeInput(r.key, `${r.side}${i}`, r.ts));
        t.c.pipeInput('flush', 'end', 100_000); // closes every window
        const got = t
          .out()
          .map(([k, v]) => `${k}:${v}`)
          .sort();
        const named = records.map((r, i) => ({ ...r, name: `${r.side}${i}` }));
        const pairs = named.flatMap((c) =>
          c.side === 'c'
            ? named
                .filter((v) => v.side === 'v' && v.key === c.key && Math.abs(v.ts - c.ts) <= diff)
                .map((v) => ({ c, v }))
            : [],
        );
        const partnered = new Set(pairs.flatMap((p) => [p.c.name, p.v.name]));
        const want = [
          ...pairs.map((p) => `${p.c.key}:${p.c.name}/${p.v.name}`),
          ...named
            .filter((r) => !partnered.has(r.name))
            .map((r) => (r.side === 'c' ? `${r.key}:${r.name}/-` : `${r.key}:-/${r.name}`)),
        ].sort();
        expect(got).toEqual(want);
      }),
      { numRuns: 100 },
    );
  });
});

describe('stream-global table joins, through the test driver', () => {
  it('joins each record by a key it computes with the global table, no co-partitioning', () => {
    const builder = new StreamsBuilder();
    const products = builder.globalTable<string, string>('products', { ...strs, storeName: 'products-store' });
    const orders = builder.stream<string, string>('orders', strs); // keyed by order id, value: product id
    orders
      .joinGlobal(
        products,
        (_k, product) => product,
        (product, name) => `${product}=${name}`,
      )
      .to('named', strs);
    orders
      .leftJoinGlobal(
        products,
        (_k, product) => product,
        (product, name) => `${product}=${name ?? '?'}`,
      )
      .to('named-left', strs);
    const driver = testDriver(builder.build());
    driver.createInputTopic('products', s, s).pipeKeyValueList([
      ['p1', 'pear'],
      ['p2', 'fig'],
    ]);
    driver.createInputTopic('orders', s, s).pipeKeyValueList([
      ['o1', 'p2'],
      ['o2', 'p9'],
    ]);
    expect(driver.createOutputTopic('named', s, s).readKeyValuesToList()).toEqual([['o1', 'p2=fig']]);
    expect(driver.createOutputTopic('named-left', s, s).readKeyValuesToList()).toEqual([
      ['o1', 'p2=fig'],
      ['o2', 'p9=?'],
    ]);
    expect(driver.getKeyValueStore<string, string>('products-store').get('p1')).toBe('pear');
  });
});
