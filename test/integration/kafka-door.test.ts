/**
 * The Kafka door with real Kafka clients: kcat (librdkafka) and kafkajs against a broker's Kafka
 * listener, and records crossing between the two doors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigResourceTypes, Kafka, logLevel, type Consumer as KafkajsConsumer } from 'kafkajs';
import { Millrace } from '../../src/client/index.js';
import { apis } from '../../protocol/kafka/index.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';
import { readFromEarliest } from '../harness/read.js';
import { kafkaRequest, runKcat } from '../harness/kafka.js';
import { saltedPassword } from '../../protocol/scram.js';

const cluster = uniqueCluster('kdoor');
let brokers: TestBroker[] = [];
let bootstrap = '';
let client: Millrace;
let kafka: Kafka;

beforeAll(async () => {
  brokers = [
    await startBroker(inject('natsUrl'), cluster, 1, {
      kafkaListener: '127.0.0.1:0',
      offsetsTopicReplicationFactor: 1,
      offsetsTopicPartitions: 4,
      groupInitialRebalanceDelayMs: 1500,
    }),
  ];
  bootstrap = brokers[0]!.broker.kafkaEndpoint!;
  client = new Millrace({ servers: inject('natsUrl'), cluster });
  kafka = new Kafka({ clientId: 'door-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8 } });
});

afterAll(async () => {
  await client?.close();
  await stopAll(brokers);
});

const kcat = (args: string[], input?: string) => runKcat(bootstrap, args, input);

/** A long-running kcat (a group member): its output so far, and a way to stop it. */
function kcatMember(args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn('kcat', ['-b', bootstrap, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, out: () => stdout, err: () => stderr };
}

describe('Kafka door with kcat', () => {
  it('lists brokers and topics (-L)', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'listed', numPartitions: 3 }] });
    const { code, stdout } = await kcat(['-L', '-t', 'listed']);
    expect(code).toBe(0);
    expect(stdout).toContain(`broker 1 at ${bootstrap} (controller)`);
    expect(stdout).toMatch(/topic "listed" with 3 partitions/);
  });

  it('produces with keys and headers (-P) that consume from the beginning and from the end (-C), and the SDK reads', async () => {
    const lines = Array.from({ length: 500 }, (_, i) => `k${i}:v${i}`).join('\n') + '\n';
    const produced = await kcat(['-P', '-t', 'kc', '-K:', '-H', 'source=kcat'], lines);
    expect(produced.code).toBe(0);
    const all = await kcat(['-C', '-t', 'kc', '-o', 'beginning', '-e', '-f', '%k=%s|%h\n']);
    expect(all.stdout.trim().split('\n')).toEqual(Array.from({ length: 500 }, (_, i) => `k${i}=v${i}|source=kcat`));
    const last = await kcat(['-C', '-t', 'kc', '-o', '-2', '-e', '-f', '%k\n']);
    expect(last.stdout.trim().split('\n')).toEqual(['k498', 'k499']);
    // The other door: the same records through the SDK, over NATS.
    const viaSdk = await readFromEarliest(client, 'kc', 1, 500);
    expect(viaSdk.map((m) => `${m.key}=${m.value}`)).toEqual(Array.from({ length: 500 }, (_, i) => `k${i}=v${i}`));
    expect(viaSdk[0]!.headers.source?.toString()).toBe('kcat');
  });

  it('balances a group of two kcat consumers (-G) over the partitions', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'kg', numPartitions: 4 }] });
    const producer = client.producer({ acks: -1 });
    await producer.send({
      topic: 'kg',
      messages: Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });
    const args = ['-u', '-G', 'kgroup', '-X', 'auto.offset.reset=earliest', '-f', '%p:%s\n', 'kg'];
    const members = [kcatMember(args), kcatMember(args)];
    try {
      const assigned = (m: (typeof members)[number]) => {
        const lines = m.err().match(/assigned: [^\n]*/g) ?? [];
        return lines.at(-1) ?? '';
      };
      await waitFor(
        'both members assigned and every record read',
        () => {
          const values = new Set(
            members.flatMap((m) =>
              m
                .out()
                .split('\n')
                .filter(Boolean)
                .map((l) => l.split(':')[1]),
            ),
          );
          return members.every((m) => /kg \[\d\]/.test(assigned(m))) && values.size === 200;
        },
        60_000,
      );
      const partitionsOf = (m: (typeof members)[number]) => [...assigned(m).matchAll(/kg \[(\d)\]/g)].map((x) => x[1]);
      const [a, b] = members.map(partitionsOf);
      expect([...a!, ...b!].sort()).toEqual(['0', '1', '2', '3']);
      expect(a!.length).toBe(2);
    } finally {
      for (const m of members) m.child.kill('SIGTERM');
    }
  });
});

