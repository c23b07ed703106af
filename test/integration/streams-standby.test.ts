/**
 * Standby replicas and key discovery against real brokers: two instances of a count, each with
 * a standby of the other's task; the group tells both which endpoint holds which key; when one
 * leaves, the other's standby becomes the active task without restoring what it already applied.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, jsonSerde, stringSerde } from '../../src/client/index.js';
import { MillraceStreams, StreamsBuilder, type RestoreProgress } from '../../src/streams/index.js';
import { QUICK_GROUPS, startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('streams-standby');
const stateDirs: string[] = [];
/** Both instances report into one registry, as two instances in one process would. */
const register = new Registry();

/** A metric's value summed over its series matching `labels`. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = (await register.getMetricsAsJSON()).find((m) => m.name === name);
  const values =
    (found as { values?: Array<{ value: number; labels: Record<string, string | number> }> })?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((n, v) => n + v.value, 0);
}

beforeAll(async () => {
  brokers.push(await startBroker(inject('natsUrl'), cluster, 1, QUICK_GROUPS));
  client = new Millrace({ servers: inject('natsUrl'), cluster, clientId: 'standby-test' });
  await client.admin().createTopics({
    topics: ['sb-in', 'sb-out'].map((topic) => ({ topic, numPartitions: 2, replicationFactor: 1 })),
  });
}, 60_000);

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
  for (const d of stateDirs) fs.rmSync(d, { recursive: true, force: true });
});

function instance(endpoint: string): MillraceStreams {
  const builder = new StreamsBuilder();
  builder
    .stream<string, string>('sb-in', { keySerde: stringSerde(), valueSerde: stringSerde() })
    .groupByKey({ keySerde: stringSerde() })
    .count({ storeName: 'counts', storeType: 'in_memory' })
    .toStream()
    .to('sb-out', { keySerde: stringSerde(), valueSerde: jsonSerde<number>() });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-standby-test-'));
  stateDirs.push(stateDir);
  return new MillraceStreams(builder.build(), {
    servers: inject('natsUrl'),
    cluster,
    applicationId: 'sb-app',
    commitIntervalMs: 200,
    numStandbyReplicas: 1,
    applicationServer: endpoint,
    stateDir,
    metrics: { register },
  });
}

async function produce(words: string[]): Promise<void> {
  const producer = client.producer();
  await producer.send({ topic: 'sb-in', messages: words.map((w) => ({ key: w, value: w })) });
  await producer.close();
}

const running = (s: MillraceStreams): number => s.metrics().tasks.filter((t) => t.state === 'Running').length;

describe('standby replicas and discovery', () => {
  it('keeps a standby of each task elsewhere, names where each key lives, and fails over onto the standby', async () => {
    const a = instance('host-a:7001');
    const b = instance('host-b:7002');
    await a.start();
    await b.start();
    await waitFor(
      'one active and one standby task on each instance',
      () =>
        running(a) === 1 &&
        running(b) === 1 &&
        a.metrics().standbyTasks.length === 1 &&
        b.metrics().standbyTasks.length === 1,
      60_000,
    );
    const words = ['apple', 'pear', 'fig', 'plum', 'kiwi', 'lime', 'apple', 'fig'];
    await produce(words);
    await waitFor('both stores hold every count', () => {
      const held = (w: string) => a.store<string, number>('counts').get(w) ?? b.store<string, number>('counts').get(w);
      return held('apple') === 2 && held('fig') === 2 && ['pear', 'plum', 'kiwi', 'lime'].every((w) => held(w) === 1);
    });
    await waitFor(
      'the standbys applied every changelog record',
      () => a.metrics().standbyRecords + b.metrics().standbyRecords >= words.length,
    );

    // Prometheus: both instances' records, tasks by state, store entries and state.
    expect(await metric('millrace_streams_records_processed_total', { application_id: 'sb-app' })).toBe(words.length);
    expect(await metric('millrace_streams_tasks', { state: 'Running' })).toBe(2);
    expect(await metric('millrace_streams_tasks', { state: 'Standby' })).toBe(2);
    expect(await metric('millrace_streams_store_entries', { store: 'counts' })).toBe(6);
    expect(await metric('millrace_streams_state', { state: 'RUNNING' })).toBe(2);
    expect(await metric('millrace_streams_standby_records_total')).toBeGreaterThanOrEqual(words.length);

    // Discovery: both instances agree where each key's task runs, and the store there holds it.
    for (const word of ['apple', 'pear', 'fig', 'plum', 'kiwi', 'lime']) {
      const fromA = a.queryMetadataForKey('counts', word, stringSerde());
      expect(b.queryMetadataForKey('counts', word, stringSerde())).toEqual(fromA);
      const [holder, other] = fromA.activeHost?.port === 7001 ? [a, b] : [b, a];
      expect(holder.store<string, number>('counts').get(word)).toBeGreaterThan(0);
      expect(other.store<string, number>('counts').get(word)).toBeUndefined();
      expect(fromA.standbyHosts).toHaveLength(1);
      expect(fromA.standbyHosts[0]!.port).not.toBe(fromA.activeHost!.port);
    }
    const all = a.metadataForAllStreamsClients();
    expect(all.map((m) => `${m.hostInfo.host}:${m.hostInfo.port}`).sort()).toEqual(['host-a:7001', 'host-b:7002']);
    for (const m of all) {
      expect(m.topicPartitions).toHaveLength(1);
      expect(m.standbyTopicPartitions).toHaveLength(1);
      expect(m.stateStoreNames).toEqual(['counts']);
    }

    // b leaves: a's standby of b's task becomes active with the state it has, restoring nothing.
    const restored: RestoreProgress[] = [];
    a.setStateRestoreListener((p) => restored.push(p));
    await b.close();
    await waitFor('a runs both tasks', () => running(a) === 2, 60_000);
    expect(restored.filter((p) => p.done).reduce((n, p) => n + p.restored, 0)).toBe(0);
    expect(await metric('millrace_streams_state', { state: 'RUNNING' })).toBe(1); // b's series are gone
    expect(a.metrics().standbyTasks).toEqual([]);
    await produce(['apple', 'pear', 'kiwi']);
    await waitFor('the counts go on from the standby state', () => {
      const s = a.store<string, number>('counts');
      return s.get('apple') === 3 && s.get('pear') === 2 && s.get('kiwi') === 2 && s.get('fig') === 2;
    });
    const meta = a.queryMetadataForKey('counts', 'apple', stringSerde());
    expect(meta.activeHost).toEqual({ host: 'host-a', port: 7001 });
    expect(meta.standbyHosts).toEqual([]);
    await a.close();
  }, 120_000);

  it('rejects a bad applicationServer or standby count with a clear error', () => {
    const builder = new StreamsBuilder();
    builder.stream('sb-in').to('sb-out');
    const config = { servers: inject('natsUrl'), cluster, applicationId: 'sb-bad' };
    expect(() => new MillraceStreams(builder.build(), { ...config, applicationServer: 'no-port' })).toThrow(
      /applicationServer must be host:port/,
    );
    expect(() => new MillraceStreams(builder.build(), { ...config, numStandbyReplicas: -1 })).toThrow(
      /numStandbyReplicas must be a non-negative integer/,
    );
  });
});
