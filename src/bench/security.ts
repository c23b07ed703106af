/**
 * `millrace bench security`: the cost of security. The same produce runs twice on one broker,
 * without security and then with all of it (TLS to NATS, NATS accounts, ACLs checked on every
 * request; the Kafka listener on SASL_SSL with SCRAM), through both doors: the SDK over NATS and
 * kcat over the Kafka listener. Issue 14's aim: secured within 20% of plain.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Millrace, type NatsCredentials } from '../client/index.js';
import { authAddClient, authInit, clientSeedFile } from '../cli/auth.js';
import { kcat } from './kafka.js';
import { BENCH_CLUSTER, plainProduce, produceWorkload, startBenchCluster } from './workloads.js';

export interface SecurityBenchOptions {
  records: number;
  recordSize: number;
  partitions: number;
}

const TOPIC = 'security-bench';
const USER = 'bench';
const PASSWORD = 'bench-password';

async function side(secure: boolean, o: SecurityBenchOptions): Promise<{ nats: number; kafka: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-bench-security-'));
  const authDir = path.join(dir, 'auth');
  let brokerEnv: Record<string, string> = {};
  let admin: NatsCredentials | undefined;
  let bench: NatsCredentials | undefined;
  let kafkaSecurity: string[] = [];
  if (secure) {
    const { tls } = authInit(authDir, BENCH_CLUSTER);
    authAddClient(authDir, USER);
    brokerEnv = {
      MILLRACE_NATS_NKEY_SEED_FILE: path.join(authDir, 'broker.nk'),
      MILLRACE_NATS_TLS_CA_FILE: tls!.caFile,
      MILLRACE_NATS_AUTH_MANIFEST: path.join(authDir, 'auth.json'),
      MILLRACE_AUTHORIZATION: 'true',
      MILLRACE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      MILLRACE_KAFKA_TLS_CERT_FILE: tls!.certFile,
      MILLRACE_KAFKA_TLS_KEY_FILE: tls!.keyFile,
    };
    admin = { nkeySeedFile: clientSeedFile(authDir, 'admin'), tls: { caFile: tls!.caFile } };
    bench = { nkeySeedFile: clientSeedFile(authDir, USER), tls: { caFile: tls!.caFile } };
    kafkaSecurity = [
      '-X',
      'security.protocol=SASL_SSL',
      '-X',
      'sasl.mechanisms=SCRAM-SHA-256',
      '-X',
      `sasl.username=${USER}`,
      '-X',
      `sasl.password=${PASSWORD}`,
      '-X',
      `ssl.ca.location=${tls!.caFile}`,
    ];
  }
  const cluster = await startBenchCluster(1, {
    kafkaListeners: true,
    ...(secure ? { natsConfigFile: path.join(authDir, 'nats.conf'), brokerEnv } : {}),
  });
  const connect = (credentials: NatsCredentials | undefined, clientId: string) =>
    new Millrace({
      servers: cluster.nats,
      cluster: cluster.cluster,
      clientId,
      ...(credentials ? { credentials } : {}),
    });
  const adminClient = connect(admin, 'bench-admin');
  const benchClient = connect(bench, 'bench-security');
  try {
    const a = adminClient.admin();
    await a.createTopics({ topics: [{ topic: TOPIC, numPartitions: o.partitions }] });
    if (secure) {
      await a.alterUserScramCredentials({ upsertions: [{ user: USER, password: PASSWORD }] });
      const principal = `User:${USER}`;
      await a.createAcls({
        acl: [
          { resourceType: 'TOPIC', resourceName: TOPIC, principal, operation: 'WRITE', permissionType: 'ALLOW' },
          {
            resourceType: 'CLUSTER',
            resourceName: 'kafka-cluster',
            principal,
            operation: 'IDEMPOTENT_WRITE',
            permissionType: 'ALLOW',
          },
        ],
      });
    }
    const viaNats = await produceWorkload(benchClient, TOPIC, plainProduce(o, true));
    const bootstrap = (await a.describeCluster()).brokers[0]!.kafkaEndpoint!;
    const line = Buffer.alloc(o.recordSize + 1, 'x');
    line[o.recordSize] = 0x0a;
    const viaKafka = await kcat(
      ['-b', bootstrap, '-P', '-t', TOPIC, '-X', 'acks=1', '-X', 'linger.ms=5', ...kafkaSecurity],
      { lines: o.records, line },
    );
    return { nats: viaNats.recordsPerSec as number, kafka: Math.round(o.records / viaKafka.seconds) };
  } finally {
    await Promise.allSettled([adminClient.close(), benchClient.close()]);
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Plain, secured, secured, plain (ABBA): the machine's drift over the run (page cache, other
 * work on two cores) falls on both sides alike; each side's figure is the mean of its two runs.
 */
export async function securityBench(o: SecurityBenchOptions): Promise<Record<string, unknown>> {
  const runs: Array<{ secure: boolean; nats: number; kafka: number }> = [];
  for (const secure of [false, true, true, false]) {
    process.stderr.write(secure ? 'producing with TLS, accounts, ACLs and SASL_SSL\n' : 'producing without security\n');
    runs.push({ secure, ...(await side(secure, o)) });
  }
  const mean = (secure: boolean, door: 'nats' | 'kafka') => {
    const mine = runs.filter((r) => r.secure === secure).map((r) => r[door]);
    return Math.round(mine.reduce((a, b) => a + b, 0) / mine.length);
  };
  const plain = { nats: mean(false, 'nats'), kafka: mean(false, 'kafka') };
  const secured = { nats: mean(true, 'nats'), kafka: mean(true, 'kafka') };
  const ratio = (k: 'nats' | 'kafka') => +(secured[k] / plain[k]).toFixed(3);
  return {
    bench: 'security',
    ...o,
    acks: 1,
    order: 'plain, secured, secured, plain',
    runs,
    recordsPerSecond: { plain, secured },
    securedOverPlain: { nats: ratio('nats'), kafka: ratio('kafka') },
    aim: 'secured within 20% of plain (ratio >= 0.8)',
  };
}
