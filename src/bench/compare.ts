/**
 * `npm run bench:compare`: the same acknowledged produce workload against NATS JetStream (file
 * storage, one replica, async publishes with acks through the same nats.js client) and against
 * Millrace, on the same nats-server in the same run. Prints both and their ratio as JSON.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { parseArgs } from 'node:util';
import { Millrace } from '../client/index.js';
import { connectNats } from '../transport/connection.js';
import { plainProduce, produceWorkload, startBenchCluster } from './workloads.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '500000' },
    'record-size': { type: 'string', default: '100' },
    partitions: { type: 'string', default: '8' },
    window: { type: 'string', default: '2048' },
  },
});
const records = Number(values.records);
const recordSize = Number(values['record-size']);
const partitions = Number(values.partitions);
const windowSize = Number(values.window);

const cluster = await startBenchCluster(1);
try {
  // JetStream: async publish, at most `window` unacknowledged, every publish acknowledged.
  const nc = await connectNats({ servers: cluster.nats, name: 'bench-jetstream' });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'BENCH', subjects: ['bench.js'], storage: 'file', num_replicas: 1 });
  const js = jetstream(nc);
  const payload = new Uint8Array(recordSize).fill(0x61);
  const inflight = new Set<Promise<unknown>>();
  const jsStart = process.hrtime.bigint();
  for (let i = 0; i < records; i++) {
    const p: Promise<unknown> = js.publish('bench.js', payload).then(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= windowSize) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const jsSeconds = Number(process.hrtime.bigint() - jsStart) / 1e9;
  await jsm.streams.delete('BENCH');
  await nc.close();

  const client = new Millrace({ servers: cluster.nats, cluster: cluster.cluster });
  await client.admin().createTopics({ topics: [{ topic: 'bench-compare', numPartitions: partitions }] });
  const millrace = await produceWorkload(
    client,
    'bench-compare',
    plainProduce({ records, recordSize, partitions }, false),
  );
  await client.close();
  const jetstreamRate = Math.round(records / jsSeconds);
  console.log(
    JSON.stringify(
      {
        bench: 'compare',
        records,
        recordSize,
        jetstream: {
          recordsPerSec: jetstreamRate,
          seconds: +jsSeconds.toFixed(3),
          storage: 'file',
          replicas: 1,
          window: windowSize,
        },
        millrace: { ...millrace, partitions, acks: 1 },
        ratio: +((millrace.recordsPerSec as number) / jetstreamRate).toFixed(1),
      },
      null,
      2,
    ),
  );
} finally {
  await cluster.stop();
}
