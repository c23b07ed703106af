/**
 * Streams end to end under faults, in the manner of Kafka's EOS test driver: application
 * instances (child processes) aggregate numbered input per key (count, sum, min, max) and per key
 * and 10 s window (count) while instances are SIGKILLed and replaced and a broker is killed and
 * restarted. A verifier then reads input and output read_committed and recomputes every aggregate:
 * with exactly_once_v2 each key's updates are exactly 1, 2, ... n and the last one is exact; with
 * at_least_once nothing is lost (every count reaches at least the truth).
 *
 * The CI run is short; `npm run chaos:streams` runs a longer one (MILLRACE_STREAMS_EOS_RECORDS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosCluster } from '../../src/chaos/cluster.js';
import type { Millrace } from '../../src/client/index.js';
import type { ProcessingGuarantee } from '../../src/streams/index.js';
import { repoRoot } from '../harness/cli.js';
import { QUICK_FAILOVER, startChaosCluster } from '../harness/chaos.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-chaos-streams-'));
const cluster = 'chaosstreams';
const PARTITIONS = 4;
const KEYS = 10;
const RECORDS = Number(process.env.MILLRACE_STREAMS_EOS_RECORDS ?? 3_000);
const T0 = Date.UTC(2026, 0, 1);
/** Input timestamps: 10 ms apart, so windows of 10 s hold 1,000 values each. */
const timestampOf = (v: number): number => T0 + v * 10;
const WINDOW_MS = 10_000;

let chaos: ChaosCluster;
let client: Millrace;
const instances: ChildProcess[] = [];

interface Aggregate {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
}

beforeAll(async () => {
  ({ chaos, client } = await startChaosCluster({
    dir: root,
    cluster,
    seed: 18,
    brokerConfig: { ...QUICK_FAILOVER, offsetsTopicPartitions: 3, transactionStateLogNumPartitions: 3 },
  }));
}, 120_000);

afterAll(async () => {
  for (const c of instances) c.kill('SIGKILL');
  await client?.close();
  await chaos?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Starts an application instance; resolves once it is running. */
async function startInstance(app: string, guarantee: ProcessingGuarantee): Promise<ChildProcess> {
  const options = {
    nats: chaos.natsUrls[0],
    cluster,
    applicationId: app,
    guarantee,
    commitIntervalMs: guarantee === 'exactly_once_v2' ? 100 : 300,
    input: `${app}-in`,
    output: `${app}-agg`,
    windowedOutput: `${app}-wcount`,
    stateDir: fs.mkdtempSync(path.join(root, 'instance-')),
  };
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'test/harness/streams-eos-app.mjs'), JSON.stringify(options)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  instances.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('"running"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`instance exited (${code}) before it ran`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Writes values 0..RECORDS-1 (key k<v mod KEYS>) in chunks, calling `at` after each chunk. */
async function produceInput(topic: string, at: (written: number) => Promise<void>): Promise<void> {
  const producer = client.producer({ lingerMs: 2 });
  const CHUNK = 50;
  for (let v = 0; v < RECORDS; v += CHUNK) {
    // Spread over time, so the faults land while the instances process.
    await new Promise((r) => setTimeout(r, 30));
    const values = Array.from({ length: Math.min(CHUNK, RECORDS - v) }, (_, i) => v + i);
    await producer.send({
      topic,
      messages: values.map((x) => ({ key: `k${x % KEYS}`, value: String(x), timestamp: timestampOf(x) })),
    });
    await at(v + values.length);
  }
  await producer.close();
}

/** Every update of `topic` read_committed, in order per key, once the last ones satisfy `done`. */
async function readUpdates<T>(
  topic: string,
  done: (latest: Map<string, T>) => boolean,
): Promise<{ latest: Map<string, T>; updates: Map<string, T[]> }> {
  const consumer = client.consumer({ isolationLevel: 'read_committed', maxWaitMs: 200 });
  consumer.assign(
    Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })),
  );
  const latest = new Map<string, T>();
  const updates = new Map<string, T[]>();
  const iterator = consumer[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), 180_000)));
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), timeout]);
      if (next === null) throw new Error(`timed out reading the final aggregates of ${topic}`);
      const m = next.value as { key: Buffer; value: Buffer };
      const key = m.key.toString();
      const value = JSON.parse(m.value.toString()) as T;
      latest.set(key, value);
      updates.set(key, [...(updates.get(key) ?? []), value]);
      if (done(latest)) break;
    }
  } finally {
    clearTimeout(timer);
    await iterator.return?.();
  }
  return { latest, updates };
}

