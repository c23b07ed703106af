/**
 * A Kafka listener on SSL that requires client certificates (ssl.client.auth=required): a client
 * with a certificate from `millrace auth add-client` is User:CN=<name> and gets what its ACLs
 * allow; a client without one does not get past the handshake.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace } from '../../src/client/index.js';
import { authAddClient, authInit } from '../../src/cli/auth.js';
import { startBroker, stopAll, uniqueCluster, type TestBroker } from '../harness/cluster.js';
import { tempDir } from '../harness/storage.js';

const cluster = uniqueCluster('mtls');
const dir = tempDir('millrace-mtls-');
const brokers: TestBroker[] = [];
let client: Millrace;
let bootstrap = '';
let tlsDir = '';

beforeAll(async () => {
  const tls = authInit(dir, cluster).tls!;
  authAddClient(dir, 'carol');
  tlsDir = path.dirname(tls.caFile);
  brokers.push(
    await startBroker(inject('natsUrl'), cluster, 1, {
      authorization: true,
      kafkaListener: '127.0.0.1:0',
      kafkaSecurityProtocol: 'SSL',
      kafkaTlsCertFile: tls.certFile,
      kafkaTlsKeyFile: tls.keyFile,
      kafkaTlsCaFile: tls.caFile,
      kafkaTlsClientAuth: 'required',
    }),
  );
  bootstrap = brokers[0]!.broker.kafkaEndpoint!;
  // This NATS server has no accounts: the SDK's requests come in as the brokers' own (allowed).
  client = new Millrace({ servers: inject('natsUrl'), cluster });
  await client.admin().createTopics({ topics: [{ topic: 'certified' }, { topic: 'other' }] });
  await client.admin().createAcls({
    acl: ['WRITE', 'IDEMPOTENT_WRITE'].map((operation) => ({
      resourceType: operation === 'WRITE' ? 'TOPIC' : 'CLUSTER',
      resourceName: operation === 'WRITE' ? 'certified' : 'kafka-cluster',
      principal: 'User:CN=carol',
      operation: operation as 'WRITE' | 'IDEMPOTENT_WRITE',
      permissionType: 'ALLOW',
    })),
  });
});

afterAll(async () => {
  await client?.close();
  await stopAll(brokers);
  fs.rmSync(dir, { recursive: true, force: true });
});

const kafkaWith = (ssl: object) =>
  new Kafka({ clientId: 'mtls', brokers: [bootstrap], ssl, logLevel: logLevel.NOTHING, retry: { retries: 1 } });

describe('client certificates on the Kafka listener', () => {
  it('knows a client by its certificate (User:CN=carol) and applies its ACLs', async () => {
    const producer = kafkaWith({
      ca: [fs.readFileSync(path.join(tlsDir, 'ca.pem'))],
      cert: fs.readFileSync(path.join(tlsDir, 'clients', 'carol.pem')),
      key: fs.readFileSync(path.join(tlsDir, 'clients', 'carol-key.pem')),
    }).producer();
    await producer.connect();
    try {
      await producer.send({ topic: 'certified', messages: [{ value: 'signed' }] });
      await expect(producer.send({ topic: 'other', messages: [{ value: 'x' }] })).rejects.toThrow(/authoriz/i);
    } finally {
      await producer.disconnect();
    }
  });

  it('does not let a client without a certificate past the handshake', async () => {
    const admin = kafkaWith({ ca: [fs.readFileSync(path.join(tlsDir, 'ca.pem'))] }).admin();
    await expect(admin.connect().then(() => admin.listTopics())).rejects.toThrow();
    await admin.disconnect();
  });
});
