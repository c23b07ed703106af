/**
 * One generic reader and writer for every Kafka message and version, driven by the schema: a
 * field is read or written if the version has it, as a compact type in flexible versions, in
 * the tagged section when it is tagged there. Unknown tagged fields are skipped. Decoded bytes
 * and records are views into the frame (the frame buffer is never reused); large byte fields
 * are written as their own chunks, so a fetch response's records are never copied.
 */
import { inRange, type Field, type Fields, type MessageSpec, type StructOf, type TypeSpec } from './schema.js';

/** What an encoder accepts: any field may be left out (its default is written), int64 may be a number. */
export type Loose<T> = T extends Buffer
  ? T
  : T extends bigint
    ? bigint | number
    : T extends Array<infer U>
      ? Array<Loose<U>>
      : T extends object
        ? { [K in keyof T]?: Loose<T[K]> }
        : T;

/** A frame that does not decode as the message it claims to be. */
export class KafkaCodecError extends Error {}

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.end) throw new KafkaCodecError(`truncated: needed ${n} bytes at ${at} of ${this.end}`);
    this.pos = at + n;
    return at;
  }

  int8(): number {
    return this.buf.readInt8(this.need(1));
  }
  int16(): number {
    return this.buf.readInt16BE(this.need(2));
  }
  uint16(): number {
    return this.buf.readUInt16BE(this.need(2));
  }
  int32(): number {
    return this.buf.readInt32BE(this.need(4));
  }
  uint32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }
  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8));
  }
  float64(): number {
    return this.buf.readDoubleBE(this.need(8));
  }
  bool(): boolean {
    return this.buf[this.need(1)] !== 0;
  }
  uvarint(): number {
    let value = 0;
    for (let shift = 0; shift <= 28; shift += 7) {
      const b = this.buf[this.need(1)]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    throw new KafkaCodecError('unsigned varint longer than 5 bytes');
  }
  uuid(): string {
    const hex = this.buf.toString('hex', this.need(16), this.pos);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  /** A view of the next `n` bytes. */
  view(n: number): Buffer {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }
}

/** Collects a message as chunks: small writes into a scratch buffer, large byte fields as their own chunks. */
export class Writer {
  private readonly chunks: Buffer[] = [];
  private scratch: Buffer;
  private used = 0;
  private total = 0;

  constructor(private readonly chunkSize = 16 * 1024) {
    this.scratch = Buffer.allocUnsafe(chunkSize);
  }

  get length(): number {
    return this.total + this.used;
  }

  /** Reserves `n` bytes of scratch (possibly a new scratch buffer): read `this.scratch` after calling it. */
  private room(n: number): number {
    if (this.used + n > this.scratch.length) {
      this.flushScratch();
      this.scratch = Buffer.allocUnsafe(Math.max(this.chunkSize, n));
    }
    const at = this.used;
    this.used += n;
    return at;
  }

  private flushScratch(): void {
    if (this.used === 0) return;
    this.chunks.push(this.scratch.subarray(0, this.used));
    this.total += this.used;
    this.scratch = this.scratch.subarray(this.used);
    this.used = 0;
  }

  int8(v: number): void {
    const at = this.room(1);
    this.scratch.writeInt8(v, at);
  }
  int16(v: number): void {
    const at = this.room(2);
    this.scratch.writeInt16BE(v, at);
  }
  uint16(v: number): void {
    const at = this.room(2);
    this.scratch.writeUInt16BE(v, at);
  }
  int32(v: number): void {
    const at = this.room(4);
    this.scratch.writeInt32BE(v, at);
  }
  uint32(v: number): void {
    const at = this.room(4);
    this.scratch.writeUInt32BE(v, at);
  }
  int64(v: bigint): void {
    const at = this.room(8);
    this.scratch.writeBigInt64BE(BigInt.asIntN(64, v), at);
  }
  float64(v: number): void {
    const at = this.room(8);
    this.scratch.writeDoubleBE(v, at);
  }
  bool(v: boolean): void {
    const at = this.room(1);
    this.scratch[at] = v ? 1 : 0;
  }
  uvarint(v: number): void {
    let n = v >>> 0;
    while (n >= 0x80) {
      const at = this.room(1);
      this.scratch[at] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    const at = this.room(1);
    this.scratch[at] = n;
  }
  uuid(v: string): void {
    const hex = v.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new KafkaCodecError(`'${v}' is not a UUID`);
    const at = this.room(16);
    this.scratch.write(hex, at, 16, 'hex');
  }
  raw(b: Uint8Array): void {
    if (b.length >= 4096) {
      this.flushScratch();
      this.chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));
      this.total += b.length;
      return;
    }
    const at = this.room(b.length);
    this.scratch.set(b, at);
  }

  /** The chunks written so far (the writer must not be used after). */
  finish(): Buffer[] {
    this.flushScratch();
    return this.chunks;
  }
}