describe('Kafka door with kafkajs', () => {
  it('creates, lists and deletes topics with the admin client', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(
        await admin.createTopics({ topics: [{ topic: 'kjs-admin', numPartitions: 2 }], waitForLeaders: true }),
      ).toBe(true);
      expect(await admin.listTopics()).toContain('kjs-admin');
      const meta = await admin.fetchTopicMetadata({ topics: ['kjs-admin'] });
      expect(meta.topics[0]!.partitions).toHaveLength(2);
      await admin.createPartitions({ topicPartitions: [{ topic: 'kjs-admin', count: 3 }] });
      await waitFor(
        'three partitions',
        async () => (await admin.fetchTopicMetadata({ topics: ['kjs-admin'] })).topics[0]!.partitions.length === 3,
      );
      await admin.deleteTopics({ topics: ['kjs-admin'] });
      await waitFor('deleted', async () => !(await admin.listTopics()).includes('kjs-admin'));
    } finally {
      await admin.disconnect();
    }
  });

  it('describes and alters topic configs and deletes records with the admin client', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic: 'kjs-configs', configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
      });
      const describe = async () =>
        (
          await admin.describeConfigs({
            resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-configs' }],
            includeSynonyms: false,
          })
        ).resources[0]!.configEntries;
      expect((await describe()).find((c) => c.configName === 'retention.ms')).toMatchObject({
        configValue: '3600000',
        isDefault: false,
      });
      expect((await describe()).find((c) => c.configName === 'cleanup.policy')).toMatchObject({
        configValue: 'delete',
        isDefault: true,
      });
      // AlterConfigs replaces the topic's configs with those given.
      await admin.alterConfigs({
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: 'kjs-configs',
            configEntries: [{ name: 'segment.ms', value: '600000' }],
          },
        ],
        validateOnly: false,
      });
      await waitFor('the new configs', async () => {
        const entries = await describe();
        return (
          entries.find((c) => c.configName === 'segment.ms')?.configValue === '600000' &&
          entries.find((c) => c.configName === 'retention.ms')?.isDefault === true
        );
      });
      const [configured] = await client.admin().describeTopics(['kjs-configs']);
      expect(configured!.configs).toEqual({ 'segment.ms': '600000' });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: 'kjs-configs',
        messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${i}` })),
      });
      await producer.disconnect();
      await admin.deleteTopicRecords({ topic: 'kjs-configs', partitions: [{ partition: 0, offset: '4' }] });
      const [offsets] = await admin.fetchTopicOffsets('kjs-configs');
      expect(offsets).toMatchObject({ partition: 0, low: '4', high: '10' });
    } finally {
      await admin.disconnect();
    }
  });

  it('elects preferred leaders and starts reassignments (no client library sends these: raw requests)', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'kjs-elect', numPartitions: 2 }] });
    const elected = await kafkaRequest(bootstrap, apis.ElectLeaders, 2, {
      electionType: 0,
      topicPartitions: [{ topic: 'kjs-elect', partitions: [1] }],
    });
    expect(elected.replicaElectionResults).toEqual([
      { topic: 'kjs-elect', partitionResult: [{ partitionId: 1, errorCode: 84, errorMessage: expect.any(String) }] },
    ]);
    const unclean = await kafkaRequest(bootstrap, apis.ElectLeaders, 2, {
      electionType: 1,
      topicPartitions: [{ topic: 'kjs-elect', partitions: [0] }],
    });
    expect(unclean.replicaElectionResults[0]!.partitionResult[0]!.errorCode).toBe(42); // INVALID_REQUEST
    const moved = await kafkaRequest(bootstrap, apis.AlterPartitionReassignments, 0, {
      topics: [
        {
          name: 'kjs-elect',
          partitions: [
            { partitionIndex: 0, replicas: [1] },
            { partitionIndex: 1, replicas: null },
          ],
        },
      ],
    });
    expect(moved.responses[0]!.partitions.map((p) => p.errorCode)).toEqual([0, 42]);
    // Completed at once on one broker: nothing in progress.
    expect((await kafkaRequest(bootstrap, apis.ListPartitionReassignments, 0, { topics: null })).topics).toEqual([]);
    // The idempotent producers a partition knows (kafkajs's, from the test above or this one).
    const kjs = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await kjs.connect();
    await kjs.send({ topic: 'kjs-elect', acks: -1, messages: [{ value: 'x', partition: 0 }] });
    await kjs.disconnect();
    const producers = await kafkaRequest(bootstrap, apis.DescribeProducers, 0, {
      topics: [{ name: 'kjs-elect', partitionIndexes: [0] }],
    });
    expect(producers.topics[0]!.partitions[0]).toMatchObject({ partitionIndex: 0, errorCode: 0 });
    expect(producers.topics[0]!.partitions[0]!.activeProducers[0]).toMatchObject({ producerEpoch: 0, lastSequence: 0 });
  });

  it('produces idempotently and not, and a group of three shares the partitions, then two after one leaves', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'kjs', numPartitions: 6 }] });
    const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    const plain = kafka.producer();
    await Promise.all([idempotent.connect(), plain.connect()]);
    const seen = new Map<string, string>();
    const members: KafkajsConsumer[] = [];
    try {
      await idempotent.send({
        topic: 'kjs',
        acks: -1,
        messages: Array.from({ length: 60 }, (_, i) => ({ key: `a${i}`, value: `x${i}` })),
      });
      await plain.send({
        topic: 'kjs',
        acks: 1,
        messages: Array.from({ length: 60 }, (_, i) => ({ key: `b${i}`, value: `y${i}` })),
      });
      for (let i = 0; i < 3; i++) {
        const c = kafka.consumer({
          groupId: 'kjs-group',
          sessionTimeout: 10_000,
          heartbeatInterval: 500,
          maxWaitTimeInMs: 500,
        });
        await c.connect();
        await c.subscribe({ topic: 'kjs', fromBeginning: true });
        await c.run({
          eachMessage: async ({ message }) => void seen.set(message.key!.toString(), message.value!.toString()),
        });
        members.push(c);
      }
      await waitFor('every record consumed by the group', () => seen.size === 120, 60_000);
      expect(seen.get('a7')).toBe('x7');
      const admin = kafka.admin();
      await admin.connect();
      const described = async () => (await admin.describeGroups(['kjs-group'])).groups[0]!;
      await waitFor('three members', async () => (await described()).members.length === 3, 30_000);
      await members.pop()!.disconnect();
      await waitFor(
        'two members, stable',
        async () => {
          const g = await described();
          return g.members.length === 2 && g.state === 'Stable';
        },
        30_000,
      );
      await plain.send({
        topic: 'kjs',
        messages: Array.from({ length: 30 }, (_, i) => ({ key: `c${i}`, value: `z${i}` })),
      });
      await waitFor('the new records consumed by the two left', () => seen.size === 150, 60_000);
      await admin.disconnect();
    } finally {
      await Promise.allSettled(members.map((c) => c.disconnect()));
      await Promise.allSettled([idempotent.disconnect(), plain.disconnect()]);
    }
  });

  it('reads with kafkajs what the SDK wrote over NATS', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'sdk-in', numPartitions: 2 }] });
    const producer = client.producer({ acks: -1 });
    await producer.send({
      topic: 'sdk-in',
      messages: Array.from({ length: 100 }, (_, i) => ({ key: `s${i}`, value: `w${i}`, headers: { from: 'sdk' } })),
    });
    const consumer = kafka.consumer({ groupId: 'sdk-in-readers', maxWaitTimeInMs: 500 });
    const seen = new Map<string, { value: string; from: string }>();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: 'sdk-in', fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) =>
          void seen.set(message.key!.toString(), {
            value: message.value!.toString(),
            from: String(message.headers?.from),
          }),
      });
      await waitFor('every SDK record read by kafkajs', () => seen.size === 100, 60_000);
      expect(seen.get('s42')).toEqual({ value: 'w42', from: 'sdk' });
    } finally {
      await consumer.disconnect();
    }
    // The group's committed offsets, removed through the SDK once it has no members (OffsetDelete).
    const admin = client.admin();
    await waitFor('offsets committed', async () =>
      (await admin.fetchOffsets({ groupId: 'sdk-in-readers', topics: ['sdk-in'] })).every((o) => o.offset >= 0n),
    );
    await admin.deleteOffsets({ groupId: 'sdk-in-readers', topic: 'sdk-in' });
    expect((await admin.fetchOffsets({ groupId: 'sdk-in-readers', topics: ['sdk-in'] })).map((o) => o.offset)).toEqual([
      -1n,
      -1n,
    ]);
  });

  it('lets a kafkajs member and an SDK member share one group (Kafka consumer protocol, a protocol both offer)', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'mixed', numPartitions: 4 }] });
    const byKafkajs = new Set<string>();
    const bySdk = new Set<string>();
    const js = kafka.consumer({ groupId: 'mixed-group', maxWaitTimeInMs: 500, heartbeatInterval: 500 });
    await js.connect();
    const sdk = client.consumer({ groupId: 'mixed-group' });
    try {
      await js.subscribe({ topic: 'mixed', fromBeginning: true });
      await js.run({ eachMessage: async ({ message }) => void byKafkajs.add(message.key!.toString()) });
      sdk.subscribe({ topics: ['mixed'], fromBeginning: true });
      void sdk.run({ eachMessage: async ({ message }) => void bySdk.add(message.key!.toString()) });
      const admin = client.admin();
      await waitFor(
        'two members in a stable group',
        async () => {
          const [g] = await admin.describeGroups(['mixed-group']);
          return g!.state === 'Stable' && g!.members.length === 2 && g;
        },
        30_000,
      );
      const [g] = await admin.describeGroups(['mixed-group']);
      expect(g!.protocol).toBe('RoundRobinAssigner');
      expect(g!.members.map((m) => m.assignment.length).sort()).toEqual([2, 2]);
      const producer = client.producer({ acks: -1 });
      await producer.send({
        topic: 'mixed',
        messages: Array.from({ length: 100 }, (_, i) => ({ key: `m${i}`, value: 'v' })),
      });
      await waitFor('every record read once by one of them', () => byKafkajs.size + bySdk.size === 100, 30_000);
      expect(byKafkajs.size).toBeGreaterThan(0);
      expect(bySdk.size).toBeGreaterThan(0);
      expect([...byKafkajs].some((k) => bySdk.has(k))).toBe(false);
      // The members consume the topic: its offsets are not deleted (KIP-496).
      const refused = await kafkaRequest(bootstrap, apis.OffsetDelete, 0, {
        groupId: 'mixed-group',
        topics: [{ name: 'mixed', partitions: [{ partitionIndex: 0 }] }],
      });
      expect(refused.topics[0]!.partitions[0]!.errorCode).toBe(86); // GROUP_SUBSCRIBED_TO_TOPIC
    } finally {
      await Promise.allSettled([js.disconnect(), sdk.close()]);
    }
  });
});

describe('security administration on the Kafka door (raw requests, as kafka-acls.sh and kafka-configs.sh send them)', () => {
  it('creates, describes and deletes ACLs with CreateAcls, DescribeAcls and DeleteAcls', async () => {
    const binding = {
      resourceType: 2,
      resourceName: 'acl-',
      resourcePatternType: 4,
      principal: 'User:dora',
      host: '*',
      operation: 3,
      permissionType: 3,
    };
    const created = await kafkaRequest(bootstrap, apis.CreateAcls, 3, {
      creations: [binding, { ...binding, principal: 'dora' }],
    });
    expect(created.results.map((r) => r.errorCode)).toEqual([0, 42]);
    const anyFilter = {
      resourceTypeFilter: 1,
      resourceNameFilter: null,
      patternTypeFilter: 1,
      principalFilter: 'User:dora',
      hostFilter: null,
      operation: 1,
      permissionType: 1,
    };
    // MATCH: the ACLs that apply to topic acl-orders, the prefixed one among them.
    const described = await kafkaRequest(bootstrap, apis.DescribeAcls, 1, {
      ...anyFilter,
      resourceTypeFilter: 2,
      resourceNameFilter: 'acl-orders',
      patternTypeFilter: 2,
    });
    expect(described.resources).toEqual([
      {
        resourceType: 2,
        resourceName: 'acl-',
        patternType: 4,
        acls: [{ principal: 'User:dora', host: '*', operation: 3, permissionType: 3 }],
      },
    ]);
    const deleted = await kafkaRequest(bootstrap, apis.DeleteAcls, 2, { filters: [anyFilter] });
    expect(deleted.filterResults[0]!.matchingAcls).toEqual([
      expect.objectContaining({ resourceName: 'acl-', principal: 'User:dora', errorCode: 0 }),
    ]);
    expect((await kafkaRequest(bootstrap, apis.DescribeAcls, 3, anyFilter)).resources).toEqual([]);
  });

  it('creates and describes SCRAM credentials with AlterUserScramCredentials and DescribeUserScramCredentials', async () => {
    const salt = Buffer.from('kafka-configs-salt');
    const altered = await kafkaRequest(bootstrap, apis.AlterUserScramCredentials, 0, {
      deletions: [],
      upsertions: [
        {
          name: 'erin',
          mechanism: 2,
          iterations: 8192,
          salt,
          saltedPassword: saltedPassword('SCRAM-SHA-512', 'erin-pw', salt, 8192),
        },
        { name: 'frank', mechanism: 1, iterations: 100, salt, saltedPassword: Buffer.alloc(32) },
      ],
    });
    expect(altered.results).toEqual([
      { user: 'erin', errorCode: 0, errorMessage: null },
      expect.objectContaining({ user: 'frank', errorCode: 93 }), // UNACCEPTABLE_CREDENTIAL
    ]);
    const described = await kafkaRequest(bootstrap, apis.DescribeUserScramCredentials, 0, {
      users: [{ name: 'erin' }, { name: 'frank' }],
    });
    expect(described.results).toEqual([
      { user: 'erin', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 2, iterations: 8192 }] },
      expect.objectContaining({ user: 'frank', errorCode: 91 }), // RESOURCE_NOT_FOUND
    ]);
  });
});
