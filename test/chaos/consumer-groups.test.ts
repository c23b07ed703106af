/**
 * Consumer groups with real processes: three brokers, members as child processes, faults by
 * signal. A SIGKILLed member's partitions move to the others (cooperative-sticky: the others are
 * never revoked and keep consuming), nothing is skipped; a killed coordinator keeps every commit;
 * a static member restarts without a rebalance; a slow handler does not cause one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offsetsPartitionFor } from '../../src/broker/group/offsets-topic.js';
import { ChaosCluster } from '../../src/chaos/cluster.js';
import { Millrace } from '../../src/client/index.js';
import { repoRoot } from '../harness/cli.js';
import { QUICK_FAILOVER, startChaosCluster } from '../harness/chaos.js';
import { waitFor } from '../harness/cluster.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-chaos-groups-'));
const cluster = 'chaosgroups';
const TOPIC = 'work';
const PARTITIONS = 12;
const OFFSETS_PARTITIONS = 6;
const SESSION_MS = 3_000;
let chaos: ChaosCluster;
let client: Millrace;

interface Member {
  child: ChildProcess;
  owned: Set<string>;
  revoked: Array<{ tps: string[]; t: number }>;
  records: Array<{ p: number; o: number; v: number; t: number }>;
  exited: Promise<unknown>;
}

const members: Member[] = [];

function spawnMember(group: string, extra: Record<string, unknown> = {}): Member {
  const options = { nats: chaos.natsUrls[0], cluster, group, topic: TOPIC, sessionTimeoutMs: SESSION_MS, ...extra };
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'test/harness/group-member.mjs'), JSON.stringify(options)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const m: Member = {
    child,
    owned: new Set(),
    revoked: [],
    records: [],
    exited: new Promise((resolve) => child.once('exit', resolve)),
  };
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const e = JSON.parse(line) as { e: string; tps?: string[]; p: number; o: number; v: string; t: number };
      if (e.e === 'r') m.records.push({ p: e.p, o: e.o, v: Number(e.v), t: e.t });
      else if (e.e === 'assigned') for (const tp of e.tps!) m.owned.add(tp);
      else if (e.e === 'revoked' || e.e === 'lost') {
        for (const tp of e.tps!) m.owned.delete(tp);
        if (e.e === 'revoked') m.revoked.push({ tps: e.tps!, t: e.t });
      }
    }
  });
  members.push(m);
  return m;
}

/** Writes numbered records round the partitions until stopped; resolves with the acknowledged values. */
function produceUntil(stop: { now: boolean }, from: number): Promise<number[]> {
  const producer = client.producer({ lingerMs: 2 });
  return (async () => {
    const acked: number[] = [];
    for (let next = from; !stop.now; next += 120) {
      const values = Array.from({ length: 120 }, (_, i) => next + i);
      await producer.send({
        topic: TOPIC,
        messages: values.map((v) => ({ value: String(v), partition: v % PARTITIONS })),
      });
      acked.push(...values);
      await new Promise((r) => setTimeout(r, 20));
    }
    await producer.close();
    return acked;
  })();
}

const consumedValues = (ms: Member[]): Set<number> => new Set(ms.flatMap((m) => m.records.map((r) => r.v)));

async function generationOf(group: string): Promise<{ generation: number; state: string; members: number }> {
  const [g] = await client.admin().describeGroups([group]);
  return { generation: g!.generation, state: g!.state, members: g!.members.length };
}

