/**
 * Kafka listener connections: pipelined requests answered in order, bounded frames, malformed
 * input and unknown APIs closing only their own connection, KIP-511 downgrade, idle close, and
 * the listener's metrics.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Reader, Writer, apis, decodeMessage, writeRequestHeader } from '../../protocol/kafka/index.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';
import { RawKafkaClient, frame, kafkaRequest } from '../harness/kafka.js';
import { batchOf } from '../harness/storage.js';

const cluster = uniqueCluster('kconn');
let brokers: TestBroker[] = [];
let endpoint = '';

beforeAll(async () => {
  brokers = [
    await startBroker(inject('natsUrl'), cluster, 1, {
      kafkaListener: '127.0.0.1:0',
      socketRequestMaxBytes: 64 * 1024,
      connectionsMaxIdleMs: 1_500,
    }),
  ];
  endpoint = brokers[0]!.broker.kafkaEndpoint!;
});

afterAll(() => stopAll(brokers));

describe('Kafka listener connections', () => {
  it('answers pipelined requests in the order sent', async () => {
    const c = new RawKafkaClient(endpoint);
    await c.ready();
    const burst = Buffer.concat([
      frame(apis.Metadata, 9, 1, { topics: null }),
      frame(apis.ApiVersions, 3, 2, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' }),
      frame(apis.Metadata, 1, 3, { topics: [] }),
      frame(apis.ApiVersions, 0, 4, {}),
    ]);
    c.send(burst);
    await waitFor('four responses', () => c.frames.length === 4);
    expect(c.frames.map((f) => f.readInt32BE(0))).toEqual([1, 2, 3, 4]);
    // ApiVersions v3: response header v0, then the body.
    const versions = decodeMessage(apis.ApiVersions.response, 3, new Reader(c.frames[1]!, 4));
    expect(versions.errorCode).toBe(0);
    expect(versions.apiKeys.find((k) => k.apiKey === apis.Fetch.key)).toEqual({
      apiKey: 1,
      minVersion: 4,
      maxVersion: 16,
    });
    c.end();
  });

  it('answers an ApiVersions it cannot parse with UNSUPPORTED_VERSION and the versions it serves (KIP-511)', async () => {
    const c = new RawKafkaClient(endpoint);
    await c.ready();
    const w = new Writer();
    w.int16(apis.ApiVersions.key);
    w.int16(99);
    w.int32(7);
    w.int16(-1);
    w.raw(Buffer.from([0, 1, 2]));
    const payload = Buffer.concat(w.finish());
    c.send(Buffer.concat([Buffer.from([0, 0, 0, payload.length]), payload]));
    await waitFor('a response', () => c.frames.length === 1);
    const res = decodeMessage(apis.ApiVersions.response, 0, new Reader(c.frames[0]!, 4));
    expect(res.errorCode).toBe(35);
    expect(res.apiKeys.some((k) => k.apiKey === apis.Produce.key)).toBe(true);
    c.end();
  });

  it('closes only the connection that sends an oversized frame, garbage or an unknown API', async () => {
    const healthy = new RawKafkaClient(endpoint);
    await healthy.ready();
    const bad = [new RawKafkaClient(endpoint), new RawKafkaClient(endpoint), new RawKafkaClient(endpoint)];
    await Promise.all(bad.map((b) => b.ready()));
    // A frame claiming more than socket.request.max.bytes (64 KiB here): refused before any allocation.
    bad[0]!.send(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    // A body that does not decode: Metadata v9 whose topic array claims a million entries.
    const w = new Writer();
    writeRequestHeader(w, apis.Metadata, { apiVersion: 9, correlationId: 1, clientId: null });
    w.uvarint(1_000_001);
    const garbage = Buffer.concat(w.finish());
    bad[1]!.send(Buffer.concat([Buffer.from([0, 0, 0, garbage.length]), garbage]));
    // An API key no Kafka version has.
    const unknown = Buffer.from([0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    bad[2]!.send(Buffer.concat([Buffer.from([0, 0, 0, unknown.length]), unknown]));
    await waitFor('the three bad connections closed', () => bad.every((b) => b.closed));
    healthy.send(frame(apis.Metadata, 12, 9, { topics: null }));
    await waitFor('the healthy one answered', () => healthy.frames.length === 1);
    expect(healthy.closed).toBe(false);
    healthy.end();
  });

  it('closes a connection idle for connections.max.idle.ms', async () => {
    const c = new RawKafkaClient(endpoint);
    await c.ready();
    c.send(frame(apis.ApiVersions, 2, 1, {}));
    await waitFor('answered', () => c.frames.length === 1);
    await waitFor('closed when idle', () => c.closed, 10_000);
  });

  it('counts connections, requests by API and version, errors and bytes', async () => {
    const c = new RawKafkaClient(endpoint);
    await c.ready();
    c.send(frame(apis.Metadata, 12, 1, { topics: [{ name: 'no-such-topic' }], allowAutoTopicCreation: false }));
    await waitFor('answered', () => c.frames.length === 1);
    const text = await (await fetch(`http://127.0.0.1:${brokers[0]!.broker.metricsPort}/metrics`)).text();
    expect(text).toMatch(/millrace_kafka_connections [1-9]/);
    expect(text).toMatch(/millrace_kafka_requests_total\{api="Metadata",version="12"\} [1-9]/);
    expect(text).toMatch(
      /millrace_kafka_request_errors_total\{api="Metadata",version="12",error="UNKNOWN_TOPIC_OR_PARTITION"\} 1/,
    );
    expect(text).toMatch(/millrace_kafka_request_duration_seconds_bucket\{le="0.005",api="Metadata"\}/);
    expect(text).toMatch(/millrace_kafka_bytes_in_total [1-9]/);
    expect(text).toMatch(/millrace_kafka_bytes_out_total [1-9]/);
    c.end();
  });
});

describe('Kafka connection limits', () => {
  it('closes a connection over max.connections.per.ip at once, serves the others, and admits one when another closes', async () => {
    const limited = await startBroker(inject('natsUrl'), uniqueCluster('klimit'), 1, {
      kafkaListener: '127.0.0.1:0',
      maxConnectionsPerIp: 2,
    });
    try {
      const at = limited.broker.kafkaEndpoint!;
      const served = async (c: RawKafkaClient, correlationId: number) => {
        c.send(frame(apis.ApiVersions, 3, correlationId, { clientSoftwareName: 't', clientSoftwareVersion: '1' }));
        await waitFor('an answer', () => c.frames.length > 0 || c.closed);
        return !c.closed && c.frames.length > 0;
      };
      const [a, b] = [new RawKafkaClient(at), new RawKafkaClient(at)];
      await Promise.all([a.ready(), b.ready()]);
      expect(await served(a, 1)).toBe(true);
      expect(await served(b, 2)).toBe(true);
      const third = new RawKafkaClient(at);
      await third.ready().catch(() => undefined);
      await waitFor('the third closed by the broker', () => third.closed);
      expect(third.frames).toEqual([]);
      a.end();
      // The broker may not have seen the first close yet: a refused attempt is retried, as clients do.
      const fourth = await waitFor('a connection admitted once the first closed', async () => {
        const c = new RawKafkaClient(at);
        await c.ready();
        if (await served(c, 4)) return c;
        c.end();
        return undefined;
      });
      const refused = await limited.broker.metrics.registry.getSingleMetricAsString(
        'millrace_kafka_connections_refused_total',
      );
      expect(refused).toMatch(/reason="max_connections_per_ip"} [1-9]/);
      expect(refused).toMatch(/reason="max_connections"} 0/);
      for (const c of [b, fourth]) c.end();
    } finally {
      await stopAll([limited]);
    }
  });
});

describe('client quotas on the Kafka door', () => {
  it('sets a client-id quota with AlterClientQuotas, answers produce over it with throttle_time_ms, and removes it', async () => {
    const entity = [{ entityType: 'client-id', entityName: 'raw' }];
    const altered = await kafkaRequest(endpoint, apis.AlterClientQuotas, 1, {
      entries: [{ entity, ops: [{ key: 'producer_byte_rate', value: 1024, remove: false }] }],
      validateOnly: false,
    });
    expect(altered.entries).toEqual([expect.objectContaining({ errorCode: 0, entity })]);
    const described = await kafkaRequest(endpoint, apis.DescribeClientQuotas, 1, {
      components: [{ entityType: 'client-id', matchType: 0, match: 'raw' }],
      strict: false,
    });
    expect(described.entries).toEqual([{ entity, values: [{ key: 'producer_byte_rate', value: 1024 }] }]);
    await kafkaRequest(endpoint, apis.CreateTopics, 5, {
      topics: [{ name: 'quota-t', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 10_000,
    });
    // 40 KB against 1 KB/s over an 11 s span: the client is told to wait.
    const throttles = await waitFor('a throttled produce', async () => {
      const res = await kafkaRequest(endpoint, apis.Produce, 9, {
        transactionalId: null,
        acks: 1,
        timeoutMs: 5_000,
        topicData: [
          { name: 'quota-t', partitionData: [{ index: 0, records: batchOf(0, 4, undefined, 'none', 10_000) }] },
        ],
      });
      const p = res.responses[0]?.partitionResponses[0];
      return p?.errorCode === 0 && res.throttleTimeMs > 0 ? res.throttleTimeMs : false;
    });
    expect(throttles).toBeGreaterThan(1_000);
    const metrics = await (await fetch(`http://127.0.0.1:${brokers[0]!.broker.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(
      /millrace_client_quota_throttle_seconds_total\{door="kafka",quota="producer_byte_rate"\} [1-9]/,
    );
    await kafkaRequest(endpoint, apis.AlterClientQuotas, 1, {
      entries: [{ entity, ops: [{ key: 'producer_byte_rate', value: 0, remove: true }] }],
      validateOnly: false,
    });
    await waitFor('the quota gone', async () => {
      const res = await kafkaRequest(endpoint, apis.DescribeClientQuotas, 0, { components: [], strict: false });
      return res.entries?.length === 0;
    });
  });
});
