import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerConfigFromEnv, envNames, readConfigFile, resolveBrokerConfig } from '../../src/broker/config.js';
import {
  minInsyncReplicas,
  parseConfigPairs,
  topicLogConfig,
  validateTopicConfigs,
} from '../../src/cluster/topic-config.js';
import { tempDir } from '../harness/storage.js';

describe('topic configs', () => {
  it('validates Kafka names and values with errors that name them', () => {
    expect(() =>
      validateTopicConfigs({ 'retention.ms': '86400000', 'cleanup.policy': 'delete', 'min.insync.replicas': '2' }),
    ).not.toThrow();
    expect(() => validateTopicConfigs({ 'retention.ms': '-2' })).toThrow(
      /INVALID_CONFIG: retention.ms=-2: expected an integer from -1/,
    );
    expect(() => validateTopicConfigs({ 'segment.bytes': '1.5' })).toThrow(/segment.bytes=1.5/);
    expect(() => validateTopicConfigs({ 'message.timestamp.type': 'Now' })).toThrow(/CreateTime, LogAppendTime/);
    expect(() => validateTopicConfigs({ 'retention.msec': '1' })).toThrow(/unknown topic config 'retention.msec'/);
  });

  it('turns configs into a log configuration over defaults', () => {
    const c = topicLogConfig({
      'segment.bytes': '1048576',
      'retention.bytes': '5000000',
      'flush.messages': String(Number.MAX_SAFE_INTEGER),
    });
    expect(c.segmentBytes).toBe(1048576);
    expect(c.retentionBytes).toBe(5000000);
    expect(c.retentionMs).toBe(7 * 24 * 3600 * 1000);
    expect(c.flushMessages).toBe(Infinity);
    expect(minInsyncReplicas({})).toBe(1);
    expect(minInsyncReplicas({ 'min.insync.replicas': '2' })).toBe(2);
  });

  it('parses key=value pairs from the command line', () => {
    expect(parseConfigPairs(['a.b=1', 'c=x=y'])).toEqual({ 'a.b': '1', c: 'x=y' });
    expect(() => parseConfigPairs(['novalue'])).toThrow(/not key=value/);
  });
});

describe('broker config', () => {
  it('merges file < environment < flags and applies defaults', () => {
    const dir = tempDir();
    const file = path.join(dir, 'broker.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        id: 1,
        nats: 'nats://file:4222',
        cluster: 'prod',
        dataDir: '/data',
        rack: 'r1',
        metricsPort: 9100,
      }),
    );
    const env = brokerConfigFromEnv({ MILLRACE_NATS: 'nats://a:4222,nats://b:4222', MILLRACE_METRICS_PORT: '9200' });
    const c = resolveBrokerConfig(readConfigFile(file), env, { id: 7 });
    expect(c).toMatchObject({
      id: 7,
      nats: ['nats://a:4222', 'nats://b:4222'],
      cluster: 'prod',
      dataDir: '/data',
      rack: 'r1',
      metricsPort: 9200,
      sessionTimeoutMs: 2500,
    });
    fs.rmSync(dir, { recursive: true });
  });

  it('reads every scalar setting from MILLRACE_<SNAKE_CASE>', () => {
    expect(envNames).toMatchObject({
      MILLRACE_BROKER_ID: 'id',
      MILLRACE_KAFKA_ADVERTISED_LISTENER: 'kafkaAdvertisedListener',
      MILLRACE_MIN_INSYNC_REPLICAS: 'minInsyncReplicas',
    });
    expect(Object.values(envNames)).not.toContain('logDefaults');
    const c = resolveBrokerConfig(
      brokerConfigFromEnv({
        MILLRACE_BROKER_ID: '2',
        MILLRACE_NATS: 'nats://n:4222',
        MILLRACE_CLUSTER: 'c',
        MILLRACE_DATA_DIR: '/d',
        MILLRACE_DEFAULT_REPLICATION_FACTOR: '3',
        MILLRACE_SESSION_TIMEOUT_MS: '4000',
        MILLRACE_AUTO_CREATE_TOPICS_ENABLE: 'false',
      }),
    );
    expect(c).toMatchObject({
      id: 2,
      defaultReplicationFactor: 3,
      sessionTimeoutMs: 4000,
      autoCreateTopicsEnable: false,
    });
  });

  it('names every bad or missing value', () => {
    expect(() => resolveBrokerConfig({ id: -1, nats: 'x', cluster: 'ok', dataDir: '/d' })).toThrow(
      /INVALID_CONFIG: id:/,
    );
    expect(() => resolveBrokerConfig({ id: 1, nats: 'x', cluster: 'bad name', dataDir: '/d' })).toThrow(
      /cluster: letters, digits/,
    );
    expect(() => resolveBrokerConfig({ id: 1, nats: 'x', cluster: 'ok' })).toThrow(/dataDir/);
    expect(() =>
      resolveBrokerConfig({ id: 1, nats: 'x', cluster: 'ok', dataDir: '/d', colour: 'blue' } as never),
    ).toThrow(/colour/);
    expect(() => readConfigFile('/no/such/file.json')).toThrow(/cannot read config file \/no\/such\/file.json/);
  });
});
