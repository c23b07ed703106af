/**
 * Streams end to end under faults, in the manner of Kafka's EOS test driver (the chaos
 * scenario `streams` runs the same workload under a random fault schedule): application
 * instances (child processes) aggregate numbered input per key (count, sum, min, max) and per key
 * and 10 s window (count) while instances are SIGKILLed and replaced and a broker is killed and
 * restarted. The verifier then reads input and output read_committed and recomputes every
 * aggregate: with exactly_once_v2 each key's updates are exactly 1, 2, ... n and the last one is
 * exact; with at_least_once nothing is lost (every count reaches at least the truth).
 *
 * The CI run is short; `npm run chaos:streams` runs a longer one (MILLRACE_STREAMS_EOS_RECORDS).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosCluster } from '../../src/chaos/cluster.js';
import { StreamsWorkload } from '../../src/chaos/streams-workload.js';
import type { Millrace } from '../../src/client/index.js';
import type { ProcessingGuarantee } from '../../src/streams/index.js';
import { QUICK_FAILOVER, startChaosCluster } from '../harness/chaos.js';
import { waitFor } from '../harness/cluster.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-chaos-streams-'));
const cluster = 'chaosstreams';
const RECORDS = Number(process.env.MILLRACE_STREAMS_EOS_RECORDS ?? 3_000);
/** Input records per second: the faults land while the instances process. */
const RATE = 300;

let chaos: ChaosCluster;
let client: Millrace;
const workloads: StreamsWorkload[] = [];

beforeAll(async () => {
  ({ chaos, client } = await startChaosCluster({
    dir: root,
    cluster,
    seed: 18,
    brokerConfig: { ...QUICK_FAILOVER, offsetsTopicPartitions: 3, transactionStateLogNumPartitions: 3 },
  }));
}, 120_000);

afterAll(async () => {
  for (const w of workloads) await w.stop().catch(() => undefined);
  await client?.close();
  await chaos?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Runs the application through instance and broker kills at sixths of the input; returns the verdict. */
async function runThroughFaults(app: string, guarantee: ProcessingGuarantee) {
  const workload = new StreamsWorkload({
    servers: chaos.natsUrls,
    cluster,
    dir: root,
    applicationId: app,
    guarantee,
    instances: 2,
    keys: 10,
    partitions: 4,
    replicationFactor: 3,
    minInsyncReplicas: 2,
    rate: RATE,
  });
  workloads.push(workload);
  await workload.start();
  workload.startInput();
  const step = Math.floor(RECORDS / 6);
  const reached = (n: number) => waitFor(`${n} input records`, () => workload.written >= n, 120_000);
  await reached(step);
  await workload.killInstance(0, 0); // an instance crashes: its tasks move to the other's standbys
  await reached(2 * step);
  await chaos.killBroker(2);
  await reached(3 * step);
  await chaos.startBroker(2);
  await reached(4 * step);
  await workload.killInstance(1, 0);
  await reached(RECORDS);
  await workload.stopInput();
  return workload.verify(180_000);
}

describe('streams end to end under faults', () => {
  it('exactly_once_v2: every aggregate exact, every update once, through instance and broker kills', async () => {
    const verdict = await runThroughFaults('eos', 'exactly_once_v2');
    expect(verdict.wrong).toEqual([]);
    expect(verdict.duplicatedOrSkipped).toEqual([]);
    expect(verdict.keys).toBe(10);
    expect(verdict.valid).toBe(true);
  }, 600_000);

  it('at_least_once: nothing lost through instance and broker kills', async () => {
    const verdict = await runThroughFaults('alos', 'at_least_once');
    expect(verdict.wrong).toEqual([]);
    expect(verdict.valid).toBe(true);
  }, 600_000);
});
