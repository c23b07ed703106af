/**
 * Zigzag varints as RecordBatch v2 uses them (protobuf's encoding). Values are JS numbers:
 * exact up to 2^53, which covers every offset delta, length and timestamp delta a valid batch
 * holds. Fast paths use 32-bit bit operations; larger values fall back to arithmetic.
 */

export class VarintError extends Error {}

const TWO_POW_31 = 2 ** 31;

function zigzagEncode(n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) return ((n << 1) ^ (n >> 31)) >>> 0;
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function zigzagDecode(u: number): number {
  if (u < TWO_POW_31) return (u >>> 1) ^ -(u & 1);
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

function unsignedVarintSize(u: number): number {
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

/** Bytes a signed value takes as a zigzag varint. */
export function varintSize(n: number): number {
  return unsignedVarintSize(zigzagEncode(n));
}

/** Writes a signed value as a zigzag varint at pos; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  let u = zigzagEncode(n);
  while (u >= 0x80) {
    buf[pos++] = (u % 128) | 0x80;
    u = Math.floor(u / 128);
  }
  buf[pos++] = u;
  return pos;
}

/** A read position over a buffer; one object per decode, not per value. */
export class Cursor {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  readVarint(): number {
    const { buf, end } = this;
    let pos = this.pos;
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new VarintError('varint runs past the end of its buffer');
      const byte = buf[pos++]!;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        this.pos = pos;
        return zigzagDecode(result);
      }
      multiplier *= 128;
    }
    throw new VarintError('varint longer than 10 bytes');
  }

  readInt8(): number {
    if (this.pos >= this.end) throw new VarintError('int8 runs past the end of its buffer');
    const b = this.buf[this.pos++]!;
    return b > 127 ? b - 256 : b;
  }

  /** Moves past the next n bytes without making a view of them. */
  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new VarintError(`field of ${n} bytes runs past the end of its buffer`);
    this.pos += n;
  }

  /** A view (not a copy) of the next n bytes. */
  readBytes(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.end) throw new VarintError(`field of ${n} bytes runs past the end of its buffer`);
    const view = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }
}