const utf8 = new TextEncoder();

// ---- reading -------------------------------------------------------------------------------

function readLength(r: Reader, compact: boolean): number {
  return compact ? r.uvarint() - 1 : r.int32();
}

function readValue(r: Reader, type: TypeSpec, version: number, flexible: boolean, nullable: boolean): unknown {
  switch (type.kind) {
    case 'int8':
      return r.int8();
    case 'int16':
      return r.int16();
    case 'int32':
      return r.int32();
    case 'int64':
      return r.int64();
    case 'uint16':
      return r.uint16();
    case 'uint32':
      return r.uint32();
    case 'float64':
      return r.float64();
    case 'bool':
      return r.bool();
    case 'uuid':
      return r.uuid();
    case 'string': {
      const n = flexible ? r.uvarint() - 1 : r.int16();
      if (n < 0) return nullOr(nullable, 'string');
      return r.view(n).toString('utf8');
    }
    case 'bytes':
    case 'records': {
      const n = readLength(r, flexible);
      if (n < 0) return nullOr(nullable, type.kind);
      return r.view(n);
    }
    case 'array': {
      const n = readLength(r, flexible);
      if (n < 0) return nullOr(nullable, 'array');
      // Each element takes at least a byte: a count beyond the frame is malformed, not an allocation.
      if (n > r.end - r.pos) throw new KafkaCodecError(`array of ${n} elements in ${r.end - r.pos} bytes`);
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = readValue(r, type.items, version, flexible, false);
      return out;
    }
    case 'struct':
      if (nullable && r.int8() < 0) return null;
      return readStruct(r, type.fields, version, flexible);
  }
}

function nullOr(nullable: boolean, what: string): null {
  if (!nullable) throw new KafkaCodecError(`null ${what} where the version does not allow one`);
  return null;
}

function readStruct(r: Reader, fields: Fields, version: number, flexible: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const plan = planOf(fields, version, flexible);
  for (const f of plan.absent) out[f.name] = defaultValue(f.field);
  for (const f of plan.inline) out[f.name] = readValue(r, f.field.type, version, flexible, f.nullable);
  if (flexible) {
    for (const f of plan.tagged) out[f.name] = defaultValue(f.field);
    readTagged(r, (tag, size) => {
      const f = plan.byTag.get(tag);
      if (!f) return void r.view(size);
      const end = r.pos + size;
      out[f.name] = readValue(r, f.field.type, version, flexible, f.nullable);
      if (r.pos !== end) throw new KafkaCodecError(`tagged field ${tag} is not ${size} bytes long`);
    });
  }
  return out;
}

/** The tagged section: a count, then tag, size and value for each. */
export function readTagged(r: Reader, each: (tag: number, size: number) => void): void {
  const count = r.uvarint();
  let last = -1;
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint();
    if (tag <= last) throw new KafkaCodecError(`tagged fields out of order: ${tag} after ${last}`);
    last = tag;
    each(tag, r.uvarint());
  }
}

// ---- writing -------------------------------------------------------------------------------

function writeLength(w: Writer, n: number, compact: boolean): void {
  if (compact) w.uvarint(n + 1);
  else w.int32(n);
}

function writeValue(
  w: Writer,
  type: TypeSpec,
  v: unknown,
  version: number,
  flexible: boolean,
  nullable: boolean,
): void {
  switch (type.kind) {
    case 'int8':
      return w.int8(v as number);
    case 'int16':
      return w.int16(v as number);
    case 'int32':
      return w.int32(v as number);
    case 'int64':
      return w.int64(typeof v === 'bigint' ? v : BigInt(v as number));
    case 'uint16':
      return w.uint16(v as number);
    case 'uint32':
      return w.uint32(v as number);
    case 'float64':
      return w.float64(v as number);
    case 'bool':
      return w.bool(v as boolean);
    case 'uuid':
      return w.uuid(v as string);
    case 'string': {
      if (v === null || v === undefined) {
        if (flexible) w.uvarint(0);
        else w.int16(-1);
        return;
      }
      const b = utf8.encode(v as string);
      if (flexible) w.uvarint(b.length + 1);
      else w.int16(b.length);
      return w.raw(b);
    }
    case 'bytes':
    case 'records': {
      if (v === null || v === undefined) return writeLength(w, -1, flexible);
      const b = v as Uint8Array;
      writeLength(w, b.length, flexible);
      return w.raw(b);
    }
    case 'array': {
      if (v === null || v === undefined) return writeLength(w, -1, flexible);
      const items = v as unknown[];
      writeLength(w, items.length, flexible);
      for (const item of items) writeValue(w, type.items, item, version, flexible, false);
      return;
    }
    case 'struct':
      if (nullable) {
        w.int8(v === null || v === undefined ? -1 : 1);
        if (v === null || v === undefined) return;
      }
      return writeStruct(w, type.fields, (v ?? {}) as Record<string, unknown>, version, flexible);
  }
}

