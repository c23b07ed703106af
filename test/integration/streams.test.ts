/**
 * MillraceStreams against real brokers: a keyed count under at_least_once and exactly_once_v2,
 * its store restored from the changelog by another instance, and a failing record under
 * exactly_once_v2 whose thread is replaced without a duplicate or a lost count.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, jsonSerde, stringSerde, type IsolationLevel } from '../../src/client/index.js';
import {
  MillraceStreams,
  SessionWindows,
  StreamsBuilder,
  TimeWindows,
  type ProcessingGuarantee,
  type RestoreProgress,
} from '../../src/streams/index.js';
import { QUICK_GROUPS, startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('streams');
const settings = { ...QUICK_GROUPS, transactionStateLogNumPartitions: 2, transactionStateLogReplicationFactor: 1 };
const stateDirs: string[] = [];
const PARTITIONS = 2;

beforeAll(async () => {
  const nats = inject('natsUrl');
  brokers.push(await startBroker(nats, cluster, 1, settings));
  client = new Millrace({ servers: nats, cluster, clientId: 'streams-test' });
}, 60_000);

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
  for (const d of stateDirs) fs.rmSync(d, { recursive: true, force: true });
});

async function topics(...names: string[]): Promise<void> {
  await client.admin().createTopics({
    topics: names.map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1 })),
  });
}

/** Counts words (keys) of `input` into `output`, failing once on the value `failOn` if given. */
function countApp(
  app: string,
  input: string,
  output: string,
  guarantee: ProcessingGuarantee,
  failOn?: { value: string; failed: boolean },
  stateDir = newStateDir(),
): MillraceStreams {
  const builder = new StreamsBuilder();
  builder
    .stream<string, string>(input, { keySerde: stringSerde(), valueSerde: stringSerde() })
    .peek((_k, v) => {
      if (failOn && !failOn.failed && v === failOn.value) {
        failOn.failed = true;
        throw new Error(`failing once on ${v}`);
      }
    })
    .groupByKey({ keySerde: stringSerde() })
    .count({ storeName: 'counts' })
    .toStream()
    .to(output, { keySerde: stringSerde(), valueSerde: jsonSerde<number>() });
  return new MillraceStreams(builder.build(), {
    servers: inject('natsUrl'),
    cluster,
    applicationId: app,
    processingGuarantee: guarantee,
    commitIntervalMs: guarantee === 'exactly_once_v2' ? 100 : 200,
    stateDir,
  });
}

function newStateDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-streams-test-'));
  stateDirs.push(dir);
  return dir;
}

async function produceWords(topic: string, words: string[]): Promise<void> {
  const producer = client.producer();
  await producer.send({ topic, messages: words.map((w) => ({ key: w, value: w })) });
  await producer.close();
}

/** The latest count per word in `topic`, once every word in `want` reached its wanted count. */
async function latestCounts(
  topic: string,
  want: Record<string, number>,
  isolationLevel: IsolationLevel,
): Promise<{ latest: Record<string, number>; updates: Array<[string, number]> }> {
  const consumer = client.consumer({ isolationLevel, maxWaitMs: 100 });
  consumer.assign(
    Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })),
  );
  const latest: Record<string, number> = {};
  const updates: Array<[string, number]> = [];
  const iterator = consumer[Symbol.asyncIterator]();
  try {
    await waitFor(
      `counts ${JSON.stringify(want)} in ${topic}`,
      async () => {
        const next = await iterator.next();
        const m = next.value as { key: Buffer; value: Buffer };
        const word = m.key.toString();
        const n = JSON.parse(m.value.toString()) as number;
        latest[word] = n;
        updates.push([word, n]);
        return Object.entries(want).every(([w, c]) => latest[w] === c);
      },
      60_000,
    );
  } finally {
    await iterator.return?.();
  }
  return { latest, updates };
}

const words = (spec: Record<string, number>): string[] =>
  Object.entries(spec).flatMap(([w, n]) => Array.from({ length: n }, () => w));

