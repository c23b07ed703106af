/** Helpers for storage tests: temporary directories and batches with known contents. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  decodeRecordBatches,
  encodeRecordBatch,
  type CompressionName,
  type DecodedRecord,
} from '../../protocol/records/index.js';

export function tempDir(prefix = 'millrace-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A batch of `count` records whose values name their sequence number: "v<first + i>". */
export function batchOf(
  first: number,
  count: number,
  timestamp = 1_700_000_000_000,
  compression: CompressionName = 'none',
  valueBytes = 0,
): Buffer {
  return encodeRecordBatch(
    Array.from({ length: count }, (_, i) => ({
      key: Buffer.from(`k${(first + i) % 10}`),
      value: Buffer.concat([Buffer.from(`v${first + i}`), Buffer.alloc(valueBytes)]),
      timestamp: timestamp + i,
    })),
    { compression },
  );
}

/** Every record in a buffer of whole batches. */
export function recordsIn(buf: Buffer): DecodedRecord[] {
  const { batches, tail } = decodeRecordBatches(buf);
  if (tail) throw new Error(`unexpected ${tail.kind} data at byte ${tail.position}: ${tail.message}`);
  return batches.flatMap((b) => b.records);
}

/** The sequence numbers ("v<n>") of the records in a buffer. */
export function sequenceNumbers(buf: Buffer): number[] {
  return recordsIn(buf).map((r) => Number(r.value!.toString('utf8', 1).replace(/\0+$/, '')));
}
