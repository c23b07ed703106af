/**
 * Registry-aware serdes: Confluent's wire format (magic byte 0, the 4-byte schema id, then the
 * payload; Protobuf payloads after the message indexes) against any Confluent-compatible schema
 * registry (`millrace schema-registry` among them). A serializer registers its schema under
 * the subject once (TopicNameStrategy by default: `<topic>-key` / `<topic>-value`) and is
 * synchronous from then on; a deserializer fetches each writer schema by id once.
 *
 * avsc and protobufjs are loaded only when an AVRO or PROTOBUF schema is used.
 */
import { createRequire } from 'node:module';
import type avroModule from 'avsc';
import type protobufModule from 'protobufjs';
import { MillraceError } from '../../protocol/errors.js';
import type { Serde, SerdeContext, Serialized } from './serializers.js';

export type RegistrySchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

export interface RegistryReference {
  name: string;
  subject: string;
  version: number;
}

export interface RegistrySchema {
  /** Default: AVRO, as the registry's. */
  schemaType?: RegistrySchemaType;
  schema: string;
  references?: RegistryReference[];
}

const MAGIC = 0;
/** Headers whose every byte is below 0x80, as the strings that UTF-8 encode to them. */
const asciiHeaders = new WeakMap<Buffer, string>();
const rememberIfAscii = (header: Buffer): void => {
  if (header.every((b) => b < 0x80)) asciiHeaders.set(header, header.toString('latin1'));
};
const HEADER_BYTES = 5;
const requireCjs = createRequire(import.meta.url);
const avsc = (): typeof avroModule => requireCjs('avsc') as typeof avroModule;
const protobufjs = (): typeof protobufModule => requireCjs('protobufjs') as typeof protobufModule;

/** A Confluent Schema Registry REST client: what the serdes need of it, with caches. */
export class SchemaRegistryClient {
  private readonly byId = new Map<number, Promise<RegistrySchema>>();
  private readonly url: string;

  constructor(url: string) {
    this.url = url.replace(/\/+$/, '');
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + path, {
      method,
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((err: unknown) => {
      throw new MillraceError('NETWORK_EXCEPTION', `schema registry at ${this.url}: ${(err as Error).message}`, {
        cause: err,
      });
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // not JSON: the text says it
      }
      throw new MillraceError(
        res.status === 409 || res.status === 422
          ? 'INVALID_RECORD'
          : res.status >= 500
            ? 'NETWORK_EXCEPTION'
            : 'INVALID_REQUEST',
        `schema registry ${method} ${path}: HTTP ${res.status}: ${message}`,
      );
    }
    return JSON.parse(text) as T;
  }

  /** Registers (or finds) a schema under a subject; returns its id. */
  async register(subject: string, schema: RegistrySchema): Promise<number> {
    const { id } = await this.call<{ id: number }>('POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
      schema: schema.schema,
      ...(schema.schemaType && schema.schemaType !== 'AVRO' ? { schemaType: schema.schemaType } : {}),
      ...(schema.references?.length ? { references: schema.references } : {}),
    });
    return id;
  }

  /** A schema by id (cached: ids never change meaning). */
  schema(id: number): Promise<RegistrySchema> {
    let found = this.byId.get(id);
    if (!found) {
      found = this.call<RegistrySchema>('GET', `/schemas/ids/${id}`);
      found.catch(() => this.byId.delete(id));
      this.byId.set(id, found);
    }
    return found;
  }

  /** The texts of a schema's references, transitively, deepest first. */
  async dependencies(schema: RegistrySchema): Promise<string[]> {
    const out: string[] = [];
    for (const ref of schema.references ?? []) {
      const v = await this.call<RegistrySchema>(
        'GET',
        `/subjects/${encodeURIComponent(ref.subject)}/versions/${ref.version}`,
      );
      out.push(...(await this.dependencies(v)), v.schema);
    }
    return out;
  }
}