beforeAll(async () => {
  ({ chaos, client } = await startChaosCluster({
    dir: root,
    cluster,
    seed: 1,
    brokerConfig: { ...QUICK_FAILOVER, offsetsTopicPartitions: OFFSETS_PARTITIONS, offsetsTopicReplicationFactor: 3 },
  }));
  await client.admin().createTopics({
    topics: [
      { topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
    ],
  });
});

afterAll(async () => {
  for (const m of members) m.child.kill('SIGKILL');
  await client?.close();
  await chaos?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('consumer groups with member and broker processes', () => {
  const workers: Member[] = [];

  it('moves a SIGKILLed member’s partitions to the others, who keep theirs and keep consuming; nothing is skipped', async () => {
    const stop = { now: false };
    const producing = produceUntil(stop, 0);
    for (let i = 0; i < 3; i++) workers.push(spawnMember('workers'));
    const [a, b, c] = workers as [Member, Member, Member];
    await waitFor('four partitions each', () => workers.every((m) => m.owned.size === 4), 30_000);
    const killedOwned = [...c.owned];
    const killedAt = Date.now();
    c.child.kill('SIGKILL');
    await waitFor(
      'the killed member’s partitions at the other two',
      () => a.owned.size + b.owned.size === PARTITIONS,
      2 * SESSION_MS + 10_000,
    );
    const movedAt = Date.now();
    console.log(JSON.stringify({ partitionsMovedAfterMs: movedAt - killedAt, sessionTimeoutMs: SESSION_MS }));
    // Cooperative: the survivors gave up nothing, and consumed all along the rebalance.
    expect([...a.revoked, ...b.revoked].filter((r) => r.t >= killedAt)).toEqual([]);
    for (const m of [a, b]) expect(m.records.some((r) => r.t > killedAt && r.t < movedAt)).toBe(true);
    stop.now = true;
    const acked = await producing;
    await waitFor(
      'every acknowledged record consumed',
      () => {
        const seen = consumedValues(workers);
        return acked.every((v) => seen.has(v));
      },
      30_000,
    );
    // Repeats come only from the killed member's uncommitted window, on its partitions.
    const counts = new Map<number, number>();
    for (const r of workers.flatMap((m) => m.records)) counts.set(r.v, (counts.get(r.v) ?? 0) + 1);
    const repeated = [...counts].filter(([, n]) => n > 1).map(([v]) => `${TOPIC}-${v % PARTITIONS}`);
    expect(repeated.every((tp) => killedOwned.includes(tp))).toBe(true);
    console.log(JSON.stringify({ acknowledged: acked.length, repeatedAfterKill: repeated.length }));
  });

  it('keeps every committed offset when the coordinator’s broker is killed, and the group re-forms', async () => {
    const offsets = (await client.admin().describeTopics(['__consumer_offsets']))[0]!;
    const coordinator = offsets.partitions[offsetsPartitionFor('workers', OFFSETS_PARTITIONS)]!.leader;
    const before = await client.admin().fetchOffsets({ groupId: 'workers', topics: [TOPIC] });
    const survivors = workers.slice(0, 2);
    const stop = { now: false };
    const producing = produceUntil(stop, 1_000_000);
    await chaos.killBroker(coordinator);
    await waitFor(
      'the group stable again at a new coordinator',
      async () => {
        const g = await generationOf('workers');
        return g.state === 'Stable' && g.members === 2;
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    stop.now = true;
    const acked = await producing;
    await waitFor(
      'every record written during the failover consumed',
      () => {
        const seen = consumedValues(survivors);
        return acked.every((v) => seen.has(v));
      },
      30_000,
    );
    const after = await client.admin().fetchOffsets({ groupId: 'workers', topics: [TOPIC] });
    for (const [i, b] of before.entries()) expect(after[i]!.offset).toBeGreaterThanOrEqual(b.offset);
    await chaos.startBroker(coordinator);
    for (const m of survivors) m.child.kill('SIGTERM');
    await Promise.all(survivors.map((m) => m.exited));
  });

  it('lets a static member restart within its session with no rebalance', async () => {
    const s1 = spawnMember('static', { instanceId: 'i-1', sessionTimeoutMs: 10_000 });
    const s2 = spawnMember('static', { instanceId: 'i-2', sessionTimeoutMs: 10_000 });
    await waitFor('six partitions each', () => s1.owned.size === 6 && s2.owned.size === 6, 30_000);
    const before = await generationOf('static');
    const owned = [...s1.owned].sort();
    s1.child.kill('SIGTERM');
    await s1.exited;
    const back = spawnMember('static', { instanceId: 'i-1', sessionTimeoutMs: 10_000 });
    await waitFor('the restarted member with its partitions', () => back.owned.size === 6, 20_000);
    expect([...back.owned].sort()).toEqual(owned);
    expect(await generationOf('static')).toEqual(before);
    expect(s2.revoked).toEqual([]);
    for (const m of [back, s2]) m.child.kill('SIGTERM');
    await Promise.all([back.exited, s2.exited]);
  });

  it('does not rebalance for a handler slower than the heartbeat interval', async () => {
    const slow = spawnMember('slow', { heartbeatIntervalMs: 200, sessionTimeoutMs: 1_500, handlerDelayMs: 700 });
    await waitFor('the member owns every partition', () => slow.owned.size === PARTITIONS, 30_000);
    const before = await generationOf('slow');
    const consumedBefore = slow.records.length;
    await new Promise((r) => setTimeout(r, 5_000));
    expect(slow.records.length).toBeGreaterThan(consumedBefore);
    expect(await generationOf('slow')).toEqual(before);
    expect(slow.revoked).toEqual([]);
    slow.child.kill('SIGTERM');
    await slow.exited;
  });
});