describe('MillraceStreams', () => {
  it('counts at least once, and a new instance restores the store from its changelog', async () => {
    await topics('alos-in', 'alos-out');
    const first = countApp('alos-app', 'alos-in', 'alos-out', 'at_least_once');
    await first.start();
    expect(first.state).toBe('RUNNING');
    await produceWords('alos-in', words({ apple: 3, pear: 2, fig: 1 }));
    await latestCounts('alos-out', { apple: 3, pear: 2, fig: 1 }, 'read_uncommitted');
    await waitFor('the local store holds the counts', () => first.store<string, number>('counts').get('apple') === 3);
    await first.close();
    expect(first.state).toBe('NOT_RUNNING');

    // Another instance (its own, empty state directory) takes every task and restores the counts.
    const secondDir = newStateDir();
    const second = countApp('alos-app', 'alos-in', 'alos-out', 'at_least_once', undefined, secondDir);
    const restored: RestoreProgress[] = [];
    second.setStateRestoreListener((p) => restored.push(p));
    await second.start();
    await produceWords('alos-in', words({ apple: 1, fig: 2 }));
    await latestCounts('alos-out', { apple: 4, pear: 2, fig: 3 }, 'read_uncommitted');
    expect(restored.filter((p) => p.done).map((p) => p.store)).toEqual(['counts', 'counts']);
    expect(restored.filter((p) => p.done).reduce((n, p) => n + p.restored, 0)).toBeGreaterThanOrEqual(3);
    expect(second.metrics().tasks.map((t) => t.state)).toEqual(['Running', 'Running']);
    await second.close();

    // Restarted on its own state directory, the instance starts from its persistent store's
    // checkpoint: nothing to restore, and the counts go on.
    const third = countApp('alos-app', 'alos-in', 'alos-out', 'at_least_once', undefined, secondDir);
    const again: RestoreProgress[] = [];
    third.setStateRestoreListener((p) => again.push(p));
    await third.start();
    await produceWords('alos-in', words({ pear: 1 }));
    await latestCounts('alos-out', { apple: 4, pear: 3, fig: 3 }, 'read_uncommitted');
    expect(again.filter((p) => p.done).reduce((n, p) => n + p.restored, 0)).toBe(0);
    await third.close();
    const changelog = await client.admin().describeTopics(['alos-app-counts-changelog']);
    expect(changelog[0]!.partitions).toHaveLength(PARTITIONS);
  }, 120_000);

  it('counts words of lines by a new key through the repartition topic, which is purged as it is committed', async () => {
    await topics('lines-in', 'words-out');
    const builder = new StreamsBuilder();
    builder
      .stream<string, string>('lines-in', { keySerde: stringSerde(), valueSerde: stringSerde() })
      .flatMapValues((line) => line!.split(' '))
      .groupBy((_k, word) => word, { keySerde: stringSerde(), valueSerde: stringSerde() })
      .count({ storeName: 'word-counts' })
      .toStream()
      .to('words-out', { keySerde: stringSerde(), valueSerde: jsonSerde<number>() });
    const stateDir = newStateDir();
    const app = new MillraceStreams(builder.build(), {
      servers: inject('natsUrl'),
      cluster,
      applicationId: 'wc-app',
      commitIntervalMs: 200,
      repartitionPurgeIntervalMs: 0,
      stateDir,
    });
    await app.start();
    const producer = client.producer();
    // Lines keyed by line number: each word's count needs its records from both partitions.
    await producer.send({
      topic: 'lines-in',
      messages: ['a b a', 'b c', 'a c c', 'd'].map((line, i) => ({ key: `line-${i}`, value: line })),
    });
    await producer.close();
    await latestCounts('words-out', { a: 3, b: 2, c: 3, d: 1 }, 'read_uncommitted');
    const [repartition] = await client.admin().describeTopics(['wc-app-word-counts-repartition']);
    expect(repartition!.partitions).toHaveLength(PARTITIONS);
    // What was committed of the repartition topic is deleted: its log start moves up to the end.
    await waitFor('the repartition topic purged', async () => {
      const earliest = await client.admin().fetchTopicOffsets('wc-app-word-counts-repartition', -2);
      const latest = await client.admin().fetchTopicOffsets('wc-app-word-counts-repartition', -1);
      return latest.every((l) => earliest.find((e) => e.partition === l.partition)!.offset === l.offset);
    });
    await app.close();
  }, 120_000);

  it('answers interactive queries of its window and session stores', async () => {
    await topics('iq-in');
    const builder = new StreamsBuilder();
    const grouped = builder
      .stream<string, string>('iq-in', { keySerde: stringSerde(), valueSerde: stringSerde() })
      .groupByKey({ keySerde: stringSerde() });
    // Kept an hour for queries (by default, only while the windows may change).
    grouped.windowedBy(TimeWindows.ofSizeWithNoGrace(1_000)).count({ storeName: 'per-second', retentionMs: 3_600_000 });
    grouped
      .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(500))
      .count({ storeName: 'visits', retentionMs: 3_600_000 });
    const app = new MillraceStreams(builder.build(), {
      servers: inject('natsUrl'),
      cluster,
      applicationId: 'iq-app',
      commitIntervalMs: 200,
      stateDir: newStateDir(),
    });
    await app.start();
    const producer = client.producer();
    await producer.send({
      topic: 'iq-in',
      messages: [100, 300, 1_200, 5_000].map((timestamp) => ({ key: 'u', value: 'x', timestamp })),
    });
    await producer.close();
    await waitFor(
      'the window store holds the counts',
      () => app.windowStore<string, number>('per-second').fetch('u', 0, 10_000).length === 3,
    );
    expect(app.windowStore<string, number>('per-second').fetch('u', 0, 10_000)).toEqual([
      [0, 2],
      [1_000, 1],
      [5_000, 1],
    ]);
    expect(app.windowStore<string, number>('per-second').fetch('u', 1_000, 1_000)).toEqual([[1_000, 1]]);
    expect(app.sessionStore<string, number>('visits').fetch('u')).toEqual([
      { start: 100, end: 300, value: 2 },
      { start: 1_200, end: 1_200, value: 1 },
      { start: 5_000, end: 5_000, value: 1 },
    ]);
    expect(() => app.store('per-second')).toThrow(/'per-second' is a window store: query it with windowStore\(name\)/);
    expect(() => app.windowStore('visits')).toThrow(/is a session store/);
    await app.close();
  }, 120_000);

  it('joins a stream with a global table every instance reads whole', async () => {
    await topics('products', 'orders-in', 'orders-named');
    const producer = client.producer();
    await producer.send({
      topic: 'products',
      messages: [
        { key: 'p1', value: 'pear' },
        { key: 'p2', value: 'fig' },
      ],
    });
    const builder = new StreamsBuilder();
    const strings = { keySerde: stringSerde(), valueSerde: stringSerde() };
    const products = builder.globalTable<string, string>('products', { ...strings, storeName: 'products-store' });
    builder
      .stream<string, string>('orders-in', strings)
      .joinGlobal(
        products,
        (_order, product) => product,
        (product, name) => `${product}=${name}`,
      )
      .to('orders-named', strings);
    const app = new MillraceStreams(builder.build(), {
      servers: inject('natsUrl'),
      cluster,
      applicationId: 'global-app',
      commitIntervalMs: 200,
      stateDir: newStateDir(),
    });
    await app.start();
    // Read whole before the stream thread starts.
    expect(app.store<string, string>('products-store').get('p2')).toBe('fig');
    await producer.send({ topic: 'products', messages: [{ key: 'p3', value: 'plum' }] });
    await waitFor(
      'the global store follows its topic',
      () => app.store<string, string>('products-store').get('p3') === 'plum',
    );
    await producer.send({
      topic: 'orders-in',
      messages: [
        { key: 'o1', value: 'p2' },
        { key: 'o2', value: 'p3' },
      ],
    });
    await producer.close();
    const consumer = client.consumer({ maxWaitMs: 100 });
    consumer.assign([0, 1].map((partition) => ({ topic: 'orders-named', partition, offset: 'earliest' as const })));
    const named: Record<string, string> = {};
    const iterator = consumer[Symbol.asyncIterator]();
    await waitFor('both orders named', async () => {
      const m = (await iterator.next()).value as { key: Buffer; value: Buffer };
      named[m.key.toString()] = m.value.toString();
      return Object.keys(named).length === 2;
    });
    await iterator.return?.();
    expect(named).toEqual({ o1: 'p2=fig', o2: 'p3=plum' });
    await app.close();
  }, 120_000);

  it('counts exactly once through a failing record: the thread is replaced, its transaction aborted', async () => {
    await topics('eos-in', 'eos-out');
    const failOn = { value: 'kiwi', failed: false };
    const app = countApp('eos-app', 'eos-in', 'eos-out', 'exactly_once_v2', failOn);
    const responses: string[] = [];
    app.setUncaughtExceptionHandler((err) => {
      responses.push(err.message);
      return 'REPLACE_THREAD';
    });
    await app.start();
    const want = { apple: 5, kiwi: 3, plum: 4 };
    // Interleaved, so the failing record comes after counts the aborted transaction had updated.
    await produceWords('eos-in', [
      'apple',
      'plum',
      'apple',
      'plum',
      'kiwi',
      'apple',
      'plum',
      'kiwi',
      'apple',
      'plum',
      'kiwi',
      'apple',
    ]);
    const { updates } = await latestCounts('eos-out', want, 'read_committed');
    expect(responses).toEqual(['failing once on kiwi']);
    expect(app.metrics().replacedThreads).toBe(1);
    // Exactly once: each word's committed updates are 1, 2, ... with none repeated or missing.
    for (const [word, n] of Object.entries(want))
      expect(updates.filter(([w]) => w === word).map(([, c]) => c)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(app.store<string, number>('counts').get('kiwi')).toBe(3);
    await app.close();
  }, 120_000);
});
