/**
 * Authorization and SASL with a cluster set up by `millrace auth init` (real nats-server with the
 * accounts, a real broker with authorization on and a SASL_SSL Kafka listener): what a client may
 * do is what its ACLs allow, on the NATS door (principal from the server's Nats-Request-Info) and
 * on the Kafka door (principal from SASL SCRAM or PLAIN), with Kafka's error codes; kcat and
 * kafkajs connect with SCRAM over TLS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Millrace, MillraceError } from '../../src/client/index.js';
import { authAddClient, authInit, clientSeedFile } from '../../src/cli/auth.js';
import { startNatsServer, type NatsServerHandle } from '../../src/transport/nats-server.js';
import { connectNats } from '../../src/transport/connection.js';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { ErrorCodes } from '../../protocol/errors.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';
import { runCli } from '../harness/cli.js';
import { runKcat, runKcatUntil } from '../harness/kafka.js';
import { tempDir } from '../harness/storage.js';

const cluster = uniqueCluster('acl');
const dir = tempDir('millrace-acl-');
let server: NatsServerHandle;
let tls: { caFile: string; certFile: string; keyFile: string };
const brokers: TestBroker[] = [];
const clients: Millrace[] = [];
let bootstrap = '';

function clientAs(name: string): Millrace {
  const c = new Millrace({
    servers: server.url,
    cluster,
    requestTimeoutMs: 5_000,
    credentials: { nkeySeedFile: clientSeedFile(dir, name), tls: { caFile: tls.caFile } },
  });
  clients.push(c);
  return c;
}

const kafkaAs = (sasl: SASLOptions) =>
  new Kafka({
    clientId: 'acl-test',
    brokers: [bootstrap],
    ssl: { ca: [fs.readFileSync(tls.caFile)] },
    sasl,
    logLevel: logLevel.NOTHING,
    retry: { retries: 1 },
  });

const errorNameOf = (err: unknown) => (err as MillraceError).errorName;

beforeAll(async () => {
  tls = authInit(dir, cluster).tls!;
  authAddClient(dir, 'alice');
  authAddClient(dir, 'bob');
  server = await startNatsServer({ storeDir: path.join(dir, 'jetstream'), configFile: path.join(dir, 'nats.conf') });
  brokers.push(
    await startBroker(server.url, cluster, 1, {
      natsNkeySeedFile: path.join(dir, 'broker.nk'),
      natsTlsCaFile: tls.caFile,
      natsAuthManifest: path.join(dir, 'auth.json'),
      authorization: true,
      kafkaListener: '127.0.0.1:0',
      kafkaSecurityProtocol: 'SASL_SSL',
      kafkaTlsCertFile: tls.certFile,
      kafkaTlsKeyFile: tls.keyFile,
      offsetsTopicReplicationFactor: 1,
      offsetsTopicPartitions: 2,
      groupInitialRebalanceDelayMs: 0,
    }),
  );
  bootstrap = brokers[0]!.broker.kafkaEndpoint!;
  // The admin client is a super user (super.users defaults to User:admin).
  const admin = clientAs('admin').admin();
  await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }, { topic: 'secret' }] });
  await admin.alterUserScramCredentials({
    upsertions: [
      { user: 'alice', password: 'alice-secret', mechanism: 'SCRAM-SHA-256' },
      { user: 'alice', password: 'alice-secret', mechanism: 'SCRAM-SHA-512' },
    ],
  });
  await admin.createAcls({
    acl: [
      {
        resourceType: 'TOPIC',
        resourceName: 'orders',
        principal: 'User:alice',
        operation: 'READ',
        permissionType: 'ALLOW',
      },
      {
        resourceType: 'TOPIC',
        resourceName: 'orders',
        principal: 'User:alice',
        operation: 'WRITE',
        permissionType: 'ALLOW',
      },
      {
        resourceType: 'GROUP',
        resourceName: 'alice-',
        resourcePatternType: 'PREFIXED',
        principal: 'User:alice',
        operation: 'READ',
        permissionType: 'ALLOW',
      },
    ],
  });
  const producer = clientAs('admin').producer();
  await producer.send({ topic: 'secret', messages: [{ value: 'classified' }] });
  await producer.send({ topic: 'orders', messages: [{ key: 'a', value: 'one' }] });
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await stopAll(brokers);
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ACLs on the NATS door', () => {
  it('lets alice write and read the topic her ACLs name, in a group whose prefix they name', async () => {
    const alice = clientAs('alice');
    await alice.producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ key: 'a', value: 'from-alice' }] });
    const seen: string[] = [];
    const consumer = alice.consumer({ groupId: 'alice-group' });
    consumer.subscribe({ topics: ['orders'], fromBeginning: true });
    void consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    try {
      await waitFor('alice reads orders in her group', () => seen.includes('one') && seen.includes('from-alice'));
    } finally {
      await consumer.close();
    }
    expect(await alice.admin().listTopics()).toEqual(['orders']);
  });

  it('refuses alice the topic, the group and the cluster operations no ACL gives her', async () => {
    const alice = clientAs('alice');
    await expect(alice.producer().send({ topic: 'secret', messages: [{ value: 'x' }] })).rejects.toSatisfy(
      (err) => errorNameOf(err) === 'TOPIC_AUTHORIZATION_FAILED',
    );
    await expect(alice.admin().fetchTopicOffsets('secret')).rejects.toThrow();
    const intruder = alice.consumer({ groupId: 'bobs-group' });
    intruder.subscribe({ topics: ['orders'] });
    await expect(intruder.run({ eachMessage: async () => undefined })).rejects.toSatisfy(
      (err) => errorNameOf(err) === 'GROUP_AUTHORIZATION_FAILED',
    );
    await intruder.close();
    await expect(alice.admin().createTopics({ topics: [{ topic: 'mine' }] })).rejects.toSatisfy(
      (err) => errorNameOf(err) === 'TOPIC_AUTHORIZATION_FAILED',
    );
    await expect(
      alice.admin().createAcls({
        acl: [
          {
            resourceType: 'TOPIC',
            resourceName: 'secret',
            principal: 'User:alice',
            operation: 'ALL',
            permissionType: 'ALLOW',
          },
        ],
      }),
    ).rejects.toSatisfy((err) => errorNameOf(err) === 'CLUSTER_AUTHORIZATION_FAILED');
  });

  it("cannot be fooled by a Nats-Request-Info header a client forges: the server's replaces it", async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'auth.json'), 'utf8')) as {
      clients: Record<string, string>;
    };
    const nc = await connectNats({
      servers: server.url,
      name: 'forger',
      credentials: { nkeySeedFile: clientSeedFile(dir, 'alice'), tls: { caFile: tls.caFile } },
    });
    try {
      const forged = natsHeaders();
      forged.set(
        'Nats-Request-Info',
        JSON.stringify({ acc: 'CLIENTS', user: manifest.clients.admin, host: '127.0.0.1' }),
      );
      const reply = await nc.request(
        subjects.brokerApi(cluster, 1, 'create_acls'),
        wire.CreateAclsRequest.encode({
          creations: [
            {
              resourceType: 2,
              resourceName: '*',
              patternType: 3,
              principal: 'User:alice',
              host: '*',
              operation: 2,
              permission: 3,
            },
          ],
        }).finish(),
        { timeout: 5_000, headers: forged },
      );
      expect(wire.ErrorResponse.decode(reply.data).errorCode).toBe(ErrorCodes.CLUSTER_AUTHORIZATION_FAILED.code);
    } finally {
      await nc.close();
    }
  });

  it('gives bob nothing until an ACL names him, and takes it back when the ACL goes', async () => {
    const bob = clientAs('bob');
    const admin = clientAs('admin').admin();
    await expect(bob.producer().send({ topic: 'orders', messages: [{ value: 'b' }] })).rejects.toSatisfy(
      (err) => errorNameOf(err) === 'TOPIC_AUTHORIZATION_FAILED',
    );
    const grant = {
      resourceType: 'TOPIC',
      resourceName: 'ord',
      resourcePatternType: 'PREFIXED',
      principal: 'User:bob',
    } as const;
    await admin.createAcls({ acl: [{ ...grant, operation: 'WRITE', permissionType: 'ALLOW' }] });
    await waitFor('bob may write', () =>
      bob
        .producer()
        .send({ topic: 'orders', messages: [{ value: 'b' }] })
        .then(() => true)
        .catch(() => false),
    );
    expect(await admin.describeAcls({ principal: 'User:bob' })).toEqual([
      expect.objectContaining({ resourceName: 'ord', resourcePatternType: 'PREFIXED', operation: 'WRITE' }),
    ]);
    const removed = await admin.deleteAcls({ filters: [{ principal: 'User:bob' }] });
    expect(removed[0]).toHaveLength(1);
    await waitFor('bob may not write again', () =>
      bob
        .producer()
        .send({ topic: 'orders', messages: [{ value: 'b' }] })
        .then(() => false)
        // Metadata cached from before: InitProducerId is refused first (no WRITE on any topic now).
        .catch((err: unknown) => /^(TOPIC|CLUSTER)_AUTHORIZATION_FAILED$/.test(errorNameOf(err))),
    );
  });
});

describe('SASL and ACLs on the Kafka door', () => {
  it('kafkajs with SCRAM-SHA-256 over TLS writes and reads what alice may, and is refused the rest', async () => {
    const kafka = kafkaAs({ mechanism: 'scram-sha-256', username: 'alice', password: 'alice-secret' });
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic: 'orders', messages: [{ key: 'k', value: 'from-kafkajs' }] });
      await expect(producer.send({ topic: 'secret', messages: [{ value: 'x' }] })).rejects.toSatisfy(
        (err: { type?: string; cause?: { type?: string } }) =>
          (err.cause?.type ?? err.type) === 'TOPIC_AUTHORIZATION_FAILED',
      );
    } finally {
      await producer.disconnect();
    }
    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId: 'alice-kafkajs' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'orders', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    try {
      await waitFor('kafkajs reads orders', () => seen.includes('from-kafkajs'), 30_000);
    } finally {
      await consumer.disconnect();
    }
    // kafkajs reports a refused FindCoordinator only as "Failed to find group coordinator".
    const stranger = kafka.consumer({ groupId: 'not-hers', retry: { retries: 0 } });
    await stranger.connect();
    await stranger.subscribe({ topic: 'orders' });
    const crashed = new Promise((resolve) => stranger.on(stranger.events.CRASH, (e) => resolve(e.payload.error)));
    await stranger.run({ eachMessage: async () => undefined });
    expect(await crashed).toMatchObject({ name: 'KafkaJSGroupCoordinatorNotFound' });
    await stranger.disconnect();
  });

  it('refuses a wrong password and an unknown user, and PLAIN checks the same credentials', async () => {
    for (const sasl of [
      { mechanism: 'scram-sha-256', username: 'alice', password: 'wrong' },
      { mechanism: 'scram-sha-512', username: 'mallory', password: 'x' },
      { mechanism: 'plain', username: 'alice', password: 'wrong' },
    ] as const) {
      const admin = kafkaAs(sasl).admin();
      await expect(admin.connect(), sasl.mechanism).rejects.toThrow(/SASL|authentication/i);
    }
    const admin = kafkaAs({ mechanism: 'plain', username: 'alice', password: 'alice-secret' }).admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).toEqual(['orders']);
    } finally {
      await admin.disconnect();
    }
  });

  it('kcat with SCRAM-SHA-512 over TLS lists and consumes what alice may describe and read', async () => {
    const sasl = [
      '-X',
      'security.protocol=SASL_SSL',
      '-X',
      'sasl.mechanisms=SCRAM-SHA-512',
      '-X',
      'sasl.username=alice',
      '-X',
      'sasl.password=alice-secret',
      '-X',
      `ssl.ca.location=${tls.caFile}`,
    ];
    const listed = await runKcat(bootstrap, [...sasl, '-L']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/topic "orders"/);
    expect(listed.stdout).not.toMatch(/topic "secret"/);
    const read = await runKcat(bootstrap, [...sasl, '-C', '-t', 'orders', '-o', 'beginning', '-e', '-f', '%s\n']);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toContain('one');
    const refused = await runKcat(bootstrap, [...sasl, '-C', '-t', 'secret', '-o', 'beginning', '-e']);
    expect(refused.stdout).not.toContain('classified');
    expect(refused.stderr).toMatch(/authoriz/i);
    const member = await runKcatUntil(bootstrap, [...sasl, '-G', 'not-hers', 'orders'], /not-hers/);
    expect(member).toMatch(/FindCoordinator .*may not describe group 'not-hers'/);
  });

  it('closes a connection that sends anything but the SASL handshake before authenticating', async () => {
    const plain = new Kafka({
      clientId: 'no-sasl',
      brokers: [bootstrap],
      ssl: { ca: [fs.readFileSync(tls.caFile)] },
      logLevel: logLevel.NOTHING,
    });
    const admin = plain.admin();
    await expect(admin.connect().then(() => admin.listTopics())).rejects.toThrow();
    await admin.disconnect();
  });
});

/** The CLI flags that connect as the admin client. */
const asAdmin = () => [
  '--nats',
  server.url,
  '--cluster',
  cluster,
  '--nkey',
  clientSeedFile(dir, 'admin'),
  '--tls-ca',
  tls.caFile,
];