function expected(): { aggregates: Map<string, Aggregate>; windows: Map<string, number> } {
  const aggregates = new Map<string, Aggregate>();
  const windows = new Map<string, number>();
  for (let v = 0; v < RECORDS; v++) {
    const key = `k${v % KEYS}`;
    const a = aggregates.get(key) ?? { count: 0, sum: 0, min: null, max: null };
    aggregates.set(key, {
      count: a.count + 1,
      sum: a.sum + v,
      min: a.min === null ? v : Math.min(a.min, v),
      max: a.max === null ? v : Math.max(a.max, v),
    });
    const w = `${key}@${Math.floor(timestampOf(v) / WINDOW_MS) * WINDOW_MS}`;
    windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  return { aggregates, windows };
}

/** Runs the application through faults; returns what its outputs hold. */
async function runThroughFaults(app: string, guarantee: ProcessingGuarantee) {
  await client.admin().createTopics({
    topics: ['in', 'agg', 'wcount'].map((t) => ({
      topic: `${app}-${t}`,
      numPartitions: PARTITIONS,
      replicationFactor: 3,
      configs: { 'min.insync.replicas': '2' },
    })),
  });
  let a = await startInstance(app, guarantee);
  let b = await startInstance(app, guarantee);
  const step = Math.floor(RECORDS / 6);
  await produceInput(`${app}-in`, async (written) => {
    if (written === step) {
      await kill(a); // an instance crashes: its tasks move to the other, restored from changelogs
      a = await startInstance(app, guarantee);
    } else if (written === 2 * step) {
      await chaos.killBroker(2);
    } else if (written === 3 * step) {
      await chaos.startBroker(2);
    } else if (written === 4 * step) {
      await kill(b);
      b = await startInstance(app, guarantee);
    }
  });
  const want = expected();
  // Done once each key has seen its last value (max) and its count: duplicates (at_least_once)
  // raise counts early, never the max.
  const agg = await readUpdates<Aggregate>(`${app}-agg`, (latest) =>
    [...want.aggregates].every(([k, a]) => {
      const got = latest.get(k);
      return got !== undefined && got.max === a.max && got.count >= a.count;
    }),
  );
  const windowed = await readUpdates<number>(`${app}-wcount`, (latest) =>
    [...want.windows].every(([w, n]) => (latest.get(w) ?? 0) >= n),
  );
  for (const c of [a, b]) c.kill('SIGTERM');
  return { want, agg, windowed };
}

describe('streams end to end under faults', () => {
  it('exactly_once_v2: every aggregate exact, every update once, through instance and broker kills', async () => {
    const { want, agg, windowed } = await runThroughFaults('eos', 'exactly_once_v2');
    for (const [key, a] of want.aggregates) {
      expect(agg.latest.get(key), key).toEqual(a);
      expect(
        agg.updates.get(key)!.map((u) => u.count),
        key,
      ).toEqual(Array.from({ length: a.count }, (_, i) => i + 1));
    }
    for (const [w, n] of want.windows) {
      expect(windowed.latest.get(w), w).toBe(n);
      expect(windowed.updates.get(w)!, w).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    }
  }, 600_000);

  it('at_least_once: nothing lost through instance and broker kills', async () => {
    const { want, agg, windowed } = await runThroughFaults('alos', 'at_least_once');
    for (const [key, a] of want.aggregates) {
      const got = agg.latest.get(key)!;
      expect(got.count, key).toBeGreaterThanOrEqual(a.count);
      expect([got.min, got.max], key).toEqual([a.min, a.max]);
    }
    for (const [w, n] of want.windows) expect(windowed.latest.get(w)!, w).toBeGreaterThanOrEqual(n);
  }, 600_000);
});
