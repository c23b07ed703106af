/**
 * `npm run bench:storage`: appends 64 KiB batches of 1 KiB records until at least --bytes are
 * written, then reads them back sequentially, and prints MB/s for both as JSON. Append speed is
 * given as written to the page cache (how Kafka and Millrace run by default) and including the
 * final fdatasync (comparable with `dd conv=fdatasync`). Reads come from the page cache unless
 * --drop-caches is given and allowed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { RecordBatchBuilder, newBatchHeader, readBatchHeader } from '../../protocol/records/index.js';
import { Log, logConfig } from '../storage/index.js';

const { values } = parseArgs({
  options: {
    bytes: { type: 'string', default: String(2 * 1024 ** 3) },
    'batch-bytes': { type: 'string', default: String(64 * 1024) },
    'record-bytes': { type: 'string', default: '1024' },
    'read-bytes': { type: 'string', default: String(1024 * 1024) },
    dir: { type: 'string' },
    'drop-caches': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

const targetBytes = Number(values.bytes);
const batchBytes = Number(values['batch-bytes']);
const recordBytes = Number(values['record-bytes']);
const readBytes = Number(values['read-bytes']);
for (const [name, v] of Object.entries({
  bytes: targetBytes,
  'batch-bytes': batchBytes,
  'record-bytes': recordBytes,
  'read-bytes': readBytes,
})) {
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
}

// One batch as large as fits in batch-bytes, of incompressible-looking 1 KiB values.
const builder = new RecordBatchBuilder({ initialCapacity: batchBytes });
const value = Buffer.from(Array.from({ length: recordBytes }, (_, i) => (i * 131 + 7) & 0xff));
const now = Date.now();
for (let i = 0; ; i++) {
  const record = { key: Buffer.from(`key-${i}`), value };
  if (builder.sizeInBytes + builder.estimateRecordSize(record, now) > batchBytes) break;
  builder.append(record, now);
}
const batch = builder.build();
const recordsPerBatch = builder.recordCount;

const base = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-bench-'));
const log = Log.open({ dir: path.join(base, 'bench-0'), config: logConfig({ retentionMs: -1 }) });
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;
const mbps = (bytes: number, s: number): number => Math.round(bytes / 1e6 / s);

let written = 0;
let batches = 0;
const appendStart = process.hrtime.bigint();
while (written < targetBytes) {
  log.appendAsLeader(batch, 0);
  written += batch.length;
  batches++;
}
const appendSeconds = seconds(appendStart);
await log.flush();
const appendWithSyncSeconds = seconds(appendStart);

let dropped = false;
if (values['drop-caches']) {
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    dropped = true;
  } catch {
    dropped = false;
  }
}

let read = 0;
let offset = 0;
const header = newBatchHeader();
const readStart = process.hrtime.bigint();
while (offset < log.logEndOffset) {
  const { records } = log.read(offset, readBytes);
  read += records.length;
  // Continue after the last batch returned.
  let p = 0;
  while (p < records.length) {
    readBatchHeader(records, p, header);
    offset = header.baseOffset + header.lastOffsetDelta + 1;
    p += header.sizeInBytes;
  }
}
const readSeconds = seconds(readStart);
await log.close();
if (!values.keep) fs.rmSync(base, { recursive: true, force: true });

console.log(
  JSON.stringify(
    {
      bench: 'storage',
      batchBytes: batch.length,
      recordsPerBatch,
      recordBytes,
      batches,
      records: batches * recordsPerBatch,
      bytesWritten: written,
      segments: Math.ceil(written / logConfig().segmentBytes),
      append: {
        seconds: +appendSeconds.toFixed(3),
        MBps: mbps(written, appendSeconds),
        recordsPerSec: Math.round((batches * recordsPerBatch) / appendSeconds),
      },
      appendIncludingFsync: { seconds: +appendWithSyncSeconds.toFixed(3), MBps: mbps(written, appendWithSyncSeconds) },
      read: {
        seconds: +readSeconds.toFixed(3),
        MBps: mbps(read, readSeconds),
        bytes: read,
        readBytesPerCall: readBytes,
        pageCacheDropped: dropped,
      },
      machine: { cpus: os.cpus().length, node: process.version },
    },
    null,
    2,
  ),
);
