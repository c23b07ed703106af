/**
 * Runs a chaos scenario: starts the cluster, creates the topic, runs the workload while the
 * fault schedule injects one fault at a time (each healed after the fault's duration), then
 * heals everything, lets the consumers catch up, reads every partition twice and checks the
 * history.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Millrace } from '../client/index.js';
import { check, summarize, type Verdict } from './checker.js';
import { ChaosCluster } from './cluster.js';
import { seededRandom } from './fault-proxy.js';
import type { FaultKind, Scenario } from './scenario.js';
import { natsClients, type ChaosClients } from './clients.js';
import { kafkaClients } from './kafka-clients.js';
import { Workload } from './workload.js';
import { TxnWorkload, copyTopic, txnTopic } from './txn-workload.js';
import { txnForensics, type BrokenTxn } from './txn-forensics.js';
import { checkTransactions, summarizeTransactions, type TxnVerdict } from './txn-checker.js';
import { TRANSACTION_STATE_TOPIC } from '../broker/txn/txn-log.js';
import { StreamsWorkload } from './streams-workload.js';
import { summarizeStreams, type StreamsVerdict } from './streams-checker.js';
import { transactionStatePartition } from '../broker/txn/txn-rules.js';

export interface RunOptions {
  /** Progress lines for a person (stderr in the CLI). */
  log?: (line: string) => void;
  /** Keep the cluster's files (default: removed after the run). */
  keepDir?: boolean;
  /** Write the recorded history here as JSON, for a closer look at a verdict. */
  historyFile?: string;
}

