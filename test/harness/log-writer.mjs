// A child process for chaos tests: appends numbered records (value "v<offset>") to one log
// forever, printing "acked <lastOffset>" after each append returns. SIGTERM closes cleanly.
import { LogManager, logConfig } from '../../dist/src/storage/index.js';
import { encodeRecordBatch } from '../../dist/protocol/records/index.js';

const [dataDir, segmentBytes] = process.argv.slice(2);
const config = logConfig({ segmentBytes: Number(segmentBytes), indexIntervalBytes: 512, retentionMs: -1 });
const manager = LogManager.open({ dataDir, configFor: () => config });
const log = manager.getOrCreate({ topic: 'chaos', partition: 0 });
let stopping = false;

process.on('SIGTERM', () => {
  stopping = true;
});

process.stdout.write(`started ${log.logEndOffset} ${manager.hadCleanShutdown}\n`);
while (!stopping) {
  const next = log.logEndOffset;
  const count = 1 + (next % 17);
  const records = Array.from({ length: count }, (_, i) => ({
    key: null,
    value: Buffer.from(`v${next + i}`.padEnd(40 + (i % 50), '.')),
  }));
  const info = log.appendAsLeader(encodeRecordBatch(records), 1);
  process.stdout.write(`acked ${info.lastOffset}\n`);
  // Yield so signals are handled and the parent sees progress.
  await new Promise((resolve) => setImmediate(resolve));
}
await manager.close();
process.stdout.write('closed\n');
