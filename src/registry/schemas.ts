/**
 * The three schema types of Confluent's Schema Registry: parsing (with references to schemas
 * registered under other subjects), a canonical form (what makes two registrations "the same
 * schema", so they share an id), and whether a reader schema can read what a writer schema
 * wrote, the question every compatibility level is made of:
 * - AVRO: Avro's schema resolution, decided by avsc (`reader.createResolver(writer)`).
 * - PROTOBUF: Confluent's Protobuf rules: a reader keeps every message the writer had, and each
 *   field number keeps its kind, wire-compatible type and cardinality; proto2 required fields
 *   are neither added nor removed.
 * - JSON: JSON Schema by Confluent's rules for the common keywords: every value the writer
 *   allows, the reader must allow (types, required, properties of open and closed content
 *   models, enums, items, numeric and length bounds).
 */
import avro from 'avsc';
import protobuf from 'protobufjs';

export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';
export const SCHEMA_TYPES: readonly SchemaType[] = ['AVRO', 'JSON', 'PROTOBUF'];

export interface Reference {
  /** AVRO: the referenced type's full name; PROTOBUF: the import path; JSON: the $ref URL. */
  name: string;
  subject: string;
  version: number;
}

/** A schema with what its references resolve to (in dependency order, deepest first). */
export interface ResolvedSchema {
  type: SchemaType;
  schema: string;
  references: Reference[];
  /** The referenced schemas' texts, keyed by reference name, transitively. */
  dependencies: Map<string, string>;
}

export class InvalidSchemaError extends Error {}

/** A parsed schema, ready to compare. */
export type Parsed =
  | { type: 'AVRO'; avro: avro.Type }
  | { type: 'PROTOBUF'; root: protobuf.Root; messages: Map<string, protobuf.Type> }
  | { type: 'JSON'; json: JsonSchema };

type JsonSchema = boolean | { [keyword: string]: unknown };

export function parseSchema(s: ResolvedSchema): Parsed {
  try {
    switch (s.type) {
      case 'AVRO': {
        const registry: Record<string, avro.Type> = {};
        for (const dep of s.dependencies.values()) avro.Type.forSchema(JSON.parse(dep) as avro.Schema, { registry });
        return { type: 'AVRO', avro: avro.Type.forSchema(JSON.parse(s.schema) as avro.Schema, { registry }) };
      }
      case 'PROTOBUF': {
        const root = new protobuf.Root();
        for (const dep of s.dependencies.values()) protobuf.parse(dep, root, { keepCase: true });
        const parsed = protobuf.parse(s.schema, root, { keepCase: true });
        root.resolveAll();
        const messages = new Map<string, protobuf.Type>();
        const collect = (ns: protobuf.NamespaceBase): void => {
          for (const nested of ns.nestedArray) {
            if (nested instanceof protobuf.Type) messages.set(nested.fullName.replace(/^\./, ''), nested);
            if (nested instanceof protobuf.Namespace) collect(nested);
          }
        };
        // Only this schema's own messages count (the package's namespace, not its imports').
        collect(parsed.package ? (root.lookup(parsed.package)! as protobuf.Namespace) : root);
        return { type: 'PROTOBUF', root, messages };
      }
      case 'JSON': {
        const json = JSON.parse(s.schema) as unknown;
        if (typeof json !== 'boolean' && (typeof json !== 'object' || json === null || Array.isArray(json)))
          throw new Error('a JSON Schema is an object or a boolean');
        return { type: 'JSON', json: json as JsonSchema };
      }
    }
  } catch (err) {
    throw new InvalidSchemaError(`invalid ${s.type} schema: ${(err as Error).message}`);
  }
}