export interface RunResult {
  scenario: string;
  seed: number;
  durationMs: number;
  faults: { total: number; byKind: Partial<Record<FaultKind, number>>; healFailures: number };
  verdict: Verdict;
  /** The transactional workload's verdict, when the scenario has one. */
  transactions: TxnVerdict | null;
  /** The streams workload's verdict, when the scenario has one. */
  streams: StreamsVerdict | null;
  /** For a run with a broken transaction: the batches around it in every replica (see txn-forensics.ts). */
  forensics: string[];
  summary: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const TXN_STATE_PARTITIONS = 6;

/** Settings that make failover quick on a small machine; a scenario's brokerConfig overrides them. */
const CHAOS_BROKER_DEFAULTS = {
  sessionTimeoutMs: 2_000,
  heartbeatIntervalMs: 200,
  controllerLeaseMs: 2_000,
  replicaLagTimeMaxMs: 5_000,
  offsetsTopicPartitions: 6,
  transactionStateLogNumPartitions: TXN_STATE_PARTITIONS,
  groupInitialRebalanceDelayMs: 500,
  groupMinSessionTimeoutMs: 1_000,
};

export async function runScenario(s: Scenario, options: RunOptions = {}): Promise<RunResult> {
  const log = options.log ?? (() => undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `millrace-chaos-${s.name}-`));
  const random = seededRandom(s.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const started = Date.now();
  const cluster = await ChaosCluster.start({
    brokers: s.brokers,
    natsNodes: s.natsNodes,
    dir,
    cluster: `chaos_${s.name.replace(/[^a-zA-Z0-9_-]/g, '_')}_${s.seed}`,
    seed: s.seed,
    brokerConfig: { ...CHAOS_BROKER_DEFAULTS, ...s.brokerConfig },
    kafkaListeners: s.client === 'kafka',
  });
  let door: ChaosClients;
  try {
    door =
      s.client === 'kafka'
        ? await kafkaClients(cluster.kafkaBootstrap)
        : natsClients(cluster.natsUrls, cluster.options.cluster);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const workload = new Workload(
    {
      servers: cluster.natsUrls,
      cluster: cluster.options.cluster,
      topic: s.topic.name,
      partitions: s.topic.partitions,
      producers: s.workload.producers,
      rate: s.workload.rate,
      consumers: s.workload.consumers,
      group: 'chaos-consumers',
    },
    door,
  );
  const txnOptions = s.workload.transactions;
  const txnWorkload = txnOptions
    ? new TxnWorkload({
        servers: cluster.natsUrls,
        cluster: cluster.options.cluster,
        topic: s.topic.name,
        partitions: s.topic.partitions,
        ...txnOptions,
      })
    : null;
  const streamsOptions = s.workload.streams;
  const streamsWorkload = streamsOptions
    ? new StreamsWorkload({
        servers: cluster.natsUrls,
        cluster: cluster.options.cluster,
        dir,
        applicationId: 'chaos-streams',
        ...streamsOptions,
        partitions: s.topic.partitions,
        replicationFactor: Math.min(s.topic.replicationFactor, s.brokers),
        minInsyncReplicas: Math.min(s.topic.minInsyncReplicas, s.brokers),
        log,
      })
    : null;
  let streams: StreamsVerdict | null = null;
  const byKind: Partial<Record<FaultKind, number>> = {};
  let total = 0;
  let healFailures = 0;
  try {
    const setup = new Millrace({
      servers: cluster.natsUrls,
      cluster: cluster.options.cluster,
      requestTimeoutMs: 10_000,
    });
    const names = [s.topic.name, ...(txnWorkload ? [txnTopic(s.topic.name), copyTopic(s.topic.name)] : [])];
    await setup.admin().createTopics({
      topics: names.map((topic) => ({
        topic,
        numPartitions: s.topic.partitions,
        replicationFactor: Math.min(s.topic.replicationFactor, s.brokers),
        configs: { 'min.insync.replicas': String(Math.min(s.topic.minInsyncReplicas, s.brokers)) },
      })),
    });
    await setup.close();
    log(`${s.name}: cluster of ${s.brokers} brokers on ${s.natsNodes} NATS node(s) up; workload running`);
    if (streamsWorkload) {
      await streamsWorkload.start();
      streamsWorkload.startInput();
    }
    workload.start();
    txnWorkload?.start();
    // The run lasts durationMs from here (the cluster's start-up does not count) and injects at least minCount faults.
    const end = Date.now() + s.durationMs;
    const more = (): boolean => Date.now() < end || total < s.faults.minCount;
    while (more()) {
      await sleep(s.faults.intervalMs);
      if (!more()) break;
      const kind = pick(s.faults.kinds);
      const target = await chooseBroker(cluster, s, pick, total);
      log(`fault ${total + 1}: ${kind}${describeTarget(kind, target)}`);
      try {
        if (kind === 'kill-streams-instance') await streamsWorkload!.killInstance(total, s.faults.durationMs);
        else await inject(cluster, kind, target, s.faults.durationMs, pick);
      } catch (err) {
        // A heal that failed (a process that would not start) is retried; the run goes on.
        log(`fault ${total + 1} did not heal cleanly: ${(err as Error).message.split('\n')[0]}`);
        healFailures++;
        await restoreEverything(cluster, log);
      }
      total++;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      await waitHealthy(cluster, log);
    }
    log('faults over: stopping producers, letting consumers catch up, reading every partition');
    await workload.stopProducers();
    if (txnWorkload) {
      const ends = await inputEnds(cluster, s.topic.name);
      await txnWorkload.finish(ends, 60_000);
    }
    if (streamsWorkload) {
      await streamsWorkload.stopInput();
      streams = await streamsWorkload.verify(180_000);
    }
    await workload.drainConsumers(60_000);
    await workload.finalReads(2);
    txnWorkload?.setCopyInput(workload.history.finalReads[0] ?? []);
  } catch (err) {
    if (!options.keepDir) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await txnWorkload?.stop();
    await streamsWorkload?.stop();
    await workload.stop();
    await cluster.stop();
  }
  if (options.historyFile) fs.writeFileSync(options.historyFile, JSON.stringify(workload.history));
  if (options.historyFile && txnWorkload)
    fs.writeFileSync(
      options.historyFile.replace(/(\.json)?$/, '.transactions.json'),
      JSON.stringify(txnWorkload.history),
    );
  const verdict = check(workload.history);
  const transactions = txnWorkload ? checkTransactions(txnWorkload.history) : null;
  // A broken transaction is explained from the brokers' files before they are removed.
  const forensics =
    transactions && !transactions.valid ? explainBrokenTransactions(dir, s.topic.name, transactions) : [];
  if (!options.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  return {
    scenario: s.name,
    seed: s.seed,
    durationMs: Date.now() - started,
    faults: { total, byKind, healFailures },
    verdict,
    transactions,
    streams,
    forensics,
    summary:
      `${s.name} (seed ${s.seed}): ${total} faults; ${summarize(verdict)}` +
      (transactions ? `; ${summarizeTransactions(transactions)}` : '') +
      (streams ? `; ${summarizeStreams(streams)}` : ''),
  };
}

/** A run passes when its history and (with transactions, streams) their verdicts are all valid. */
export const runValid = (r: RunResult): boolean =>
  r.verdict.valid && (r.transactions?.valid ?? true) && (r.streams?.valid ?? true);

function explainBrokenTransactions(dir: string, topic: string, v: TxnVerdict): string[] {
  const broken = [...(v.examples.partial ?? []), ...(v.examples.lostCommits ?? [])] as BrokenTxn[];
  const seen = new Set<string>();
  return broken
    .filter((t) => !seen.has(t.values.join()) && seen.add(t.values.join()))
    .flatMap((t) => txnForensics(dir, txnTopic(topic), t));
}

/** The plain topic's high watermarks: how far the copy pipeline must get. */
async function inputEnds(cluster: ChaosCluster, topic: string): Promise<Map<number, number>> {
  const client = new Millrace({
    servers: cluster.natsUrls,
    cluster: cluster.options.cluster,
    requestTimeoutMs: 10_000,
  });
  try {
    const ends = await client.admin().fetchTopicOffsets(topic);
    return new Map(ends.map((e) => [e.partition, Number(e.offset)]));
  } finally {
    await client.close();
  }
}

function describeTarget(kind: FaultKind, target: number): string {
  return kind === 'kill-broker' || kind === 'pause-broker' || kind === 'partition-broker' ? ` on broker ${target}` : '';
}

/** The broker a broker fault hits: the active controller, partition 0's leader, a transaction coordinator, or any. */
async function chooseBroker(
  cluster: ChaosCluster,
  s: Scenario,
  pick: <T>(items: readonly T[]) => T,
  n: number,
): Promise<number> {
  try {
    if (s.faults.target === 'txn-coordinator') {
      const id = n % 2 === 0 ? 'chaos-writer-0' : 'chaos-copier';
      const partitions = Number(s.brokerConfig.transactionStateLogNumPartitions ?? TXN_STATE_PARTITIONS);
      const leader = await cluster.leaderOf(TRANSACTION_STATE_TOPIC, transactionStatePartition(id, partitions));
      if (leader > 0) return leader;
    } else if (s.faults.target === 'controller') {
      const id = await cluster.controller();
      if (id > 0) return id;
    } else if (s.faults.target === 'leader') {
      const id = await cluster.leaderOf(s.topic.name, s.faults.targetPartition);
      if (id > 0) return id;
    }
  } catch {
    // No answer (the cluster is busy recovering): any broker will do.
  }
  return pick(cluster.running());
}

async function inject(
  cluster: ChaosCluster,
  kind: FaultKind,
  broker: number,
  durationMs: number,
  pick: <T>(items: readonly T[]) => T,
): Promise<void> {
  switch (kind) {
    case 'kill-broker':
      await cluster.killBroker(broker);
      await sleep(durationMs);
      await cluster.startBroker(broker);
      return;
    case 'pause-broker':
      cluster.pauseBroker(broker);
      await sleep(durationMs);
      cluster.resumeBroker(broker);
      return;
    case 'partition-broker':
      cluster.partitionBroker(broker);
      await sleep(durationMs);
      cluster.healBroker(broker);
      return;
    case 'kill-nats': {
      const node = pick(cluster.nodes.map((_, i) => i));
      await cluster.killNats(node);
      await sleep(durationMs);
      await cluster.restartNats(node);
      return;
    }
    case 'rolling-restart':
      await cluster.rollingRestart();
      return;
    case 'restart-all':
      await cluster.restartAll();
      return;
  }
}

/** Starts whatever is down: NATS nodes first, then brokers, each retried a few times. */
async function restoreEverything(cluster: ChaosCluster, log: (line: string) => void): Promise<void> {
  for (const [i, node] of cluster.nodes.entries()) {
    if (node.handle) continue;
    await cluster
      .restartNats(i)
      .catch((err: unknown) => log(`NATS node ${i} would not start: ${(err as Error).message}`));
  }
  for (const id of cluster.brokerIds) {
    cluster.resumeBroker(id);
    cluster.healBroker(id);
    for (let attempt = 1; !cluster.brokers.get(id) && attempt <= 3; attempt++) {
      await cluster
        .startBroker(id)
        .catch((err: unknown) =>
          log(`broker ${id} would not start (attempt ${attempt}): ${(err as Error).message.split('\n')[0]}`),
        );
    }
  }
}

/** Waits (bounded) until the NATS streams are whole and every broker is registered and unfenced again. */
async function waitHealthy(cluster: ChaosCluster, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await cluster.natsHealthy()) && (await cluster.liveBrokers()) === cluster.brokerIds.length) return;
    } catch {
      // not answering yet
    }
    await sleep(250);
  }
  log('the cluster did not recover within 60 s; going on');
}
