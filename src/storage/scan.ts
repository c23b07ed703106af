/**
 * Reads the batches of a log file in large chunks, one read per chunk rather than one per
 * batch. Used by segments (recovery, lookups, reads) and by `millrace dump-log`.
 */
import {
  type BatchProblem,
  type RecordBatchHeader,
  BATCH_LENGTH,
  CURRENT_MAGIC,
  LOG_OVERHEAD,
  RECORD_BATCH_OVERHEAD,
  checkBatch,
  newBatchHeader,
  readBatchHeader,
} from '../../protocol/records/index.js';
import { readAt } from './files.js';

/** Called for each batch; return false to stop. `buf` holds the header at `pos`, and the whole batch with `wholeBatches`. */
export type BatchVisitor = (buf: Buffer, pos: number, position: number, header: RecordBatchHeader) => boolean;

export interface ScanResult {
  /** Position after the last batch visited (or of the batch the scan stopped at). */
  endPosition: number;
  /** Why the scan ended before `to`, when the bytes there are not a batch. */
  problem: BatchProblem | null;
}

export interface ScanOptions {
  /** Check each batch's CRC-32C and stop at the first mismatch. */
  verifyCrc: boolean;
  /** Hand the visitor whole batches (implied by verifyCrc). */
  wholeBatches: boolean;
  chunkBytes?: number | undefined;
}

const DEFAULT_CHUNK_BYTES = 1024 * 1024;

export function scanBatches(
  fd: number,
  file: string,
  from: number,
  to: number,
  options: ScanOptions,
  visit: BatchVisitor,
): ScanResult {
  const header = newBatchHeader();
  const whole = options.wholeBatches || options.verifyCrc;
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  let abs = from;
  let need = 0;
  while (abs < to) {
    const want = Math.min(Math.max(chunkBytes, need), to - abs);
    const buf = readAt(fd, file, abs, want);
    if (buf.length < want) to = abs + buf.length;
    need = 0;
    let p = 0;
    while (p < buf.length) {
      const left = buf.length - p;
      if (left < RECORD_BATCH_OVERHEAD) {
        need = RECORD_BATCH_OVERHEAD;
        break;
      }
      const size = buf.readInt32BE(p + BATCH_LENGTH) + LOG_OVERHEAD;
      if (size < RECORD_BATCH_OVERHEAD) {
        return {
          endPosition: abs + p,
          problem: { kind: 'corrupt', message: `batch length ${size - LOG_OVERHEAD} is smaller than a batch header` },
        };
      }
      if (abs + p + size > to) {
        return {
          endPosition: abs + p,
          problem: { kind: 'truncated', message: `batch of ${size} bytes runs past the end of the file` },
        };
      }
      if (whole && left < size) {
        need = size;
        break;
      }
      if (options.verifyCrc) {
        const problem = checkBatch(buf, p, buf.length, header);
        if (problem !== null) return { endPosition: abs + p, problem };
      } else {
        readBatchHeader(buf, p, header);
        if (header.magic !== CURRENT_MAGIC) {
          return {
            endPosition: abs + p,
            problem: { kind: 'corrupt', message: `magic ${header.magic}, expected ${CURRENT_MAGIC}` },
          };
        }
      }
      if (!visit(buf, p, abs + p, header)) return { endPosition: abs + p, problem: null };
      p += size;
    }
    abs += p;
    if (need > 0 && abs + need > to) {
      return {
        endPosition: abs,
        problem: { kind: 'truncated', message: `${to - abs} bytes left at the end of the file, fewer than a batch` },
      };
    }
  }
  return { endPosition: abs, problem: null };
}