/** How a schema reads and writes payloads. */
interface Codec {
  /** The record's bytes: `header` (magic, id, indexes), then the payload. */
  encode(value: unknown, header: Buffer): Serialized;
  /** `message`: PROTOBUF's top-level message index the record names. */
  decode(payload: Buffer, message: number): unknown;
  /** Confluent's Protobuf message indexes, written between the id and the payload. */
  indexes: Buffer;
}

function codecOf(schema: RegistrySchema, dependencies: string[], messageName?: string): Codec {
  const type = schema.schemaType ?? 'AVRO';
  if (type === 'JSON')
    return {
      // Header bytes below 0x80 are the same in UTF-8: the record is then one string, which the
      // producer writes straight into its batch; otherwise one Buffer, the text written after the header.
      encode: (v, header) => {
        const text = JSON.stringify(v);
        const asText = asciiHeaders.get(header);
        if (asText !== undefined) return asText + text;
        const out = Buffer.allocUnsafe(header.length + Buffer.byteLength(text));
        header.copy(out, 0);
        out.write(text, header.length);
        return out;
      },
      decode: (p) => JSON.parse(p.toString('utf8')) as unknown,
      indexes: Buffer.alloc(0),
    };
  if (type === 'AVRO') {
    const { Type } = avsc();
    const registry = {};
    for (const dep of dependencies) Type.forSchema(JSON.parse(dep) as avroModule.Schema, { registry });
    const t = Type.forSchema(JSON.parse(schema.schema) as avroModule.Schema, { registry });
    return {
      encode: (v, header) => Buffer.concat([header, t.toBuffer(v)]),
      decode: (p) => t.fromBuffer(p) as unknown,
      indexes: Buffer.alloc(0),
    };
  }
  const pb = protobufjs();
  const root = new pb.Root();
  for (const dep of dependencies) pb.parse(dep, root, { keepCase: true });
  const parsed = pb.parse(schema.schema, root, { keepCase: true });
  root.resolveAll();
  const scope = parsed.package ? (root.lookup(parsed.package) as protobufModule.Namespace) : root;
  const top = scope.nestedArray.filter((n): n is protobufModule.Type => n instanceof pb.Type);
  const message = messageName ? root.lookupType(messageName) : top[0];
  if (!message) throw new MillraceError('INVALID_RECORD', 'the Protobuf schema has no message');
  const index = top.indexOf(message);
  if (index < 0)
    throw new MillraceError('INVALID_RECORD', `${message.fullName} is not a top-level message of its schema`);
  return {
    encode: (v, header) => {
      const problem = message.verify(v as Record<string, unknown>);
      if (problem) throw new Error(problem);
      return Buffer.concat([header, message.encode(message.fromObject(v as Record<string, unknown>)).finish()]);
    },
    decode: (p, at) => {
      const m = top[at];
      if (!m) throw new Error(`the schema has no message at index ${at}`);
      return m.toObject(m.decode(p), { longs: String, enums: String, defaults: true });
    },
    // The first message is written as a single 0; others as a count and the path (zigzag varints).
    indexes: index === 0 ? Buffer.from([0]) : Buffer.from([2, index * 2]),
  };
}

/** Reads the message indexes after the id: where the Protobuf payload starts, and the top-level message. */
function readIndexes(data: Buffer, at: number): { start: number; message: number } {
  const varint = (): number => {
    let shift = 0;
    let result = 0;
    for (;;) {
      const b = data[at++];
      if (b === undefined) throw new Error('the message indexes run past the end');
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (result >>> 1) ^ -(result & 1);
      shift += 7;
    }
  };
  const count = varint();
  // A lone 0 is the first message; nested messages (a longer path) are not read here.
  if (count === 0) return { start: at, message: 0 };
  const message = varint();
  if (count > 1) throw new Error('nested Protobuf messages are not supported: register the message at top level');
  return { start: at, message };
}

/**
 * The value of `key` once loaded (synchronously, so the data path awaits nothing), else the load
 * in flight: one load per key at a time, forgotten if it fails so the next call tries again.
 */
