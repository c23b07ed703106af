/**
 * `millrace bench kafka`: kcat (librdkafka) producing to and consuming from one broker's Kafka
 * listener, as a Kafka user would measure a broker. kcat runs as its own process; the broker too.
 */
import { spawn } from 'node:child_process';
import { Millrace } from '../client/index.js';
import { startBenchCluster } from './workloads.js';

export interface KafkaBenchOptions {
  records: number;
  recordSize: number;
  partitions: number;
  acks: '0' | '1' | 'all';
}

/** Runs kcat with `args`, feeding `input` lines; resolves with the bytes it printed and the seconds it took. */
export function kcat(
  args: string[],
  input?: { lines: number; line: Buffer },
): Promise<{ seconds: number; outBytes: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('kcat', args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let outBytes = 0;
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (outBytes += d.length));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) =>
      reject(new Error(`cannot run kcat (apt-get install kcat): ${(err as Error).message}`, { cause: err })),
    );
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`kcat ${args.join(' ')} exited with ${code}: ${stderr.slice(-500)}`));
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, outBytes });
    });
    if (input) {
      // Lines in chunks of many, respecting the pipe's backpressure.
      const perChunk = Math.max(1, Math.floor((1 << 20) / input.line.length));
      const chunk = Buffer.concat(Array.from({ length: perChunk }, () => input.line));
      let left = input.lines;
      const write = (): void => {
        while (left > 0) {
          const n = Math.min(left, perChunk);
          left -= n;
          const ok = child.stdin!.write(n === perChunk ? chunk : chunk.subarray(0, n * input.line.length));
          if (!ok) return void child.stdin!.once('drain', write);
        }
        child.stdin!.end();
      };
      write();
    }
  });
}

export async function kafkaBench(o: KafkaBenchOptions): Promise<Record<string, unknown>> {
  const cluster = await startBenchCluster(1, { kafkaListeners: true });
  const client = new Millrace({ servers: cluster.nats, cluster: cluster.cluster, clientId: 'bench-kafka' });
  try {
    const admin = client.admin();
    const topic = 'kafka-bench';
    await admin.createTopics({ topics: [{ topic, numPartitions: o.partitions }] });
    const bootstrap = (await admin.describeCluster()).brokers[0]!.kafkaEndpoint!;
    const line = Buffer.alloc(o.recordSize + 1, 'x');
    line[o.recordSize] = 0x0a;
    process.stderr.write(`producing ${o.records} records to ${bootstrap}\n`);
    const produced = await kcat(
      ['-b', bootstrap, '-P', '-t', topic, '-X', `acks=${o.acks === 'all' ? -1 : o.acks}`, '-X', 'linger.ms=5'],
      { lines: o.records, line },
    );
    const written = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.offset), 0);
    // One byte per record out: kcat's own formatting does not bound the figure.
    process.stderr.write(`produced in ${produced.seconds} s; consuming\n`);
    const consumed = await kcat(['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '.']);
    const rate = (seconds: number) => ({
      seconds: +seconds.toFixed(2),
      recordsPerSecond: Math.round(o.records / seconds),
      megabytesPerSecond: +((o.records * o.recordSize) / seconds / 1e6).toFixed(1),
    });
    return {
      bench: 'kafka',
      client: 'kcat (librdkafka)',
      ...o,
      produce: { ...rate(produced.seconds), recordsWritten: written },
      consume: { ...rate(consumed.seconds), recordsRead: consumed.outBytes },
    };
  } finally {
    await client.close();
    await cluster.stop();
  }
}
