/**
 * `millrace dev`: a single-node Millrace for development. Without --nats it starts its own
 * nats-server with JetStream on a free loopback port. Kafka clients connect to its Kafka
 * listener (127.0.0.1:9092 unless taken), schema clients to its schema registry
 * (http://127.0.0.1:8081 unless taken). With --demo it creates a topic, produces and consumes
 * a few thousand records, prints what happened, and stops.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { MillraceError } from '../../protocol/errors.js';
import { pino } from 'pino';
import { Broker } from '../broker/broker.js';
import { resolveBrokerConfig } from '../broker/config.js';
import { Millrace } from '../client/index.js';
import { startNatsServer, type NatsServerHandle } from '../transport/nats-server.js';
import type { NatsCredentials } from '../transport/security.js';
import { authSetup, clientSeedFile } from './auth.js';
import { integer, print, untilSignalled } from './common.js';
import { SchemaRegistryServer } from '../registry/server.js';

const DEMO_TOPIC = 'demo';

/** The usual loopback port (9092 for Kafka, 8081 for a schema registry), or 0 (any free one) when taken. */
async function usualPortOrAny(port: number): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  return free ? port : 0;
}

async function demo(client: Millrace, records: number): Promise<void> {
  const admin = client.admin();
  await admin.createTopics({ topics: [{ topic: DEMO_TOPIC, numPartitions: 3, replicationFactor: 1 }] });
  const [before] = await admin.describeTopics([DEMO_TOPIC]);
  const start = new Map(before!.partitions.map((p) => [p.partition, p.latestOffset ?? 0n]));
  print(
    `topic '${DEMO_TOPIC}': ${before!.partitions.length} partitions, leader ${before!.partitions.map((p) => p.leader).join(',')}`,
  );

  const producer = client.producer({ acks: 'all', lingerMs: 5, compression: 'lz4' });
  const t0 = Date.now();
  const acked = await producer.send({
    topic: DEMO_TOPIC,
    messages: Array.from({ length: records }, (_, i) => ({
      key: `user-${i % 50}`,
      value: JSON.stringify({ order: i, amount: (i * 37) % 1000 }),
      headers: { source: 'millrace-dev' },
    })),
  });
  const perPartition = new Map<number, number>();
  for (const a of acked) perPartition.set(a.partition, (perPartition.get(a.partition) ?? 0) + 1);
  print(
    `produced ${acked.length} records in ${Date.now() - t0} ms (acks=all, lz4): ${[...perPartition]
      .sort()
      .map(([p, n]) => `p${p}=${n}`)
      .join(' ')}`,
  );

  const consumer = client.consumer();
  consumer.assign([...start].map(([partition, offset]) => ({ topic: DEMO_TOPIC, partition, offset })));
  const t1 = Date.now();
  let consumed = 0;
  let firstKey = '';
  for await (const m of consumer) {
    if (consumed === 0)
      firstKey = `${m.key?.toString()} -> ${m.value?.toString()} (partition ${m.partition}, offset ${m.offset})`;
    if (++consumed === records) break;
  }
  await consumer.close();
  print(`consumed ${consumed} records in ${Date.now() - t1} ms; first: ${firstKey}`);
  const [after] = await admin.describeTopics([DEMO_TOPIC]);
  print(`log end offsets: ${after!.partitions.map((p) => `p${p.partition}=${p.latestOffset}`).join(' ')}`);
}

const KAFKA_ADMIN_PASSWORD = 'kafka-admin.password';

/**
 * The SCRAM user 'admin' for the secure setup's Kafka listener (a super user, as the NATS admin
 * client is): its password made once and kept with the other credentials.
 */
async function kafkaAdmin(
  servers: string,
  cluster: string,
  credentials: NatsCredentials,
  authDir: string,
): Promise<string> {
  const file = path.join(authDir, KAFKA_ADMIN_PASSWORD);
  if (!fs.existsSync(file)) fs.writeFileSync(file, `${randomBytes(12).toString('base64url')}\n`, { mode: 0o600 });
  const password = fs.readFileSync(file, 'utf8').trim();
  const client = new Millrace({ servers, cluster, clientId: 'millrace-dev', credentials });
  try {
    await client.admin().alterUserScramCredentials({
      upsertions: ['SCRAM-SHA-256', 'SCRAM-SHA-512'].map((m) => ({
        user: 'admin',
        password,
        mechanism: m as 'SCRAM-SHA-256' | 'SCRAM-SHA-512',
      })),
    });
  } finally {
    await client.close();
  }
  return password;
}