function writeStruct(
  w: Writer,
  fields: Fields,
  value: Record<string, unknown>,
  version: number,
  flexible: boolean,
): void {
  const plan = planOf(fields, version, flexible);
  for (const f of plan.inline) {
    const v = value[f.name] ?? defaultValue(f.field);
    if (v === null && !f.nullable) throw new KafkaCodecError(`${f.name} may not be null in version ${version}`);
    writeValue(w, f.field.type, v, version, flexible, f.nullable);
  }
  if (!flexible) return;
  // Tagged fields at their default are left out, as Kafka does.
  const present = plan.tagged.filter((f) => !isDefault(value[f.name], f.field));
  w.uvarint(present.length);
  for (const f of present) {
    const sub = new Writer(256);
    writeValue(sub, f.field.type, value[f.name], version, flexible, f.nullable);
    const chunks = sub.finish();
    w.uvarint(f.field.tag!);
    w.uvarint(chunks.reduce((n, c) => n + c.length, 0));
    for (const c of chunks) w.raw(c);
  }
}

function isDefault(v: unknown, f: Field<unknown>): boolean {
  if (v === undefined || v === f.default) return true;
  if (Array.isArray(v)) return v.length === 0 && f.default !== null;
  if (f.type.kind === 'struct' && v !== null && f.nullable.min > f.nullable.max) {
    const struct = v as Record<string, unknown>;
    return Object.entries(f.type.fields).every(([name, sub]) => isDefault(struct[name], sub));
  }
  return false;
}

// ---- plans ---------------------------------------------------------------------------------

interface Planned {
  name: string;
  field: Field<unknown>;
  nullable: boolean;
}

interface Plan {
  inline: Planned[];
  tagged: Planned[];
  absent: Planned[];
  byTag: Map<number, Planned>;
}

const plans = new WeakMap<Fields, Map<number, Plan>>();

/** Which fields a version has, inline or tagged: computed once per struct and version. */
function planOf(fields: Fields, version: number, flexible: boolean): Plan {
  let byVersion = plans.get(fields);
  if (!byVersion) plans.set(fields, (byVersion = new Map()));
  const key = flexible ? version : -1 - version;
  let plan = byVersion.get(key);
  if (plan) return plan;
  plan = { inline: [], tagged: [], absent: [], byTag: new Map() };
  for (const [name, field] of Object.entries(fields)) {
    const p = { name, field, nullable: inRange(field.nullable, version) };
    if (!inRange(field.versions, version)) plan.absent.push(p);
    else if (field.tag !== null && inRange(field.tagged, version)) {
      if (!flexible) plan.absent.push(p);
      else {
        plan.tagged.push(p);
        plan.byTag.set(field.tag, p);
      }
    } else plan.inline.push(p);
  }
  plan.tagged.sort((a, b) => a.field.tag! - b.field.tag!);
  byVersion.set(key, plan);
  return plan;
}

function defaultValue(f: Field<unknown>): unknown {
  if (f.type.kind === 'array') return f.default === null ? null : [];
  if (f.type.kind === 'struct' && f.default === null && f.nullable.min > f.nullable.max) {
    const out: Record<string, unknown> = {};
    for (const [name, sub] of Object.entries(f.type.fields)) out[name] = defaultValue(sub);
    return out;
  }
  return f.default;
}

// ---- messages ------------------------------------------------------------------------------

export function supports(spec: MessageSpec, version: number): boolean {
  return inRange(spec.versions, version);
}

export function isFlexible(spec: MessageSpec, version: number): boolean {
  return inRange(spec.flexible, version);
}

/**
 * Decodes a message body of `version` from `r`, which must end where the body ends (unless
 * `trailing`: the fields of a newer version follow, unread).
 */
export function decodeMessage<F extends Fields>(
  spec: MessageSpec<F>,
  version: number,
  r: Reader,
  options: { trailing?: boolean } = {},
): StructOf<F> {
  if (!supports(spec, version)) throw new KafkaCodecError(`${spec.name} has no version ${version}`);
  const value = readStruct(r, spec.fields, version, isFlexible(spec, version));
  if (r.pos !== r.end && !options.trailing)
    throw new KafkaCodecError(`${spec.name} v${version}: ${r.end - r.pos} bytes left over`);
  return value as StructOf<F>;
}

/** Encodes a message body of `version` into `w`; missing fields are written as their defaults. */
export function encodeMessage<F extends Fields>(
  spec: MessageSpec<F>,
  version: number,
  value: Loose<StructOf<F>>,
  w: Writer,
): void {
  if (!supports(spec, version)) throw new KafkaCodecError(`${spec.name} has no version ${version}`);
  writeStruct(w, spec.fields, value as Record<string, unknown>, version, isFlexible(spec, version));
}