/** The form two registrations are compared in: whitespace and key order do not make a new schema. */
export function canonical(type: SchemaType, schema: string): string {
  if (type === 'PROTOBUF') return schema.replace(/\s+/g, ' ').trim();
  try {
    return JSON.stringify(sortKeys(JSON.parse(schema)));
  } catch {
    return schema;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

/** Why `reader` cannot read what `writer` wrote (empty: it can). */
export function readProblems(reader: Parsed, writer: Parsed): string[] {
  if (reader.type !== writer.type) return [`the schema type changed from ${writer.type} to ${reader.type}`];
  if (reader.type === 'AVRO' && writer.type === 'AVRO') {
    try {
      reader.avro.createResolver(writer.avro);
      return [];
    } catch (err) {
      return [(err as Error).message];
    }
  }
  if (reader.type === 'PROTOBUF' && writer.type === 'PROTOBUF') return protobufProblems(reader, writer);
  if (reader.type === 'JSON' && writer.type === 'JSON') return jsonProblems(reader.json, writer.json, '#');
  return [];
}

// Scalar types that share a wire encoding: a field may move between the members of one group.
const WIRE_GROUPS = [
  ['int32', 'uint32', 'int64', 'uint64', 'bool'],
  ['sint32', 'sint64'],
  ['fixed32', 'sfixed32'],
  ['fixed64', 'sfixed64'],
  ['string', 'bytes'],
];
const SCALARS = new Set([...WIRE_GROUPS.flat(), 'double', 'float']);
const wireCompatible = (a: string, b: string): boolean =>
  a === b || WIRE_GROUPS.some((g) => g.includes(a) && g.includes(b));

function protobufProblems(
  reader: Extract<Parsed, { type: 'PROTOBUF' }>,
  writer: Extract<Parsed, { type: 'PROTOBUF' }>,
): string[] {
  const problems: string[] = [];
  for (const [name, w] of writer.messages) {
    const r = reader.messages.get(name);
    if (!r) {
      problems.push(`message ${name} was removed`);
      continue;
    }
    for (const wf of w.fieldsArray) {
      const rf = r.fieldsById[wf.id];
      if (!rf) {
        if (wf.required) problems.push(`${name}: required field ${wf.name} (${wf.id}) was removed`);
        continue;
      }
      const wScalar = SCALARS.has(wf.type);
      const rScalar = SCALARS.has(rf.type);
      if (wScalar !== rScalar) problems.push(`${name}: field ${wf.id} changed kind (${wf.type} to ${rf.type})`);
      else if (wScalar && !wireCompatible(wf.type, rf.type))
        problems.push(`${name}: field ${wf.id} changed type (${wf.type} to ${rf.type})`);
      else if (!wScalar && wf.resolvedType?.fullName !== rf.resolvedType?.fullName)
        problems.push(`${name}: field ${wf.id} changed type (${wf.type} to ${rf.type})`);
      if (wf.repeated !== rf.repeated || Boolean(wf.map) !== Boolean(rf.map))
        problems.push(`${name}: field ${wf.id} changed between singular, repeated and map`);
    }
    for (const rf of r.fieldsArray)
      if (rf.required && !w.fieldsById[rf.id]) problems.push(`${name}: required field ${rf.name} (${rf.id}) was added`);
  }
  return problems;
}

const TYPE_NAMES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];

function typesOf(s: Record<string, unknown>): Set<string> {
  const t = s.type;
  if (typeof t === 'string') return new Set([t]);
  if (Array.isArray(t)) return new Set(t as string[]);
  return new Set(TYPE_NAMES);
}

/** Every value `writer` allows, `reader` must allow; `at` is the JSON pointer for messages. */
function jsonProblems(reader: JsonSchema, writer: JsonSchema, at: string): string[] {
  if (reader === true || writer === false) return [];
  if (reader === false) return [`${at}: the reader allows nothing`];
  const w = writer === true ? {} : writer;
  const r = reader;
  const problems: string[] = [];
  const rTypes = typesOf(r);
  for (const t of typesOf(w))
    if (!rTypes.has(t) && !(t === 'integer' && rTypes.has('number')))
      problems.push(`${at}: type ${t} is no longer allowed`);
  const rRequired = new Set((r.required as string[] | undefined) ?? []);
  const wRequired = new Set((w.required as string[] | undefined) ?? []);
  for (const name of rRequired) if (!wRequired.has(name)) problems.push(`${at}: property ${name} became required`);
  const rProps = (r.properties as Record<string, JsonSchema> | undefined) ?? {};
  const wProps = (w.properties as Record<string, JsonSchema> | undefined) ?? {};
  const rOpen = r.additionalProperties !== false;
  const wOpen = w.additionalProperties !== false;
  for (const [name, ws] of Object.entries(wProps)) {
    const rs = rProps[name];
    if (rs !== undefined) problems.push(...jsonProblems(rs, ws, `${at}/properties/${name}`));
    else if (!rOpen) problems.push(`${at}: property ${name} was removed from a closed content model`);
    else if (typeof r.additionalProperties === 'object')
      problems.push(...jsonProblems(r.additionalProperties as JsonSchema, ws, `${at}/properties/${name}`));
  }
  for (const name of Object.keys(rProps))
    if (!(name in wProps) && wOpen) problems.push(`${at}: property ${name} was added to an open content model`);
  if (Array.isArray(r.enum)) {
    const allowed = new Set((r.enum as unknown[]).map((v) => JSON.stringify(v)));
    const written = Array.isArray(w.enum) ? (w.enum as unknown[]) : null;
    if (!written) problems.push(`${at}: an enum was added`);
    else
      for (const v of written)
        if (!allowed.has(JSON.stringify(v))) problems.push(`${at}: enum value ${JSON.stringify(v)} was removed`);
  }
  if (r.items !== undefined && w.items !== undefined && !Array.isArray(r.items) && !Array.isArray(w.items))
    problems.push(...jsonProblems(r.items as JsonSchema, w.items as JsonSchema, `${at}/items`));
  for (const [key, narrower] of [
    ['minimum', (rv: number, wv: number | undefined) => wv === undefined || rv > wv],
    ['minLength', (rv: number, wv: number | undefined) => wv === undefined || rv > wv],
    ['minItems', (rv: number, wv: number | undefined) => wv === undefined || rv > wv],
    ['maximum', (rv: number, wv: number | undefined) => wv === undefined || rv < wv],
    ['maxLength', (rv: number, wv: number | undefined) => wv === undefined || rv < wv],
    ['maxItems', (rv: number, wv: number | undefined) => wv === undefined || rv < wv],
  ] as const)
    if (typeof r[key] === 'number' && narrower(r[key], w[key] as number | undefined))
      problems.push(`${at}: ${key} became stricter`);
  return problems;
}