describe('millrace users and millrace acl', () => {
  const cli = async (...args: string[]) => {
    const r = await runCli([...args, ...asAdmin()]);
    expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it('creates, lists and deletes a SCRAM user, and adds, lists and removes its ACLs', async () => {
    expect(await cli('users', 'create', 'carol', '--scram-password', 'carol-pw')).toContain(
      "user 'carol' has SCRAM-SHA-256 and SCRAM-SHA-512 credentials",
    );
    expect(await cli('users', 'list')).toMatch(/^carol\tSCRAM-SHA-256 \(4096 iterations\), SCRAM-SHA-512/m);
    const admin = kafkaAs({ mechanism: 'scram-sha-512', username: 'carol', password: 'carol-pw' }).admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).toEqual([]);
      expect(
        await cli('acl', 'add', '--principal', 'User:carol', '--operation', 'DESCRIBE', '--topic', 'orders'),
      ).toContain('added: User:carol\tALLOW\tDESCRIBE\tTOPIC\torders\t*');
      await waitFor('carol sees orders', async () => (await admin.listTopics()).includes('orders'));
    } finally {
      await admin.disconnect();
    }
    expect(await cli('acl', 'list', '--principal', 'User:carol')).toBe(
      'User:carol\tALLOW\tDESCRIBE\tTOPIC\torders\t*\n',
    );
    expect(await cli('acl', 'remove', '--principal', 'User:carol')).toContain('removed: User:carol');
    expect(await cli('acl', 'list', '--principal', 'User:carol')).toBe('');
    expect(await cli('users', 'delete', 'carol')).toContain(
      "deleted SCRAM-SHA-256 and SCRAM-SHA-512 credentials of 'carol'",
    );
    expect(await cli('users', 'list')).not.toContain('carol');
  });

  it('says what is missing from a bad acl command', async () => {
    const noResource = await runCli(['acl', 'add', '--principal', 'User:x', '--operation', 'READ', ...asAdmin()]);
    expect(noResource.status).not.toBe(0);
    expect(noResource.stderr).toMatch(/name the resource: --topic, --group, --cluster-resource or --transactional-id/);
    const badOp = await runCli([
      'acl',
      'add',
      '--principal',
      'User:x',
      '--operation',
      'READS',
      '--topic',
      't',
      ...asAdmin(),
    ]);
    expect(badOp.status).not.toBe(0);
    expect(badOp.stderr).toMatch(/--operation 'READS' is not one of/);
  });
});

