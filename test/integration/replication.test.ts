import { afterAll, describe, expect, inject, it } from 'vitest';
import { decodeRecordBatches } from '../../protocol/records/index.js';
import { Millrace, type RecordMetadata } from '../../src/client/index.js';
import type { Broker } from '../../src/broker/broker.js';
import { runCli } from '../harness/cli.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const running: TestBroker[] = [];
const clients: Millrace[] = [];
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await stopAll(running);
});

const fast = { replicaLagTimeMaxMs: 1_500 };

async function cluster(ids: number[]): Promise<{ name: string; client: Millrace; brokers: Map<number, TestBroker> }> {
  const name = uniqueCluster('repl');
  const brokers = new Map<number, TestBroker>();
  for (const id of ids) {
    const b = await startBroker(inject('natsUrl'), name, id, fast);
    brokers.set(id, b);
    running.push(b);
  }
  const client = new Millrace({ servers: inject('natsUrl'), cluster: name, requestTimeoutMs: 5_000 });
  clients.push(client);
  await waitFor(
    'all brokers live',
    async () => (await client.admin().describeCluster()).brokers.filter((b) => !b.fenced).length === ids.length,
  );
  return { name, client, brokers };
}

/** Every record of a replica's log as "offset:value". */
function replicaContents(broker: Broker, topic: string, partition: number): string[] {
  const hp = broker.hosted(topic, partition)!;
  const out: string[] = [];
  let offset = hp.log.logStartOffset;
  while (offset < hp.log.logEndOffset) {
    const { batches } = decodeRecordBatches(hp.log.read(offset, 1 << 20).records);
    for (const r of batches.flatMap((b) => b.records))
      if (r.offset >= offset) out.push(`${r.offset}:${r.value!.toString()}`);
    offset = batches.at(-1)!.header.baseOffset + batches.at(-1)!.header.lastOffsetDelta + 1;
  }
  return out;
}

async function leaderOf(client: Millrace, topic: string, partition = 0): Promise<number> {
  return (await client.admin().describeTopics([topic]))[0]!.partitions[partition]!.leader;
}

async function restart(brokers: Map<number, TestBroker>, id: number, name: string): Promise<TestBroker> {
  const old = brokers.get(id)!;
  const b = await startBroker(inject('natsUrl'), name, id, fast, old.dataDir);
  running.splice(running.indexOf(old), 1, b);
  brokers.set(id, b);
  return b;
}

