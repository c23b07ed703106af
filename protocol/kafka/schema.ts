/**
 * The declarative description of Kafka's messages, as Kafka's own message specs give them: per
 * field its type, the versions it exists in, the versions in which it may be null, and for tagged
 * fields its tag and tagged versions; per message its API key, valid versions and flexible
 * versions. One description serves every version: the generic codec (codec.ts) reads and writes
 * any version of any message from it, and the TypeScript type of a decoded message follows from
 * it too.
 */

/** An inclusive range of versions; `none` is empty. */
export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

const NONE: VersionRange = { min: 1, max: 0 };

/** Kafka's version notation: `3+`, `0-7`, `5`, or `none`. */
export function versions(spec: string): VersionRange {
  if (spec === 'none') return NONE;
  const plus = /^(\d+)\+$/.exec(spec);
  if (plus) return { min: Number(plus[1]), max: Number.MAX_SAFE_INTEGER };
  const range = /^(\d+)-(\d+)$/.exec(spec);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  if (/^\d+$/.test(spec)) return { min: Number(spec), max: Number(spec) };
  throw new Error(`bad version range '${spec}'`);
}

export const inRange = (r: VersionRange, v: number): boolean => v >= r.min && v <= r.max;

export type Primitive =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint16'
  | 'uint32'
  | 'float64'
  | 'bool'
  | 'uuid'
  | 'string'
  | 'bytes'
  | 'records';

export type TypeSpec =
  | { readonly kind: Primitive }
  | { readonly kind: 'array'; readonly items: TypeSpec }
  | { readonly kind: 'struct'; readonly fields: Fields };

const FIELD = Symbol('field');

/** One field; `T` is the type its value has in a decoded message. */
export interface Field<T> {
  readonly [FIELD]: true;
  readonly type: TypeSpec;
  readonly versions: VersionRange;
  readonly nullable: VersionRange;
  /** A tagged field is written in the tagged section of flexible versions, under its tag. */
  readonly tag: number | null;
  readonly tagged: VersionRange;
  /** The value a version without the field decodes to, and the value an encoder may omit. */
  readonly default: T;
}

export type Fields = Readonly<Record<string, Field<unknown>>>;

/** The value type of a struct described by `F`. */
export type StructOf<F extends Fields> = { -readonly [K in keyof F]: F[K] extends Field<infer T> ? T : never };

export interface FieldOptions {
  /** Versions the field exists in (default: all the message's versions). */
  versions?: string;
  /** Versions in which the field may be null. */
  nullable?: string;
  /** A tagged field: its tag, and the versions in which it is tagged (default: the field's versions). */
  tag?: number;
  taggedVersions?: string;
}

type Nullable<O, T> = O extends { nullable: string } ? T | null : T;

function field<T>(type: TypeSpec, o: FieldOptions | undefined, fallback: T, dflt?: T): Field<T> {
  const vs = versions(o?.versions ?? '0+');
  return {
    [FIELD]: true,
    type,
    versions: vs,
    nullable: o?.nullable ? versions(o.nullable) : NONE,
    tag: o?.tag ?? null,
    tagged: o?.tag === undefined ? NONE : o.taggedVersions ? versions(o.taggedVersions) : vs,
    default: dflt === undefined ? fallback : dflt,
  };
}

const primitive =
  <T>(kind: Primitive, fallback: T) =>
  (o?: FieldOptions & { default?: T }): Field<T> =>
    field({ kind }, o, fallback, o?.default);

export const int8 = primitive<number>('int8', 0);
export const int16 = primitive<number>('int16', 0);
export const int32 = primitive<number>('int32', 0);
export const uint16 = primitive<number>('uint16', 0);
export const uint32 = primitive<number>('uint32', 0);
export const int64 = primitive<bigint>('int64', 0n);
export const float64 = primitive<number>('float64', 0);
export const bool = primitive<boolean>('bool', false);
/** The zero UUID: "no topic id". */
export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
/** A UUID as its canonical text form. */
export const uuid = primitive<string>('uuid', ZERO_UUID);

export const string = <O extends FieldOptions & { default?: string | null }>(o?: O): Field<Nullable<O, string>> =>
  field({ kind: 'string' }, o, (o?.nullable ? null : '') as Nullable<O, string>, o?.default as Nullable<O, string>);

export const bytes = <O extends FieldOptions>(o?: O): Field<Nullable<O, Buffer>> =>
  field({ kind: 'bytes' }, o, (o?.nullable ? null : EMPTY) as Nullable<O, Buffer>);

/** A RecordBatch sequence, kept as the bytes it arrived as (never decoded by the broker). */
export const records = <O extends FieldOptions>(o?: O): Field<Nullable<O, Buffer>> =>
  field({ kind: 'records' }, o, (o?.nullable ? null : EMPTY) as Nullable<O, Buffer>);

const EMPTY = Buffer.alloc(0);

/** An array of a primitive field's type, or of structs with the fields given. */
export function array<T, O extends FieldOptions>(items: Field<T>, o?: O): Field<Nullable<O, T[]>>;
export function array<F extends Fields, O extends FieldOptions>(
  items: F,
  o?: O,
): Field<Nullable<O, Array<StructOf<F>>>>;
export function array(items: Field<unknown> | Fields, o?: FieldOptions): Field<unknown> {
  const itemType: TypeSpec = isField(items) ? items.type : { kind: 'struct', fields: items as Fields };
  return field({ kind: 'array', items: itemType }, o, o?.nullable ? null : []);
}

/** A nested struct (not an array of them). */
export const struct = <F extends Fields, O extends FieldOptions>(fields: F, o?: O): Field<Nullable<O, StructOf<F>>> =>
  field({ kind: 'struct', fields }, o, null as Nullable<O, StructOf<F>>);

function isField(x: unknown): x is Field<unknown> {
  return typeof x === 'object' && x !== null && FIELD in x;
}

export interface MessageSpec<F extends Fields = Fields> {
  readonly apiKey: number;
  readonly name: string;
  readonly versions: VersionRange;
  readonly flexible: VersionRange;
  readonly fields: F;
}

export type MessageOf<M> = M extends MessageSpec<infer F> ? StructOf<F> : never;

export function message<F extends Fields>(
  spec: { apiKey: number; name: string; versions: string; flexible: string },
  fields: F,
): MessageSpec<F> {
  return {
    apiKey: spec.apiKey,
    name: spec.name,
    versions: versions(spec.versions),
    flexible: versions(spec.flexible),
    fields,
  };
}
