/**
 * `millrace demo`: the storage engine end to end in one process. Writes a partition log with
 * keys, headers and every codec, stops without a clean shutdown, recovers, reads everything
 * back and shows the first segment the way `dump-log` does.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeRecordBatches, encodeRecordBatch, type CompressionName } from '../../protocol/records/index.js';
import { LogManager, logConfig } from '../storage/index.js';
import { dumpLog } from './dump-log.js';

export async function runStorageDemo(dataDir: string | undefined, print: (line: string) => void): Promise<void> {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-demo-'));
  const tp = { topic: 'demo', partition: 0 };
  const config = logConfig({ segmentBytes: 64 * 1024 });
  const codecs: CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

  const first = LogManager.open({ dataDir: dir, configFor: () => config });
  const log = first.getOrCreate(tp);
  const start = log.logEndOffset;
  const batches = 200;
  for (let b = 0; b < batches; b++) {
    const records = Array.from({ length: 25 }, (_, i) => ({
      key: Buffer.from(`user-${(b * 25 + i) % 40}`),
      value: Buffer.from(JSON.stringify({ order: start + b * 25 + i, amount: (b * 7 + i) % 100 })),
      headers: [{ key: 'source', value: Buffer.from('demo') }],
    }));
    log.appendAsLeader(encodeRecordBatch(records, { compression: codecs[b % codecs.length] }), 0);
  }
  print(`wrote ${batches * 25} records in ${batches} batches (codecs: ${codecs.join(', ')}) to ${log.dir}`);
  print(`log end offset ${log.logEndOffset}, ${log.segmentCount} segments, ${log.size} bytes`);
  print('stopping without a clean shutdown (no marker, no checkpoints, index entries not written)...');

  const second = LogManager.open({ dataDir: dir, configFor: () => config });
  const recovered = second.get(tp)!;
  print(`recovered: clean shutdown ${second.hadCleanShutdown}, log end offset ${recovered.logEndOffset}`);
  let offset = recovered.logStartOffset;
  let count = 0;
  while (offset < recovered.logEndOffset) {
    const { batches: read } = decodeRecordBatches(recovered.read(offset, 256 * 1024).records);
    for (const r of read.flatMap((b) => b.records)) {
      if (r.offset >= offset) count++;
    }
    offset = read.at(-1)!.header.baseOffset + read.at(-1)!.header.lastOffsetDelta + 1;
  }
  print(`read back ${count} records from offset ${recovered.logStartOffset}`);
  const at = recovered.offsetForTimestamp(0);
  print(`first offset with a timestamp: ${at?.offset ?? 'none'}`);
  await second.close();
  print(`clean shutdown written; first batches of ${path.basename(log.dir)}/00000000000000000000.log:`);
  let lines = 0;
  dumpLog(path.join(log.dir, '00000000000000000000.log'), {}, (line) => {
    if (lines++ < 6) print(`  ${line}`);
  });
  print(`data directory: ${dir} (inspect it with: millrace dump-log <segment.log> --records)`);
}
