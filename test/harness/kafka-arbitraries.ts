/** fast-check arbitraries of Kafka messages, from each API's schema: any value of any version. */
import fc from 'fast-check';
import { inRange, type Field, type Fields, type TypeSpec } from '../../protocol/kafka/schema.js';

/** An arbitrary value of a type, as a version of the message has it. */
export function arbitraryOf(type: TypeSpec, version: number, nullable: boolean): fc.Arbitrary<unknown> {
  const base = ((): fc.Arbitrary<unknown> => {
    switch (type.kind) {
      case 'int8':
        return fc.integer({ min: -128, max: 127 });
      case 'int16':
        return fc.integer({ min: -32768, max: 32767 });
      case 'int32':
        return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
      case 'uint16':
        return fc.integer({ min: 0, max: 65535 });
      case 'uint32':
        return fc.integer({ min: 0, max: 2 ** 32 - 1 });
      case 'int64':
        return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
      case 'float64':
        return fc.double({ noNaN: true });
      case 'bool':
        return fc.boolean();
      case 'uuid':
        return fc.uuid();
      case 'string':
        return fc.string({ maxLength: 12 });
      case 'bytes':
      case 'records':
        return fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));
      case 'array':
        return fc.array(arbitraryOf(type.items, version, false), { maxLength: 3 });
      case 'struct':
        return arbitraryStruct(type.fields, version);
    }
  })();
  return nullable ? fc.option(base, { nil: null }) : base;
}

export function arbitraryStruct(fields: Fields, version: number): fc.Arbitrary<Record<string, unknown>> {
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, f] of Object.entries(fields)) record[name] = arbitraryField(f, version);
  return fc.record(record);
}

/** A field the version lacks is its default (what decoding gives for it). */
export function arbitraryField(f: Field<unknown>, version: number): fc.Arbitrary<unknown> {
  if (!inRange(f.versions, version)) return fc.constant(defaultOf(f));
  return arbitraryOf(f.type, version, inRange(f.nullable, version));
}

export function defaultOf(f: Field<unknown>): unknown {
  if (f.type.kind === 'array') return f.default === null ? null : [];
  if (f.type.kind === 'struct' && f.default === null && f.nullable.min > f.nullable.max)
    return Object.fromEntries(Object.entries(f.type.fields).map(([n, sub]) => [n, defaultOf(sub)]));
  return f.default;
}