export function devCommand(): Command {
  return new Command('dev')
    .description('run a single-node Millrace (starting its own nats-server unless --nats is given)')
    .option('--data-dir <dir>', 'where logs (and the NATS store) live (default: a new temporary directory)')
    .option('--nats <urls>', 'use this NATS server instead of starting one')
    .option('--cluster <name>', 'cluster name', 'dev')
    .option('--metrics-port <port>', 'Prometheus metrics port (0: any free one)', integer('--metrics-port', 0), 0)
    .option(
      '--kafka-listener <host:port>',
      'where Kafka clients connect (default 127.0.0.1:9092, or a free port when 9092 is taken)',
    )
    .option(
      '--secure',
      'NATS with TLS and accounts from millrace auth (in <data-dir>/auth), ACLs on, the Kafka listener with SCRAM over TLS',
    )
    .option('--demo', 'create a topic, produce and consume records, print what happened, then stop')
    .option('--demo-records <n>', 'records the demo writes', integer('--demo-records', 1), 5_000)
    .action(
      async (flags: {
        dataDir?: string;
        nats?: string;
        cluster: string;
        metricsPort: number;
        kafkaListener?: string;
        secure?: boolean;
        demo?: boolean;
        demoRecords: number;
      }) => {
        if (flags.secure && flags.nats)
          throw new MillraceError('INVALID_CONFIG', '--secure starts its own nats-server: leave out --nats');
        const dataDir = flags.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-dev-'));
        const authDir = path.join(dataDir, 'auth');
        const auth = flags.secure ? authSetup(authDir, flags.cluster) : null;
        // The brokers' and the demo's NATS credentials, and the flags that give a CLI command the admin's.
        const brokerAuth = auth
          ? { natsNkeySeedFile: path.join(authDir, 'broker.nk'), natsTlsCaFile: auth.tls!.caFile }
          : {};
        const adminSeed = clientSeedFile(authDir, 'admin');
        const credentials = auth ? { nkeySeedFile: adminSeed, tls: { caFile: auth.tls!.caFile } } : undefined;
        const cliAuth = auth ? ` --nkey ${adminSeed} --tls-ca ${auth.tls!.caFile}` : '';
        let nats: NatsServerHandle | null = null;
        let natsUrl = flags.nats;
        if (!natsUrl) {
          nats = await startNatsServer({
            storeDir: path.join(dataDir, 'nats'),
            ...(auth ? { configFile: path.join(authDir, 'nats.conf') } : {}),
          });
          natsUrl = nats.url;
          print(`started nats-server with JetStream at ${natsUrl}${auth ? `, TLS and accounts from ${authDir}` : ''}`);
        }
        const logger = pino({ level: flags.demo ? 'error' : 'info' });
        const broker = await Broker.start(
          resolveBrokerConfig({
            id: 1,
            nats: natsUrl,
            cluster: flags.cluster,
            dataDir: path.join(dataDir, 'broker-1'),
            metricsPort: flags.metricsPort,
            kafkaListener: flags.kafkaListener ?? `127.0.0.1:${await usualPortOrAny(9092)}`,
            ...brokerAuth,
            // Secure: ACLs on both doors, and the Kafka listener with SCRAM over TLS (the NATS server's certificate).
            ...(auth
              ? {
                  authorization: true,
                  natsAuthManifest: path.join(authDir, 'auth.json'),
                  kafkaSecurityProtocol: 'SASL_SSL' as const,
                  kafkaTlsCertFile: auth.tls!.certFile,
                  kafkaTlsKeyFile: auth.tls!.keyFile,
                }
              : {}),
          }),
          logger,
        );
        print(
          `broker 1 running: cluster '${flags.cluster}', data in ${dataDir}, metrics at http://127.0.0.1:${broker.metricsPort}/metrics`,
        );
        if (broker.kafkaEndpoint && !auth)
          print(`Kafka protocol listener: bootstrap ${broker.kafkaEndpoint} (try: kcat -b ${broker.kafkaEndpoint} -L)`);
        if (broker.kafkaEndpoint && auth) {
          const password = await kafkaAdmin(natsUrl, flags.cluster, credentials!, authDir);
          print(
            `Kafka protocol listener (SASL_SSL, SCRAM user 'admin', password in ${path.join(authDir, KAFKA_ADMIN_PASSWORD)}): ` +
              `kcat -b ${broker.kafkaEndpoint} -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-256 ` +
              `-X sasl.username=admin -X sasl.password=${password} -X ssl.ca.location=${auth.tls!.caFile} -L`,
          );
        }
        const registryClient = new Millrace({
          servers: natsUrl,
          cluster: flags.cluster,
          clientId: 'millrace-dev-schema-registry',
          credentials,
        });
        const registry = await SchemaRegistryServer.start(registryClient, { port: await usualPortOrAny(8081) });
        print(`schema registry (Confluent's REST API): ${registry.url} (try: curl ${registry.url}/subjects)`);
        const stopAll = async (): Promise<void> => {
          await registry.close();
          await registryClient.close();
          await broker.stop();
        };
        try {
          if (flags.demo) {
            const client = new Millrace({
              servers: natsUrl,
              cluster: flags.cluster,
              clientId: 'millrace-dev-demo',
              credentials,
            });
            try {
              await demo(client, flags.demoRecords);
            } finally {
              await client.close();
            }
            await stopAll();
          } else {
            print(
              `try: millrace topic create orders --partitions 3 --nats ${natsUrl} --cluster ${flags.cluster}${cliAuth}`,
            );
            print('stop with Ctrl-C');
            await untilSignalled((signal) => {
              broker.logger.info({ signal }, 'shutting down');
              return stopAll();
            });
          }
        } finally {
          await nats?.stop();
        }
        print('stopped cleanly');
      },
    );
}