function cached<K, V>(map: Map<K, V | Promise<V>>, key: K, load: (key: K) => Promise<V>): V | Promise<V> {
  const found = map.get(key);
  if (found !== undefined) return found;
  const loading = load(key).then(
    (v) => (map.set(key, v), v),
    (err: unknown) => {
      map.delete(key);
      throw err;
    },
  );
  map.set(key, loading);
  return loading;
}

export interface RegistrySerdeOptions {
  /** The registry: a URL or a client shared by several serdes. */
  registry: string | SchemaRegistryClient;
  /** The schema this serializer writes with (a deserializer reads with each record's own). */
  schema?: RegistrySchema;
  /** Subject naming; default TopicNameStrategy: `${topic}-${part}`. */
  subject?: (topic: string, part: 'key' | 'value') => string;
  /** PROTOBUF: the message to write (default: the schema's first). */
  messageName?: string;
}

/**
 * A serde in Confluent's wire format. With `schema` it serializes (registering it once per
 * subject) and deserializes; without, it only deserializes, by the id in each record.
 */
export function registrySerde<T>(options: RegistrySerdeOptions): Serde<T> {
  const registry = typeof options.registry === 'string' ? new SchemaRegistryClient(options.registry) : options.registry;
  const subjectOf = options.subject ?? ((topic, part) => `${topic}-${part}`);
  const writers = new Map<string, { header: Buffer; codec: Codec } | Promise<{ header: Buffer; codec: Codec }>>();
  const readers = new Map<number, Codec | Promise<Codec>>();
  const last: { topic: string; part: string; writer: { header: Buffer; codec: Codec } | null } = {
    topic: '',
    part: '',
    writer: null,
  };

  const writerFor = async (subject: string): Promise<{ header: Buffer; codec: Codec }> => {
    const schema = options.schema!;
    const id = await registry.register(subject, schema);
    const codec = codecOf(schema, await registry.dependencies(schema), options.messageName);
    const header = Buffer.alloc(HEADER_BYTES + codec.indexes.length);
    header[0] = MAGIC;
    header.writeInt32BE(id, 1);
    codec.indexes.copy(header, HEADER_BYTES);
    rememberIfAscii(header);
    return { header, codec };
  };
  const frame = (writer: { header: Buffer; codec: Codec }, value: T, context: SerdeContext): Serialized => {
    try {
      return writer.codec.encode(value, writer.header);
    } catch (err) {
      throw new MillraceError(
        'INVALID_RECORD',
        `cannot serialize the ${context.part} of a record of ${context.topic}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };
  const readerFor = async (id: number): Promise<Codec> => {
    const schema = await registry.schema(id);
    return codecOf(schema, await registry.dependencies(schema));
  };
  const decode = (codec: Codec, data: Buffer, context: SerdeContext): T => {
    try {
      const { start, message } =
        codec.indexes.length > 0 ? readIndexes(data, HEADER_BYTES) : { start: HEADER_BYTES, message: 0 };
      return codec.decode(data.subarray(start), message) as T;
    } catch (err) {
      throw new MillraceError(
        'INVALID_RECORD',
        `cannot deserialize the ${context.part} of a record of ${context.topic}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };

  return {
    serialize(value, context) {
      // The writer of the last topic and part: no subject string made per record.
      if (context.topic === last.topic && context.part === last.part && last.writer)
        return frame(last.writer, value, context);
      if (!options.schema) throw new MillraceError('INVALID_CONFIG', 'registrySerde needs a schema to serialize with');
      const writer = cached(writers, subjectOf(context.topic, context.part), writerFor);
      if (writer instanceof Promise) return writer.then((w) => frame(w, value, context));
      Object.assign(last, { topic: context.topic, part: context.part, writer });
      return frame(writer, value, context);
    },
    deserialize(data, context) {
      if (data.length < HEADER_BYTES || data[0] !== MAGIC)
        throw new MillraceError(
          'INVALID_RECORD',
          `the ${context.part} of a record of ${context.topic} is not in Confluent's wire format (magic byte 0 and a schema id)`,
        );
      const reader = cached(readers, data.readInt32BE(1), readerFor);
      return reader instanceof Promise ? reader.then((c) => decode(c, data, context)) : decode(reader, data, context);
    },
  };
}
