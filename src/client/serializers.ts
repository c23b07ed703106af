/**
 * Serializers turn an application's keys and values into bytes on the producer, deserializers
 * back on the consumer: Kafka's Serializer/Deserializer, typed so that a
 * `millrace.producer<string, Order>({ serializers: { key: stringSerde(), value: jsonSerde<Order>() } })`
 * only accepts string keys and Order values at compile time. Either direction may be
 * asynchronous (a schema registry lookup); the registry-aware ones are synchronous once their
 * schema id is cached, so the data path awaits nothing per record.
 *
 * Protobuf and Avro take the application's own protobufjs Type and avsc Type, so neither
 * library is loaded unless the application uses it.
 */
import { MillraceError } from '../../protocol/errors.js';

export interface SerdeContext {
  topic: string;
  /** Whether the bytes are a record's key or its value. */
  part: 'key' | 'value';
  headers: Record<string, Buffer | string | null>;
}

/** Bytes, or text the producer writes as UTF-8 straight into its batch (no Buffer per record). */
export type Serialized = Buffer | string;

export interface Serializer<T> {
  serialize(data: T, context: SerdeContext): Serialized | Promise<Serialized>;
}

export interface Deserializer<T> {
  deserialize(data: Buffer, context: SerdeContext): T | Promise<T>;
}

/** Both directions of one type, as Kafka's Serde. */
export interface Serde<T> extends Serializer<T>, Deserializer<T> {}

export interface Serializers<K, V> {
  key?: Serializer<K>;
  value?: Serializer<V>;
}

export interface Deserializers<K, V> {
  key?: Deserializer<K>;
  value?: Deserializer<V>;
}

const failed = (what: string, context: SerdeContext, err: unknown): MillraceError =>
  new MillraceError(
    'INVALID_RECORD',
    `cannot ${what} the ${context.part} of a record of ${context.topic}: ${(err as Error).message ?? String(err)}`,
    { cause: err },
  );

/** UTF-8 strings (Kafka's StringSerializer). */
export function stringSerde(): Serde<string> {
  return {
    serialize: (data) => data,
    deserialize: (data) => data.toString('utf8'),
  };
}

/** JSON values; a value that does not parse fails with INVALID_RECORD naming the topic. */
export function jsonSerde<T>(): Serde<T> {
  return {
    serialize: (data, context) => {
      try {
        return JSON.stringify(data);
      } catch (err) {
        throw failed('serialize', context, err);
      }
    },
    deserialize: (data, context) => {
      try {
        return JSON.parse(data.toString('utf8')) as T;
      } catch (err) {
        throw failed('deserialize', context, err);
      }
    },
  };
}

/** What protobufjs's generated or reflected message Types offer. */
export interface ProtobufType<T> {
  verify(message: Record<string, unknown>): string | null;
  fromObject(object: Record<string, unknown>): T;
  encode(message: T): { finish(): Uint8Array };
  decode(data: Uint8Array): T;
  toObject(message: T, options?: Record<string, unknown>): Record<string, unknown>;
}

/** Protocol Buffers through a protobufjs Type; values are plain objects checked by `verify`. */
export function protobufSerde<T extends object>(type: ProtobufType<T>): Serde<T> {
  return {
    serialize: (data, context) => {
      const problem = type.verify(data as Record<string, unknown>);
      if (problem) throw failed('serialize', context, new Error(problem));
      const bytes = type.encode(type.fromObject(data as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (data, context) => {
      try {
        return type.toObject(type.decode(data), { longs: String, enums: String, defaults: true }) as T;
      } catch (err) {
        throw failed('deserialize', context, err);
      }
    },
  };
}

/** What avsc's Types offer. */
export interface AvroType<T> {
  isValid(value: unknown, opts?: { errorHook?: (path: string[]) => void }): boolean;
  toBuffer(value: T): Buffer;
  fromBuffer(data: Buffer): T;
}

/** Avro binary (no container, no schema id: see the registry-aware serdes for those). */
export function avroSerde<T>(type: AvroType<T>): Serde<T> {
  return {
    serialize: (data, context) => {
      const paths: string[] = [];
      if (!type.isValid(data, { errorHook: (path) => paths.push(path.join('.') || '(the value)') }))
        throw failed('serialize', context, new Error(`not valid for its Avro schema at ${paths.join(', ')}`));
      return type.toBuffer(data);
    },
    deserialize: (data, context) => {
      try {
        return type.fromBuffer(data);
      } catch (err) {
        throw failed('deserialize', context, err);
      }
    },
  };
}
