/**
 * `millrace bench streams`: a MillraceStreams instance's processing throughput on input written
 * beforehand (issue 18's aims: a stateless mapValues → to, and a keyed count into a persistent
 * store, one instance on one broker, 100-byte records), under at_least_once and exactly_once_v2.
 * The rate is from the first batch processed to the last record (start-up, mostly the group's
 * initial rebalance delay, is reported apart; the last is seen by polling, within 20 ms).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Millrace } from '../client/index.js';
import { MillraceStreams, StreamsBuilder, type ProcessingGuarantee } from '../streams/index.js';
import { observeLoad } from './observe.js';
import { benchTarget } from './workloads.js';

export type StreamsWorkload = 'map-values' | 'count';

export interface StreamsBenchOptions {
  records: number;
  recordSize: number;
  partitions: number;
  /** Distinct keys of the input (the count's store holds this many entries). */
  keys: number;
  workloads: StreamsWorkload[];
  guarantees: ProcessingGuarantee[];
}

const SEND_CHUNK = 1_000;
const POLL_MS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function writeInput(client: Millrace, topic: string, o: StreamsBenchOptions): Promise<void> {
  const value = Buffer.alloc(o.recordSize, 0x61);
  const keys = Array.from({ length: o.keys }, (_, i) => `key-${i}`);
  const producer = client.producer({ lingerMs: 5, batchSize: 256 * 1024 });
  const sends: Array<Promise<unknown>> = [];
  for (let sent = 0; sent < o.records; sent += SEND_CHUNK) {
    const n = Math.min(SEND_CHUNK, o.records - sent);
    sends.push(
      producer.send({
        topic,
        messages: Array.from({ length: n }, (_, i) => ({ key: keys[(sent + i) % o.keys], value })),
      }),
    );
    if (sends.length >= 64) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await producer.close();
}

function topology(workload: StreamsWorkload, input: string, output: string): StreamsBuilder {
  const builder = new StreamsBuilder();
  const stream = builder.stream<Buffer, Buffer>(input);
  if (workload === 'map-values') stream.mapValues((v) => v).to(output);
  else stream.groupByKey().count({ storeName: 'bench-counts' });
  return builder;
}

async function runOne(
  client: Millrace,
  connection: { servers: string; cluster: string },
  input: string,
  workload: StreamsWorkload,
  guarantee: ProcessingGuarantee,
  o: StreamsBenchOptions,
  processes: Parameters<typeof observeLoad>[0],
): Promise<Record<string, unknown>> {
  const id = `bench-${workload}-${guarantee}-${Date.now()}`;
  const output = `${id}-out`;
  await client.admin().createTopics({ topics: [{ topic: output, numPartitions: o.partitions, replicationFactor: 1 }] });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-bench-streams-'));
  const app = new MillraceStreams(topology(workload, input, output).build(), {
    ...connection,
    applicationId: id,
    processingGuarantee: guarantee,
    stateDir,
  });
  const started = process.hrtime.bigint();
  const elapsed = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;
  const processed = (): number => app.metrics().processedRecords;
  try {
    await app.start();
    // Joining the group (its initial rebalance delay) and creating the internal topics is
    // start-up, reported apart: the rate is from the first record processed to the last.
    const observer = await observeLoad(processes);
    while (processed() < o.records) await sleep(POLL_MS);
    const done = performance.now();
    const { commits, firstBatchAt } = app.metrics();
    const seconds = Math.max(done - firstBatchAt!, 1) / 1000;
    const startupSeconds = elapsed(started) - seconds;
    return {
      workload,
      processingGuarantee: guarantee,
      records: o.records,
      startupSeconds: +startupSeconds.toFixed(3),
      seconds: +seconds.toFixed(3),
      recordsPerSec: Math.round(o.records / seconds),
      commits,
      load: await observer.stop(),
    };
  } finally {
    await app.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function streamsBench(
  o: StreamsBenchOptions,
  target: { brokers: number } | { nats: string; cluster: string },
): Promise<Record<string, unknown>> {
  const { own, client } = await benchTarget(target, 'millrace-bench-streams');
  const connection = {
    servers: own?.nats ?? (target as { nats: string }).nats,
    cluster: own?.cluster ?? (target as { cluster: string }).cluster,
  };
  try {
    const input = `bench-streams-in-${Date.now()}`;
    await client
      .admin()
      .createTopics({ topics: [{ topic: input, numPartitions: o.partitions, replicationFactor: 1 }] });
    await writeInput(client, input, o);
    const runs: Array<Record<string, unknown>> = [];
    for (const workload of o.workloads)
      for (const guarantee of o.guarantees)
        runs.push(await runOne(client, connection, input, workload, guarantee, o, own?.processes() ?? []));
    return {
      bench: 'streams',
      ...o,
      brokers: 'brokers' in target ? target.brokers : 'external',
      runs,
    };
  } finally {
    await client.close();
    await own?.stop();
  }
}