describe('client quotas on the NATS door', () => {
  it("delays alice's replies once she produces faster than her user quota, set and removed with millrace quotas", async () => {
    const set = await runCli(['quotas', 'set', '--for-user', 'alice', '--producer-byte-rate', '1024', ...asAdmin()]);
    expect(set.stdout, set.stderr).toContain('user=alice: producer_byte_rate=1024');
    expect((await runCli(['quotas', 'list', ...asAdmin()])).stdout).toBe('user=alice\tproducer_byte_rate=1024\n');
    const metric = async () => {
      const text = await (await fetch(`http://127.0.0.1:${brokers[0]!.broker.metricsPort}/metrics`)).text();
      return Number(
        /millrace_client_quota_throttle_seconds_total\{door="nats",quota="producer_byte_rate"\} (\S+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    };
    const before = await metric();
    const alice = clientAs('alice');
    // 12 KB against 1 KB/s over the quota's 10 s span: a wait of about 2 s, within the request timeout.
    await waitFor('alice throttled', async () => {
      await alice.producer({ acks: 1 }).send({ topic: 'orders', messages: [{ value: Buffer.alloc(12_000) }] });
      return (await metric()) > before;
    });
    const removed = await runCli([
      'quotas',
      'set',
      '--for-user',
      'alice',
      '--remove',
      'producer_byte_rate',
      ...asAdmin(),
    ]);
    expect(removed.stdout, removed.stderr).toContain('user=alice: -producer_byte_rate');
    expect((await runCli(['quotas', 'list', ...asAdmin()])).stdout).toBe('');
  });
});
