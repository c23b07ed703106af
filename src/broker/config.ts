/**
 * Broker configuration: command-line flags over MILLRACE_* environment variables over a JSON
 * config file over defaults. Every value is validated; a bad one names itself.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { MillraceError } from '../../protocol/errors.js';
import { CLUSTER_NAME } from '../../protocol/subjects.js';
import { parseIpOverrides } from '../kafka/connection-quotas.js';
import type { NatsCredentials } from '../transport/security.js';
import type { ListenerSecurity } from '../kafka/listener.js';
import type { AuthorizerSettings } from './authorizer.js';

/** HOST:PORT, with an IPv6 host in brackets ([::1]:9092). */
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'HOST:PORT, e.g. 127.0.0.1:9092');

const booleanSetting = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

const SASL_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN'];

export const brokerConfigSchema = z
  .object({
    id: z.coerce.number().int().nonnegative(),
    nats: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(',').map((s) => s.trim()))),
    cluster: z.string().regex(CLUSTER_NAME, 'letters, digits, _ and - only, at most 64'),
    dataDir: z.string().min(1),
    metricsPort: z.coerce.number().int().min(0).max(65535).default(0),
    metricsHost: z.string().default('127.0.0.1'),
    rack: z.string().min(1).nullable().default(null),
    /** Controller lease: a dead controller is replaced within it. */
    controllerLeaseMs: z.coerce.number().int().min(500).default(3_000),
    /** broker.session.timeout.ms (Kafka: 9000; shorter here so failover meets its 3 s aim). */
    sessionTimeoutMs: z.coerce.number().int().min(500).default(2_500),
    /** broker.heartbeat.interval.ms (Kafka: 2000). */
    heartbeatIntervalMs: z.coerce.number().int().min(50).default(500),
    /** How often the controller probes each broker's presence on NATS, to fence a crashed one at once. */
    presenceProbeIntervalMs: z.coerce.number().int().min(10).default(200),
    controlledShutdownTimeoutMs: z.coerce.number().int().min(0).default(30_000),
    /** replica.lag.time.max.ms: a follower not caught up for this long leaves the ISR. */
    replicaLagTimeMaxMs: z.coerce.number().int().min(100).default(30_000),
    /** leader.imbalance.check.interval: how often leaders move back to preferred replicas. */
    leaderRebalanceIntervalMs: z.coerce.number().int().min(1000).default(300_000),
    /** producer.id.expiration.ms: an idempotent producer idle this long is forgotten. */
    producerIdExpirationMs: z.coerce.number().int().min(1).default(86_400_000),
    /** producer.id.expiration.check.interval.ms */
    producerIdExpirationCheckMs: z.coerce.number().int().min(100).default(600_000),
    /** offsets.topic.num.partitions: partitions of __consumer_offsets (fixed once it exists). */
    offsetsTopicPartitions: z.coerce.number().int().min(1).max(1000).default(50),
    /** offsets.topic.replication.factor (capped at the live brokers when it is created). */
    offsetsTopicReplicationFactor: z.coerce.number().int().min(1).default(3),
    /** group.initial.rebalance.delay.ms: a new group waits this long for more members. */
    groupInitialRebalanceDelayMs: z.coerce.number().int().min(0).default(3_000),
    /** group.min.session.timeout.ms / group.max.session.timeout.ms */
    groupMinSessionTimeoutMs: z.coerce.number().int().min(100).default(6_000),
    groupMaxSessionTimeoutMs: z.coerce.number().int().min(100).default(1_800_000),
    /** offsets.retention.ms: committed offsets of an empty group are removed this long after it emptied. */
    offsetsRetentionMs: z.coerce
      .number()
      .int()
      .min(1)
      .default(7 * 24 * 3600 * 1000),
    /** offsets.retention.check.interval.ms */
    offsetsRetentionCheckIntervalMs: z.coerce.number().int().min(100).default(600_000),
    /** transaction.state.log.num.partitions: partitions of __transaction_state (fixed once it exists). */
    transactionStateLogNumPartitions: z.coerce.number().int().min(1).max(1000).default(50),
    /** transaction.state.log.replication.factor (capped at the live brokers when it is created). */
    transactionStateLogReplicationFactor: z.coerce.number().int().min(1).default(3),
    /** transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for. */
    transactionMaxTimeoutMs: z.coerce.number().int().min(1).default(900_000),
    /** transactional.id.expiration.ms: an id idle this long with nothing open is removed. */
    transactionalIdExpirationMs: z.coerce.number().int().min(1).default(604_800_000),
    /** transaction.remove.expired.transaction.cleanup.interval.ms */
    transactionalIdExpirationCheckMs: z.coerce.number().int().min(100).default(3_600_000),
    /** log.cleaner.backoff.ms: how often the cleaner looks for a compacted log to clean. */
    logCleanerBackoffMs: z.coerce.number().int().min(10).default(15_000),
    /** log.cleaner.dedupe.buffer.size, in keys: bounds the cleaner's memory. */
    logCleanerMaxKeys: z.coerce.number().int().min(1).default(1_000_000),
    /** log.cleaner.io.max.bytes.per.second (0: unthrottled). */
    logCleanerIoMaxBytesPerSecond: z.coerce.number().min(0).default(0),
    /**
     * Memory for the newest batches of every log, served to tailing consumers and followers. Off
     * (0) by default: measured slower than page-cache reads here (docs/architecture.md).
     */
    tailCacheBytes: z.coerce.number().int().min(0).default(0),
    /** Segment and index files held open at once; idle ones are closed and reopened on use. */
    maxOpenLogFiles: z.coerce.number().int().min(16).default(8_192),
    /** min.insync.replicas broker default (topics may override). */
    minInsyncReplicas: z.coerce.number().int().min(1).default(1),
    metadataReplicas: z.coerce.number().int().min(1).max(5).default(1),
    /** num.partitions */
    defaultPartitions: z.coerce.number().int().min(1).default(1),
    /** default.replication.factor */
    defaultReplicationFactor: z.coerce.number().int().min(1).default(1),
    /** Broker-wide log defaults (log.segment.bytes, log.retention.ms, ...), Kafka names. */
    logDefaults: z.record(z.string(), z.string()).default({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** HOST:PORT the Kafka protocol listener binds (port 0: any free one); null: no Kafka door. */
    kafkaListener: hostPort.nullable().default(null),
    /** HOST:PORT clients are told to connect to (default: the bound listener address). */
    kafkaAdvertisedListener: hostPort.nullable().default(null),
    /** auto.create.topics.enable: Metadata and Produce on the Kafka door create unknown topics. */
    autoCreateTopicsEnable: booleanSetting.default(true),
    /** socket.request.max.bytes: a larger Kafka request frame closes its connection. */
    socketRequestMaxBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(100 * 1024 * 1024),
    /** connections.max.idle.ms: an idle Kafka connection is closed after this long. */
    connectionsMaxIdleMs: z.coerce.number().int().min(1000).default(600_000),
    /** max.connections: Kafka connections open at once on the listener; more are closed at once. */
    maxConnections: z.coerce.number().int().min(0).default(2_147_483_647),
    /** max.connections.per.ip */
    maxConnectionsPerIp: z.coerce.number().int().min(0).default(2_147_483_647),
    /** max.connections.per.ip.overrides: "host:count,host:count". */
    maxConnectionsPerIpOverrides: z
      .string()
      .default('')
      .refine((text) => {
        try {
          parseIpOverrides(text);
          return true;
        } catch {
          return false;
        }
      }, 'host:count pairs separated by commas, e.g. 127.0.0.1:200,[::1]:50'),
    /** Kafka listener security: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (listener.security.protocol.map). */
    kafkaSecurityProtocol: z.enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']).default('PLAINTEXT'),
    /** The Kafka listener's TLS certificate and key (PEM), and the CA client certificates are checked with. */
    kafkaTlsCertFile: z.string().min(1).nullable().default(null),
    kafkaTlsKeyFile: z.string().min(1).nullable().default(null),
    kafkaTlsCaFile: z.string().min(1).nullable().default(null),
    /** ssl.client.auth: none, requested or required. */
    kafkaTlsClientAuth: z.enum(['none', 'requested', 'required']).default('none'),
    /** sasl.enabled.mechanisms, comma-separated. */
    saslEnabledMechanisms: z
      .string()
      .default('SCRAM-SHA-256,SCRAM-SHA-512,PLAIN')
      .refine(
        (text) => text.split(',').every((m) => SASL_MECHANISMS.includes(m.trim())),
        `a comma-separated list of ${SASL_MECHANISMS.join(', ')}`,
      ),
    /** Authorization by ACLs on both doors (Kafka's authorizer.class.name set); off: every request is allowed. */
    authorization: booleanSetting.default(false),
    /** super.users: principals allowed everything, separated by ';' (User:admin;User:ops). */
    superUsers: z.string().default('User:admin'),
    /** allow.everyone.if.no.acl.found: a resource no ACL names is open to all (off, as it should be). */
    allowEveryoneIfNoAclFound: booleanSetting.default(false),
    /** The auth.json millrace auth wrote: NATS client NKEYs to names, for principals on the NATS door. */
    natsAuthManifest: z.string().min(1).nullable().default(null),
    /** The broker's own NATS identity: one of user and password, token, NKEY seed file, credentials file. */
    natsUser: z.string().min(1).nullable().default(null),
    natsPassword: z.string().nullable().default(null),
    natsToken: z.string().min(1).nullable().default(null),
    natsNkeySeedFile: z.string().min(1).nullable().default(null),
    natsCredsFile: z.string().min(1).nullable().default(null),
    /** TLS to NATS: the CA, and a client certificate and key where the server asks for one. */
    natsTlsCaFile: z.string().min(1).nullable().default(null),
    natsTlsCertFile: z.string().min(1).nullable().default(null),
    natsTlsKeyFile: z.string().min(1).nullable().default(null),
  })
  .strict();

