/** Helpers for storage tests: temporary directories and batches with known contents. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach } from 'vitest';
import {
  decodeRecordBatches,
  encodeRecordBatch,
  type CompressionName,
  type DecodedRecord,
} from '../../protocol/records/index.js';
import type { Log } from '../../src/storage/index.js';
import type { MillraceError } from '../../protocol/errors.js';

export function tempDir(prefix = 'millrace-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * For a test file's top level: the logs and temporary directories it hands over are closed and
 * removed after each test.
 */
export function cleanedAfterEach(): { dir: () => string; log: (log: Log) => Log } {
  const dirs: string[] = [];
  const logs: Log[] = [];
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close().catch(() => undefined);
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  return {
    dir: () => {
      const d = tempDir();
      dirs.push(d);
      return d;
    },
    log: (log) => {
      logs.push(log);
      return log;
    },
  };
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

/** The Kafka error name `fn` throws, or 'none'. */
export const errorNameOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as MillraceError).errorName;
  }
  return 'none';
};
