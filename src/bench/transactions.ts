/**
 * `millrace bench transactions`: produce throughput of a transactional producer committing every
 * `commitIntervalMs`, beside the idempotent producer's in the same run (RF 3, acks=all by
 * default: issue 17's aim compares the two).
 */
import type { Millrace } from '../client/index.js';
import { observeLoad } from './observe.js';
import { benchTarget, percentiles, produceWorkload, type WorkloadOptions } from './workloads.js';

const SEND_CHUNK = 1_000;
const MAX_OUTSTANDING_SENDS = 64;

/** Produces `records` in transactions of about `commitIntervalMs` each; latency is per commit. */
async function transactionalWorkload(
  client: Millrace,
  topic: string,
  o: WorkloadOptions,
  commitIntervalMs: number,
): Promise<Record<string, unknown>> {
  const value = Buffer.alloc(o.recordSize, 0x61);
  const messages = Array.from({ length: SEND_CHUNK }, () => ({ value }));
  const producer = client.producer({
    transactionalId: `bench-${topic}`,
    batchSize: o.batchSize,
    lingerMs: o.lingerMs,
    compression: o.compression,
  });
  const commits: number[] = [];
  let transactions = 0;
  const started = process.hrtime.bigint();
  let sent = 0;
  while (sent < o.records) {
    const txn = await producer.transaction();
    const opened = Date.now();
    const outstanding = new Set<Promise<unknown>>();
    while (sent < o.records && Date.now() - opened < commitIntervalMs) {
      const n = Math.min(SEND_CHUNK, o.records - sent);
      const p = txn.send({ topic, messages: n === SEND_CHUNK ? messages : messages.slice(0, n) });
      const tracked: Promise<unknown> = p.then((): boolean => outstanding.delete(tracked));
      outstanding.add(tracked);
      sent += n;
      if (outstanding.size >= MAX_OUTSTANDING_SENDS) await Promise.race(outstanding);
    }
    const t0 = process.hrtime.bigint();
    await Promise.all(outstanding);
    await txn.commit();
    commits.push(Number(process.hrtime.bigint() - t0) / 1e6);
    transactions++;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await producer.close();
  return {
    records: sent,
    seconds: +seconds.toFixed(3),
    recordsPerSec: Math.round(sent / seconds),
    MBps: +((sent * o.recordSize) / 1e6 / seconds).toFixed(1),
    transactions,
    commitLatencyMs: percentiles(commits),
    commitLatencyUnit: 'from the last send of a transaction to its commit acknowledged (sends flushed, EndTxn)',
  };
}

export async function transactionsBench(
  o: WorkloadOptions,
  commitIntervalMs: number,
  target: { brokers: number } | { nats: string; cluster: string },
): Promise<Record<string, unknown>> {
  const { own, client } = await benchTarget(target, 'millrace-bench-transactions');
  try {
    const run = async (name: string, transactional: boolean): Promise<Record<string, unknown>> => {
      const topic = `bench-${name}-${Date.now()}`;
      await client
        .admin()
        .createTopics({ topics: [{ topic, numPartitions: o.partitions, replicationFactor: o.replicationFactor }] });
      const observer = await observeLoad(own?.processes() ?? []);
      const result = transactional
        ? await transactionalWorkload(client, topic, o, commitIntervalMs)
        : await produceWorkload(client, topic, { ...o, producers: 1, idempotent: true });
      return { ...result, load: await observer.stop() };
    };
    // Two runs of each in A-B-B-A order on the same cluster: a cluster gets slower as its logs
    // grow, and this order gives both producers the same share of early and late runs.
    const idempotentFirst = await run('idempotent-1', false);
    const transactionalFirst = await run('transactional-1', true);
    const transactionalSecond = await run('transactional-2', true);
    const idempotentSecond = await run('idempotent-2', false);
    const rate = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      Math.round((Number(a.recordsPerSec) + Number(b.recordsPerSec)) / 2);
    return {
      bench: 'transactions',
      ...o,
      commitIntervalMs,
      brokers: 'brokers' in target ? target.brokers : 'external',
      idempotent: { recordsPerSec: rate(idempotentFirst, idempotentSecond), runs: [idempotentFirst, idempotentSecond] },
      transactional: {
        recordsPerSec: rate(transactionalFirst, transactionalSecond),
        runs: [transactionalFirst, transactionalSecond],
      },
      transactionalOverIdempotent: +(
        rate(transactionalFirst, transactionalSecond) / rate(idempotentFirst, idempotentSecond)
      ).toFixed(3),
    };
  } finally {
    await client.close();
    await own?.stop();
  }
}
