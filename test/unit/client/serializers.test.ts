import avro from 'avsc';
import protobuf from 'protobufjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  avroSerde,
  jsonSerde,
  protobufSerde,
  stringSerde,
  type Millrace,
  type Producer,
  type Serde,
} from '../../../src/client/index.js';

const ctx = { topic: 'orders', part: 'value' as const, headers: {} };

interface Order {
  id: string;
  total: number;
  lines: Array<{ sku: string; qty: number }>;
}

/** Through bytes as the producer writes them (a string serialization goes in as UTF-8). */
const roundTrip = <T>(serde: Serde<T>, value: T): T => {
  const out = serde.serialize(value, ctx) as Buffer | string;
  return serde.deserialize(typeof out === 'string' ? Buffer.from(out, 'utf8') : out, ctx) as T;
};

describe('serializers', () => {
  it('round-trips strings and JSON, and names the topic when JSON does not parse', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(roundTrip(stringSerde(), s)).toBe(s);
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(roundTrip(jsonSerde(), v)).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
    expect(() => jsonSerde().deserialize(Buffer.from('{not json'), ctx)).toThrow(
      expect.objectContaining({
        errorName: 'INVALID_RECORD',
        message: expect.stringContaining('value of a record of orders'),
      }),
    );
  });

  it('round-trips protobuf through a protobufjs Type, and refuses a value its schema does not allow', () => {
    const root = protobuf.parse(`syntax = "proto3";
      message Line { string sku = 1; int32 qty = 2; }
      message Order { string id = 1; double total = 2; repeated Line lines = 3; }`).root;
    const serde = protobufSerde<Order>(
      root.lookupType('Order') as unknown as Parameters<typeof protobufSerde<Order>>[0],
    );
    const order: Order = { id: 'o-1', total: 42.5, lines: [{ sku: 'a', qty: 2 }] };
    expect(roundTrip(serde, order)).toEqual(order);
    expect(() => serde.serialize({ id: 7 } as unknown as Order, ctx)).toThrow(/id: string expected/);
  });

  it('round-trips Avro through an avsc Type, and says which field is wrong', () => {
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'Order',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'total', type: 'double' },
        {
          name: 'lines',
          type: {
            type: 'array',
            items: {
              type: 'record',
              name: 'Line',
              fields: [
                { name: 'sku', type: 'string' },
                { name: 'qty', type: 'int' },
              ],
            },
          },
        },
      ],
    });
    const serde = avroSerde<Order>(type);
    fc.assert(
      fc.property(
        fc.record({
          id: fc.string(),
          total: fc.double({ noNaN: true }),
          lines: fc.array(fc.record({ sku: fc.string(), qty: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) })),
        }),
        (order) => {
          expect(roundTrip(serde, order)).toEqual(order);
        },
      ),
    );
    expect(() => serde.serialize({ id: 'x', total: 'lots', lines: [] } as unknown as Order, ctx)).toThrow(/at total/);
  });

  it('types producers and consumers by their serializers at compile time', () => {
    // Checked by tsc (npm run typecheck): these lines compile only as the types allow.
    const typed = (millrace: Millrace) => {
      const producer: Producer<string, Order> = millrace.producer<string, Order>({
        serializers: { key: stringSerde(), value: jsonSerde<Order>() },
      });
      void producer.send({ topic: 'orders', messages: [{ key: 'o-1', value: { id: 'o-1', total: 1, lines: [] } }] });
      // @ts-expect-error a number is not an Order
      void producer.send({ topic: 'orders', messages: [{ key: 'o-1', value: 42 }] });
      // @ts-expect-error the key serializer takes strings
      void producer.send({ topic: 'orders', messages: [{ key: 7, value: { id: 'o', total: 1, lines: [] } }] });
      const consumer = millrace.consumer<string, Order>({
        deserializers: { key: stringSerde(), value: jsonSerde<Order>() },
      });
      void consumer.run({
        eachMessage: ({ message }) => {
          const total: number | undefined = message.value?.total;
          // @ts-expect-error keys are strings
          const wrong: number | null = message.key;
          void total;
          void wrong;
        },
      });
      // @ts-expect-error a Buffer serializer does not make an Order producer
      millrace.producer<string, Order>({ serializers: { value: stringSerde() } });
    };
    expect(typeof typed).toBe('function');
  });
});
