/**
 * A NATS server configured by `millrace auth init` (real nats-server, free loopback port): TLS
 * with the CA it made, brokers and clients in separate accounts, clients limited to the client
 * APIs and their own inbox.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Millrace } from '../../src/client/index.js';
import { authAddClient, authInit, clientSeedFile } from '../../src/cli/auth.js';
import { connectNats } from '../../src/transport/connection.js';
import { startNatsServer, type NatsServerHandle } from '../../src/transport/nats-server.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';
import { readFromEarliest } from '../harness/read.js';
import { tempDir } from '../harness/storage.js';

const cluster = uniqueCluster('sec');
const dir = tempDir('millrace-auth-');
let server: NatsServerHandle;
let caFile = '';
const brokers: TestBroker[] = [];
const clients: Millrace[] = [];
const brokerCredentials = (seedFile: string) => ({ natsNkeySeedFile: seedFile, natsTlsCaFile: caFile });

function clientAs(name: string): Millrace {
  const c = new Millrace({
    servers: server.url,
    cluster,
    requestTimeoutMs: 5_000,
    credentials: { nkeySeedFile: clientSeedFile(dir, name), tls: { caFile } },
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  caFile = authInit(dir, cluster).tls!.caFile;
  server = await startNatsServer({ storeDir: path.join(dir, 'jetstream'), configFile: path.join(dir, 'nats.conf') });
  brokers.push(await startBroker(server.url, cluster, 1, brokerCredentials(path.join(dir, 'broker.nk'))));
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await stopAll(brokers);
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('NATS accounts from millrace auth init', () => {
  it('serves a client with its credentials through the imported APIs', async () => {
    const admin = clientAs('admin');
    await admin.admin().createTopics({ topics: [{ topic: 'secured', numPartitions: 2 }] });
    await admin.producer({ acks: 'all' }).send({
      topic: 'secured',
      messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });
    expect(await readFromEarliest(admin, 'secured', 2, 20)).toHaveLength(20);
  });

  it("refuses a client's requests to broker-internal, controller and JetStream subjects", async () => {
    const nc = await connectNats({
      servers: server.url,
      name: 'intruder',
      credentials: { nkeySeedFile: clientSeedFile(dir, 'admin'), tls: { caFile } },
    });
    try {
      for (const subject of [
        `mr.${cluster}.broker.1.internal.replica_fetch`,
        `mr.${cluster}.controller.1.register_broker`,
        `$JS.API.STREAM.LIST`,
      ])
        await expect(nc.request(subject, new Uint8Array(0), { timeout: 2_000 }), subject).rejects.toThrow(
          /permission/i,
        );
    } finally {
      await nc.close();
    }
  });

  it('refuses connections without credentials, and a broker with credentials of its own making', async () => {
    await expect(
      connectNats({ servers: server.url, name: 'anonymous', credentials: { tls: { caFile } } }),
    ).rejects.toThrow(/authori[sz]ation/i);
    const forged = path.join(dir, 'forged.nk');
    fs.writeFileSync(forged, new TextDecoder().decode(createUser().getSeed()));
    await expect(startBroker(server.url, cluster, 2, brokerCredentials(forged))).rejects.toThrow(/authori[sz]ation/i);
  });

  it("refuses to talk to a server whose certificate the client's CA did not sign", async () => {
    const seedFile = clientSeedFile(dir, 'admin');
    // The system's CAs (no caFile): the server's certificate cannot be verified, and the client stops.
    await expect(
      connectNats({ servers: server.url, name: 'no-ca', credentials: { nkeySeedFile: seedFile, tls: {} } }),
    ).rejects.toThrow(/certificate/i);
    // Told not to verify (tests only), it connects.
    const nc = await connectNats({
      servers: server.url,
      name: 'insecure',
      credentials: { nkeySeedFile: seedFile, tls: { verify: false } },
    });
    await nc.close();
  });

  it('lets a client added with millrace auth add-client in once the server reloads its configuration', async () => {
    authAddClient(dir, 'bob');
    server.process.kill('SIGHUP');
    const bob = clientAs('bob');
    await waitFor('bob admitted', async () => (await bob.admin().listTopics()).includes('secured'), 20_000);
  });
});
