import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, type InstrumentationEvent } from '../../src/client/index.js';
import { callBroker } from '../../src/client/context.js';
import { wire } from '../../protocol/wire.js';
import { subjects } from '../../protocol/subjects.js';
import { QUICK_GROUPS, startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
const cluster = uniqueCluster('sdki');
const GROUP_SETTINGS = { sessionTimeoutMs: 2_000, heartbeatIntervalMs: 100, autoCommitIntervalMs: 200 };

/** A pino-like logger that keeps what it is told. */
function recordingLogger() {
  const lines: Array<{ level: string; obj: object; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, logger: { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } };
}

beforeAll(async () => {
  brokers.push(await startBroker(inject('natsUrl'), cluster, 1, QUICK_GROUPS));
});

afterAll(() => stopAll(brokers));

describe('instrumentation', () => {
  it('emits kafkajs-named events, logs through the given logger, and counts into the given prom-client registry', async () => {
    const register = new Registry();
    const { lines, logger } = recordingLogger();
    const client = new Millrace({
      servers: inject('natsUrl'),
      cluster,
      clientId: 'inst',
      logger,
      metrics: { register },
    });
    await client.admin().createTopics({ topics: [{ topic: 'inst', numPartitions: 2 }] });
    const producer = client.producer({ lingerMs: 1 });
    const producerEvents: string[] = [];
    for (const type of Object.values(producer.events)) producer.on(type, (e) => producerEvents.push(e.type));
    await producer.send({
      topic: 'inst',
      messages: Array.from({ length: 20 }, (_, i) => ({ value: `v${i}`, partition: i % 2 })),
    });

    const consumer = client.consumer({
      groupId: 'inst',
      ...GROUP_SETTINGS,
      retry: { retries: 1, initialRetryTimeMs: 5, maxRetryTimeMs: 10 },
    });
    const events = new Map<string, Array<InstrumentationEvent<unknown>>>();
    for (const type of Object.values(consumer.events))
      consumer.on(type, (e) => events.set(e.type, [...(events.get(e.type) ?? []), e]));
    consumer.subscribe({ topics: ['inst'], fromBeginning: true });
    let handled = 0;
    let failedOnce = false;
    void consumer.run({
      eachMessage: () => {
        if (!failedOnce) {
          failedOnce = true;
          throw new Error('first try fails');
        }
        handled++;
      },
    });
    await waitFor('20 records handled', () => handled === 20);
    await waitFor(
      'a heartbeat and a commit',
      () => events.has('consumer.heartbeat') && events.has('consumer.commit_offsets'),
    );
    await consumer.close();
    await producer.close();

    expect(producerEvents).toEqual(
      expect.arrayContaining(['producer.connect', 'producer.network.request', 'producer.disconnect']),
    );
    for (const type of [
      'consumer.connect',
      'consumer.rebalancing',
      'consumer.group_join',
      'consumer.heartbeat',
      'consumer.commit_offsets',
      'consumer.start_batch_process',
      'consumer.end_batch_process',
      'consumer.network.request',
      'consumer.disconnect',
    ])
      expect(events.has(type), type).toBe(true);
    expect(events.get('consumer.group_join')![0]!.payload).toMatchObject({
      groupId: 'inst',
      isLeader: true,
      groupProtocol: 'cooperative-sticky',
      memberAssignment: { inst: [0, 1] },
    });
    expect(events.get('consumer.network.request')!.map((e) => (e.payload as { apiName: string }).apiName)).toEqual(
      expect.arrayContaining(['find_coordinator', 'join_group', 'sync_group', 'offset_fetch', 'fetch']),
    );
    expect(events.has('consumer.crash')).toBe(false);
    // The retry was logged with where it happened.
    expect(lines.find((l) => l.msg === 'handler failed; retrying')).toMatchObject({
      level: 'warn',
      obj: { topic: 'inst', attempt: 1 },
    });
    expect(lines.some((l) => l.msg === 'joined the group')).toBe(true);

    const metrics = Object.fromEntries((await register.getMetricsAsJSON()).map((m) => [m.name, m]));
    const total = (name: string) =>
      (metrics[name]!.values as Array<{ value: number; labels: Record<string, string> }>)
        .filter((v) => v.labels.topic === 'inst' && v.labels.client_id === 'inst')
        .reduce((sum, v) => sum + v.value, 0);
    expect(total('millrace_client_records_sent_total')).toBe(20);
    expect(total('millrace_client_bytes_sent_total')).toBeGreaterThan(20 * 2);
    // 20 handed out once, and the one that failed handed out again.
    expect(total('millrace_client_records_received_total')).toBeGreaterThanOrEqual(21);
    expect(total('millrace_client_bytes_received_total')).toBeGreaterThan(0);
    expect(metrics['millrace_client_rebalances_total']!.values[0]).toMatchObject({ labels: { group: 'inst' } });
    const lag = metrics['millrace_client_consumer_lag']!.values as Array<{ labels: Record<string, string> }>;
    expect(lag.map((v) => v.labels.partition).sort()).toEqual(['0', '1']);
    const requests = await register.getSingleMetricAsString('millrace_client_request_duration_seconds');
    expect(requests).toMatch(
      /millrace_client_request_duration_seconds_count\{client_id="inst",api="produce",error="NONE"\} [1-9]/,
    );
    await client.close();
  });

  it('reports a request that times out', async () => {
    // A subscriber that never answers: the request times out on a real NATS server.
    const nc = await connect({ servers: inject('natsUrl') });
    nc.subscribe(subjects.brokerApi(cluster, 99, 'heartbeat'));
    await nc.flush();
    const client = new Millrace({ servers: inject('natsUrl'), cluster, clientId: 'slow' });
    const timeouts: unknown[] = [];
    const admin = client.admin();
    admin.on(admin.events.REQUEST_TIMEOUT, (e) => timeouts.push(e.payload));
    const ctx = (admin as unknown as { ctx: Parameters<typeof callBroker>[0] }).ctx;
    await expect(
      callBroker(
        ctx,
        99,
        'heartbeat',
        wire.HeartbeatRequest,
        { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: '' },
        wire.HeartbeatResponse,
        200,
      ),
    ).rejects.toMatchObject({ errorName: 'REQUEST_TIMED_OUT', retriable: true });
    expect(timeouts).toEqual([{ broker: 99, apiName: 'heartbeat', clientId: 'slow', timeoutMs: 200 }]);
    await client.close();
    await nc.close();
  });

  it('publishes sends, handler calls and requests on diagnostics_channel tracing channels', async () => {
    const seen: string[] = [];
    const handlers = new Map<string, (message: unknown) => void>();
    for (const channel of ['millrace:producer:send', 'millrace:consumer:process', 'millrace:request'])
      for (const phase of ['start', 'asyncEnd', 'error']) {
        const name = `tracing:${channel}:${phase}`;
        const handler = (message: unknown) => {
          const m = message as { topic?: string; apiName?: string };
          seen.push(`${channel}:${phase}:${m.topic ?? m.apiName}`);
        };
        handlers.set(name, handler);
        subscribe(name, handler);
      }
    try {
      const client = new Millrace({ servers: inject('natsUrl'), cluster });
      await client.admin().createTopics({ topics: [{ topic: 'traced', numPartitions: 1 }] });
      await client.producer().send({ topic: 'traced', messages: [{ value: 'x' }] });
      const consumer = client.consumer();
      consumer.assign([{ topic: 'traced', partition: 0, offset: 0 }]);
      let handled = 0;
      void consumer.run({ eachMessage: () => void handled++ });
      await waitFor('the record handled', () => handled === 1);
      await client.close();
    } finally {
      for (const [name, handler] of handlers) unsubscribe(name, handler);
    }
    expect(seen).toEqual(
      expect.arrayContaining([
        'millrace:producer:send:start:traced',
        'millrace:producer:send:asyncEnd:traced',
        'millrace:request:start:produce',
        'millrace:request:asyncEnd:produce',
        'millrace:request:start:fetch',
        'millrace:consumer:process:start:traced',
        'millrace:consumer:process:asyncEnd:traced',
      ]),
    );
  });

  it('is silent by default: a client without a logger logs nothing', async () => {
    const client = new Millrace({ servers: inject('natsUrl'), cluster });
    const writes: unknown[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      writes.push(chunk);
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
    try {
      await client.admin().createTopics({ topics: [{ topic: 'quiet', numPartitions: 1 }] });
      await client.producer().send({ topic: 'quiet', messages: [{ value: 'x' }] });
    } finally {
      process.stdout.write = write;
      await client.close();
    }
    expect(writes.filter((w) => String(w).includes('"level"'))).toEqual([]);
  });
});