export type BrokerConfig = z.infer<typeof brokerConfigSchema>;

/** The Kafka listener's TLS and SASL from a broker's configuration. */
export function listenerSecurity(c: BrokerConfig): ListenerSecurity {
  const tls = c.kafkaTlsCertFile
    ? {
        certFile: c.kafkaTlsCertFile,
        keyFile: c.kafkaTlsKeyFile ?? '',
        caFile: c.kafkaTlsCaFile,
        clientAuth: c.kafkaTlsClientAuth,
      }
    : undefined;
  return { protocol: c.kafkaSecurityProtocol, ...(tls ? { tls } : {}) };
}

/** The authorizer's settings from a broker's configuration. */
export function authorizerSettings(c: BrokerConfig): AuthorizerSettings {
  return {
    enabled: c.authorization,
    superUsers: c.superUsers
      .split(';')
      .map((p) => p.trim())
      .filter(Boolean),
    allowEveryoneIfNoAclFound: c.allowEveryoneIfNoAclFound,
  };
}

/** The broker's NATS credentials and TLS, as the transport takes them. */
export function brokerNatsCredentials(c: BrokerConfig): NatsCredentials {
  const tls =
    c.natsTlsCaFile || c.natsTlsCertFile
      ? {
          caFile: c.natsTlsCaFile ?? undefined,
          certFile: c.natsTlsCertFile ?? undefined,
          keyFile: c.natsTlsKeyFile ?? undefined,
        }
      : undefined;
  return {
    ...(c.natsUser !== null ? { user: c.natsUser, pass: c.natsPassword ?? '' } : {}),
    ...(c.natsToken !== null ? { token: c.natsToken } : {}),
    ...(c.natsNkeySeedFile !== null ? { nkeySeedFile: c.natsNkeySeedFile } : {}),
    ...(c.natsCredsFile !== null ? { credsFile: c.natsCredsFile } : {}),
    ...(tls ? { tls } : {}),
  };
}
export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;