describe('replication', () => {
  it('RF=3, min.insync.replicas=2, acks=all: survives a leader crash with every acknowledged record at its offset', async () => {
    const { name, client, brokers } = await cluster([1, 2, 3]);
    await client.admin().createTopics({
      topics: [{ topic: 'safe', numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }],
    });
    const producer = client.producer({ acks: 'all', lingerMs: 1, deliveryTimeoutMs: 30_000 });
    const acked: RecordMetadata[] = [];
    const values: string[] = [];
    let stop = false;
    let next = 0;
    const writer = (async () => {
      while (!stop) {
        const batch = Array.from({ length: 50 }, () => ({ value: `r${next++}` }));
        const res = await producer.send({ topic: 'safe', messages: batch });
        res.forEach((r, i) => {
          acked.push(r);
          values.push(batch[i]!.value);
        });
      }
    })();
    await waitFor('some acknowledged writes', () => acked.length >= 2_000);
    const first = await leaderOf(client, 'safe');
    expect((await client.admin().describeTopics(['safe']))[0]!.partitions[0]!.isr).toHaveLength(3);
    await brokers.get(first)!.broker.crash();
    await waitFor('a new leader', async () => {
      const l = await leaderOf(client, 'safe');
      return l !== first && l > 0;
    });
    const ackedAtFailover = acked.length;
    await waitFor('writes after the failover', () => acked.length >= ackedAtFailover + 2_000, 30_000);
    stop = true;
    await writer;

    // Every acknowledged record is at the offset it was acknowledged with, in order.
    const leader = brokers.get(await leaderOf(client, 'safe'))!.broker;
    const stored = new Map(replicaContents(leader, 'safe', 0).map((e) => e.split(':') as [string, string]));
    acked.forEach((a, i) => expect(stored.get(String(a.offset))).toBe(values[i]));
    const offsets = acked.map((a) => Number(a.offset));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));

    // The crashed broker comes back, truncates what it must, catches up and rejoins the ISR.
    const back = await restart(brokers, first, name);
    await waitFor(
      'ISR of three again',
      async () => (await client.admin().describeTopics(['safe']))[0]!.partitions[0]!.isr.length === 3,
      30_000,
    );
    const leaderLog = replicaContents(leader, 'safe', 0);
    await waitFor('replicas identical', () =>
      [2, 3, 1].every((id) => replicaContents(brokers.get(id)!.broker, 'safe', 0).length === leaderLog.length),
    );
    for (const id of [1, 2, 3]) expect(replicaContents(brokers.get(id)!.broker, 'safe', 0)).toEqual(leaderLog);
    expect(back.broker.hosted('safe', 0)!.isLeader).toBe(false);
  });

  it('refuses acks=all with NOT_ENOUGH_REPLICAS when the ISR is below min.insync.replicas', async () => {
    const { client, brokers } = await cluster([1, 2]);
    await client.admin().createTopics({
      topics: [{ topic: 'strict', numPartitions: 1, replicationFactor: 2, configs: { 'min.insync.replicas': '2' } }],
    });
    await client.producer({ acks: 'all' }).send({ topic: 'strict', messages: [{ value: 'ok' }] });
    const leader = await leaderOf(client, 'strict');
    const follower = leader === 1 ? 2 : 1;
    await brokers.get(follower)!.broker.crash();
    await waitFor(
      'ISR shrinks to the leader',
      async () => (await client.admin().describeTopics(['strict']))[0]!.partitions[0]!.isr.length === 1,
      20_000,
    );
    const quick = client.producer({ acks: 'all', deliveryTimeoutMs: 1_500, retryBackoffMs: 100 });
    await expect(quick.send({ topic: 'strict', messages: [{ value: 'lost?' }] })).rejects.toThrow(
      /NOT_ENOUGH_REPLICAS/,
    );
    // acks=1 still works: availability over durability is the producer's choice.
    expect(
      (await client.producer({ acks: 1 }).send({ topic: 'strict', messages: [{ value: 'one' }] }))[0]!.offset,
    ).toBe(1n);
    running.splice(running.indexOf(brokers.get(follower)!), 1);
  });

  it('KIP-101: a replica with an unreplicated tail rejoins and cuts exactly the divergent part', async () => {
    const { name, client, brokers } = await cluster([1, 2]);
    await client.admin().createTopics({
      topics: [
        {
          topic: 'diverge',
          numPartitions: 1,
          replicationFactor: 2,
          configs: { 'unclean.leader.election.enable': 'true' },
        },
      ],
    });
    const oldLeader = await leaderOf(client, 'diverge');
    const other = oldLeader === 1 ? 2 : 1;
    const send = (values: string[], acks: 1 | 'all') =>
      client.producer({ acks, lingerMs: 0 }).send({ topic: 'diverge', messages: values.map((value) => ({ value })) });
    await send(
      Array.from({ length: 100 }, (_, i) => `common-${i}`),
      'all',
    );
    await waitFor(
      'follower has the common prefix',
      () => brokers.get(other)!.broker.hosted('diverge', 0)!.log.logEndOffset === 100,
    );

    // The follower stops; once fenced, the leader alone takes 50 more records.
    await brokers.get(other)!.broker.crash();
    await waitFor(
      'ISR is the leader alone',
      async () => (await client.admin().describeTopics(['diverge']))[0]!.partitions[0]!.isr.length === 1,
      20_000,
    );
    await send(
      Array.from({ length: 50 }, (_, i) => `old-tail-${i}`),
      1,
    );
    expect(brokers.get(oldLeader)!.broker.hosted('diverge', 0)!.log.logEndOffset).toBe(150);

    // The leader crashes; the other replica returns and, uncleanly, leads a new epoch with new records.
    await brokers.get(oldLeader)!.broker.crash();
    await restart(brokers, other, name);
    await waitFor('the other replica leads', async () => (await leaderOf(client, 'diverge')) === other, 20_000);
    await send(
      Array.from({ length: 20 }, (_, i) => `new-${i}`),
      1,
    );

    // The old leader comes back as follower: it must cut offsets 100..149 and take the new ones.
    const returned = await restart(brokers, oldLeader, name);
    const leaderLog = replicaContents(brokers.get(other)!.broker, 'diverge', 0);
    expect(leaderLog).toHaveLength(120);
    await waitFor('old leader caught up', () => returned.broker.hosted('diverge', 0)?.log.logEndOffset === 120, 20_000);
    const followerLog = replicaContents(returned.broker, 'diverge', 0);
    expect(followerLog).toEqual(leaderLog);
    expect(followerLog.slice(0, 100)).toEqual(Array.from({ length: 100 }, (_, i) => `${i}:common-${i}`));
    expect(followerLog.slice(100)).toEqual(Array.from({ length: 20 }, (_, i) => `${100 + i}:new-${i}`));
    expect(followerLog.some((e) => e.includes('old-tail'))).toBe(false);
  });

  it('moves leadership back to the preferred replica on demand', async () => {
    const { name, client, brokers } = await cluster([1, 2, 3]);
    await client.admin().createTopics({ topics: [{ topic: 'prefer', numPartitions: 3, replicationFactor: 3 }] });
    const [t] = await client.admin().describeTopics(['prefer']);
    const p0 = t!.partitions[0]!;
    const preferred = p0.replicas[0]!;
    expect(p0.leader).toBe(preferred);
    expect((await client.admin().electLeaders({ topics: ['prefer'] })).map((r) => r.outcome)).toEqual([
      'ELECTION_NOT_NEEDED',
      'ELECTION_NOT_NEEDED',
      'ELECTION_NOT_NEEDED',
    ]);
    await brokers.get(preferred)!.broker.crash();
    await waitFor('leadership moved', async () => {
      const l = await leaderOf(client, 'prefer');
      return l > 0 && l !== preferred;
    });
    await restart(brokers, preferred, name);
    await waitFor(
      'preferred replica back in the ISR',
      async () => (await client.admin().describeTopics(['prefer']))[0]!.partitions[0]!.isr.includes(preferred),
      20_000,
    );
    const results = await client.admin().electLeaders({ topics: ['prefer'] });
    expect(results.find((r) => r.partition === 0)).toMatchObject({ outcome: 'ELECTED', leader: preferred });
    expect(await leaderOf(client, 'prefer')).toBe(preferred);
    expect((await client.admin().electLeaders({ topics: ['nope'] }))[0]!.outcome).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('reassigns a partition: new replicas catch up, old ones are removed, leadership moves', async () => {
    const { client, brokers } = await cluster([1, 2, 3]);
    await client.admin().createTopics({ topics: [{ topic: 'move', numPartitions: 1, replicationFactor: 2 }] });
    const before = (await client.admin().describeTopics(['move']))[0]!.partitions[0]!;
    const leaving = before.leader;
    const staying = before.replicas.find((r) => r !== leaving)!;
    const joining = [1, 2, 3].find((r) => !before.replicas.includes(r))!;
    await client
      .producer({ acks: 'all' })
      .send({ topic: 'move', messages: Array.from({ length: 500 }, (_, i) => ({ value: `m${i}` })) });
    await client
      .admin()
      .alterPartitionReassignments({ partitions: [{ topic: 'move', partition: 0, replicas: [joining, staying] }] });
    const after = await waitFor(
      'the move to complete',
      async () => {
        const p = (await client.admin().describeTopics(['move']))[0]!.partitions[0]!;
        return p.replicas.join() === [joining, staying].join() ? p : false;
      },
      30_000,
    );
    expect(after.isr.sort()).toEqual([joining, staying].sort());
    expect(after.leader).not.toBe(leaving);
    await waitFor('the old replica deleted', () => brokers.get(leaving)!.broker.hosted('move', 0) === undefined);
    const leaderLog = replicaContents(brokers.get(after.leader)!.broker, 'move', 0);
    expect(leaderLog).toHaveLength(500);
    await waitFor(
      'the new replica caught up',
      () => replicaContents(brokers.get(joining)!.broker, 'move', 0).length === 500,
    );
    expect(replicaContents(brokers.get(joining)!.broker, 'move', 0)).toEqual(leaderLog);
    await expect(
      client.admin().alterPartitionReassignments({ partitions: [{ topic: 'move', partition: 0, replicas: [9] }] }),
    ).rejects.toMatchObject({ errorName: 'INVALID_REPLICA_ASSIGNMENT' });
  });

  it('reassigns and elects leaders from the CLI', async () => {
    const { name, client } = await cluster([1, 2]);
    await client.admin().createTopics({ topics: [{ topic: 'cli-move', numPartitions: 1, replicationFactor: 1 }] });
    const from = (await client.admin().describeTopics(['cli-move']))[0]!.partitions[0]!.leader;
    const to = from === 1 ? 2 : 1;
    const conn = ['--nats', inject('natsUrl'), '--cluster', name];
    const reassign = (replicas: string) =>
      runCli(['partitions', 'reassign', '--topic', 'cli-move', '--partition', '0', '--replicas', replicas, ...conn]);
    const moved = await reassign(String(to));
    expect(moved.stderr).toBe('');
    expect(moved.stdout).toContain(`done: replicas [${to}], isr [${to}], leader ${to}`);
    const elected = await runCli(['partitions', 'elect-leaders', '--topic', 'cli-move', '--json', ...conn]);
    expect(JSON.parse(elected.stdout)).toEqual([
      expect.objectContaining({ topic: 'cli-move', partition: 0, outcome: 'ELECTION_NOT_NEEDED', leader: to }),
    ]);
    const bad = await reassign('7');
    expect(bad.stderr).toMatch(/INVALID_REPLICA_ASSIGNMENT/);
  });
});
