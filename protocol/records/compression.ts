/**
 * Batch compression codecs, with Kafka's attribute numbers and framing so that stored batches
 * stay byte-compatible with Kafka clients: gzip (zlib), snappy in xerial framing (what the Java
 * client writes), lz4 frame format and zstd frames. All install from npm with no download step:
 * snappy and lz4 ship native builds inside registry packages, zstd is WebAssembly for
 * compression and pure JS (fzstd) for decompression, since Java's streaming zstd frames carry no
 * content size and fzstd handles them without guessing an output size.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from 'snappy';
import { compressFrameSync as lz4Compress, decompressFrameSync as lz4Decompress } from 'lz4-napi';
import { Zstd } from '@hpcc-js/wasm-zstd';
import { decompress as zstdDecompress } from 'fzstd';
import { MillraceError } from '../errors.js';

export const CompressionType = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionName = keyof typeof CompressionType;
export type CompressionCode = (typeof CompressionType)[CompressionName];

const names: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export function compressionName(code: number): CompressionName {
  const name = names[code];
  if (name === undefined) {
    throw new MillraceError(
      'UNSUPPORTED_COMPRESSION_TYPE',
      `compression type ${code} is not one of ${names.join(', ')}`,
    );
  }
  return name;
}

export function compressionCode(name: string): CompressionCode {
  if (!Object.hasOwn(CompressionType, name)) {
    throw new MillraceError('UNSUPPORTED_COMPRESSION_TYPE', `compression '${name}' is not one of ${names.join(', ')}`);
  }
  return CompressionType[name as CompressionName];
}

// WebAssembly instantiation is asynchronous, every call after it is not: loaded once, on first
// need, so that importing this module (and the SDK, and `require('millrace')`) stays synchronous.
let zstd: Zstd | null = null;
let zstdLoading: Promise<void> | null = null;

/** Resolves once every codec can compress: await it before building zstd batches. */
export function codecsReady(): Promise<void> {
  zstdLoading ??= Zstd.load().then((z) => {
    zstd = z;
  });
  return zstdLoading;
}
/** Kafka's default compression.zstd.level. */
const ZSTD_LEVEL = 3;

// xerial snappy-java stream framing: magic, version 1, compatible version 1, then blocks of
// [int32 compressed length][raw snappy]. The Java client writes 32 KiB input blocks.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
const XERIAL_BLOCK_BYTES = 32 * 1024;

function xerialCompress(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  parts.push(header);
  for (let start = 0; start < data.length; start += XERIAL_BLOCK_BYTES) {
    const block = snappyCompress(data.subarray(start, start + XERIAL_BLOCK_BYTES));
    const len = Buffer.allocUnsafe(4);
    len.writeInt32BE(block.length, 0);
    parts.push(len, block);
  }
  return Buffer.concat(parts);
}

function xerialDecompress(data: Buffer): Buffer {
  if (data.length < XERIAL_HEADER_BYTES || !data.subarray(0, 8).equals(XERIAL_MAGIC)) {
    // Plain snappy: what some non-Java clients write.
    return snappyUncompress(data, { asBuffer: true }) as Buffer;
  }
  const parts: Buffer[] = [];
  let pos = XERIAL_HEADER_BYTES;
  while (pos < data.length) {
    if (pos + 4 > data.length) throw new Error('snappy block length runs past the end of the batch');
    const len = data.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > data.length)
      throw new Error(`snappy block of ${len} bytes runs past the end of the batch`);
    parts.push(snappyUncompress(data.subarray(pos, pos + len), { asBuffer: true }) as Buffer);
    pos += len;
  }
  return Buffer.concat(parts);
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export function compress(code: number, data: Uint8Array): Buffer {
  const buf = asBuffer(data);
  switch (code) {
    case CompressionType.none:
      return buf;
    case CompressionType.gzip:
      return gzipSync(buf);
    case CompressionType.snappy:
      return xerialCompress(buf);
    case CompressionType.lz4:
      return lz4Compress(buf);
    case CompressionType.zstd:
      if (!zstd)
        throw new MillraceError('UNSUPPORTED_COMPRESSION_TYPE', 'zstd is not loaded yet: await codecsReady() first');
      return asBuffer(zstd.compress(buf, ZSTD_LEVEL));
    default:
      throw new MillraceError('UNSUPPORTED_COMPRESSION_TYPE', `compression type ${code} is not supported`);
  }
}

/** Inflates a compressed records section; codec failures surface as CORRUPT_MESSAGE. */
export function decompress(code: number, data: Uint8Array): Buffer {
  const buf = asBuffer(data);
  try {
    switch (code) {
      case CompressionType.none:
        return buf;
      case CompressionType.gzip:
        return gunzipSync(buf);
      case CompressionType.snappy:
        return xerialDecompress(buf);
      case CompressionType.lz4:
        return lz4Decompress(buf);
      case CompressionType.zstd:
        return asBuffer(zstdDecompress(buf));
    }
  } catch (err) {
    throw new MillraceError(
      'CORRUPT_MESSAGE',
      `cannot ${compressionName(code)}-decompress records: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  throw new MillraceError('UNSUPPORTED_COMPRESSION_TYPE', `compression type ${code} is not supported`);
}