/**
 * MILLRACE_<KEY IN SCREAMING SNAKE CASE> for every setting but the record-valued logDefaults
 * (MILLRACE_MIN_INSYNC_REPLICAS, MILLRACE_SESSION_TIMEOUT_MS, ...); the id is MILLRACE_BROKER_ID.
 */
export const envNames: Readonly<Record<string, keyof BrokerConfigInput>> = Object.fromEntries(
  (Object.keys(brokerConfigSchema.shape) as Array<keyof BrokerConfigInput>)
    .filter((key) => key !== 'logDefaults')
    .map((key) => [
      key === 'id' ? 'MILLRACE_BROKER_ID' : `MILLRACE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`,
      key,
    ]),
);

export function brokerConfigFromEnv(env: NodeJS.ProcessEnv): Partial<BrokerConfigInput> {
  const out: Record<string, string> = {};
  for (const [name, key] of Object.entries(envNames))
    if (env[name] !== undefined && env[name] !== '') out[key] = env[name]!;
  return out as Partial<BrokerConfigInput>;
}

export function readConfigFile(file: string): Partial<BrokerConfigInput> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MillraceError('INVALID_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as Partial<BrokerConfigInput>;
  } catch (err) {
    throw new MillraceError('INVALID_CONFIG', `config file ${file} is not JSON: ${(err as Error).message}`);
  }
}

