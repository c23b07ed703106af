/**
 * `npm run bench:compare`: the same acknowledged produce workload against NATS JetStream (file
 * storage, one replica, async publishes with acks through the same nats.js client) and against
 * Millrace, on the same nats-server in the same run. Prints both and their ratio as JSON.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Millrace } from '../client/index.js';
import { connectNats } from '../transport/connection.js';
import { plainProduce, produceWorkload, startBenchCluster } from './workloads.js';

export interface CompareOptions {
  records: number;
  recordSize: number;
  partitions: number;
  /** JetStream publishes unacknowledged at most. */
  window: number;
}

/** The same acknowledged produce against JetStream and Millrace on one nats-server. */
export async function jetstreamCompare(o: CompareOptions): Promise<Record<string, unknown>> {
  const { records, recordSize, partitions } = o;
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
      if (inflight.size >= o.window) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    const jsSeconds = Number(process.hrtime.bigint() - jsStart) / 1e9;
    await jsm.streams.delete('BENCH');
    await nc.close();

    const client = new Millrace({ servers: cluster.nats, cluster: cluster.cluster });
    await client.admin().createTopics({ topics: [{ topic: 'bench-compare', numPartitions: partitions }] });
    const millrace = await produceWorkload(client, 'bench-compare', plainProduce(o, false));
    await client.close();
    const jetstreamRate = Math.round(records / jsSeconds);
    return {
      bench: 'compare',
      records,
      recordSize,
      jetstream: {
        recordsPerSec: jetstreamRate,
        seconds: +jsSeconds.toFixed(3),
        storage: 'file',
        replicas: 1,
        window: o.window,
      },
      millrace: { ...millrace, partitions, acks: 1 },
      ratio: +((millrace.recordsPerSec as number) / jetstreamRate).toFixed(1),
    };
  } finally {
    await cluster.stop();
  }
}

// Run as a script (npm run bench:compare): options from the command line.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '500000' },
      'record-size': { type: 'string', default: '100' },
      partitions: { type: 'string', default: '8' },
      window: { type: 'string', default: '2048' },
    },
  });
  const result = await jetstreamCompare({
    records: Number(values.records),
    recordSize: Number(values['record-size']),
    partitions: Number(values.partitions),
    window: Number(values.window),
  });
  console.log(JSON.stringify(result, null, 2));
}