/** Merges the sources (later ones win) and validates the result. */
export function resolveBrokerConfig(...sources: Array<Partial<BrokerConfigInput>>): BrokerConfig {
  const merged: Record<string, unknown> = {};
  for (const s of sources) for (const [k, v] of Object.entries(s)) if (v !== undefined) merged[k] = v;
  const result = brokerConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ');
    throw new MillraceError('INVALID_CONFIG', problems);
  }
  return result.data;
}

/** The broker's settings under Kafka's broker config names, as DescribeConfigs shows them. */
export function kafkaBrokerConfigs(c: BrokerConfig): Record<string, string> {
  const out: Record<string, string> = {
    'broker.id': String(c.id),
    'broker.rack': c.rack ?? '',
    'num.partitions': String(c.defaultPartitions),
    'default.replication.factor': String(c.defaultReplicationFactor),
    'min.insync.replicas': String(c.minInsyncReplicas),
    'auto.create.topics.enable': String(c.autoCreateTopicsEnable),
    'offsets.topic.num.partitions': String(c.offsetsTopicPartitions),
    'offsets.topic.replication.factor': String(c.offsetsTopicReplicationFactor),
    'offsets.retention.minutes': String(Math.round(c.offsetsRetentionMs / 60_000)),
    'group.initial.rebalance.delay.ms': String(c.groupInitialRebalanceDelayMs),
    'transaction.state.log.num.partitions': String(c.transactionStateLogNumPartitions),
    'transaction.state.log.replication.factor': String(c.transactionStateLogReplicationFactor),
    'transaction.max.timeout.ms': String(c.transactionMaxTimeoutMs),
    'transactional.id.expiration.ms': String(c.transactionalIdExpirationMs),
    'group.min.session.timeout.ms': String(c.groupMinSessionTimeoutMs),
    'group.max.session.timeout.ms': String(c.groupMaxSessionTimeoutMs),
    'replica.lag.time.max.ms': String(c.replicaLagTimeMaxMs),
    'broker.session.timeout.ms': String(c.sessionTimeoutMs),
    'broker.heartbeat.interval.ms': String(c.heartbeatIntervalMs),
    'socket.request.max.bytes': String(c.socketRequestMaxBytes),
    'connections.max.idle.ms': String(c.connectionsMaxIdleMs),
    'max.connections': String(c.maxConnections),
    'max.connections.per.ip': String(c.maxConnectionsPerIp),
    'max.connections.per.ip.overrides': c.maxConnectionsPerIpOverrides,
    'security.protocol': c.kafkaSecurityProtocol,
    'ssl.client.auth': c.kafkaTlsClientAuth,
    'sasl.enabled.mechanisms': c.saslEnabledMechanisms,
    'super.users': c.superUsers,
    'allow.everyone.if.no.acl.found': String(c.allowEveryoneIfNoAclFound),
  };
  for (const [k, v] of Object.entries(c.logDefaults)) out[`log.${k}`] = v;
  return out;
}
