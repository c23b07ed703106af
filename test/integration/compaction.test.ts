import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace } from '../../src/client/index.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
let client: Millrace;
const cluster = uniqueCluster('compact');

beforeAll(async () => {
  brokers.push(await startBroker(inject('natsUrl'), cluster, 1, { logCleanerBackoffMs: 100 }));
  client = new Millrace({ servers: inject('natsUrl'), cluster });
});

afterAll(async () => {
  await client.close();
  await stopAll(brokers);
});

describe('log compaction on a broker', () => {
  it('keeps the latest value of every key over a long run of updates, cleaning while they arrive', async () => {
    const KEYS = 300;
    const ROUNDS = 40;
    await client.admin().createTopics({
      topics: [
        {
          topic: 'accounts',
          numPartitions: 2,
          configs: { 'cleanup.policy': 'compact', 'segment.bytes': '32768', 'min.cleanable.dirty.ratio': '0.2' },
        },
      ],
    });
    const producer = client.producer({ lingerMs: 2 });
    const last = new Map<string, string | null>();
    for (let round = 0; round < ROUNDS; round++) {
      const messages: Array<{ key: string; value: string | null }> = Array.from({ length: KEYS }, (_, k) => ({
        key: `acct-${k}`,
        value: `balance ${round}-${k}`,
      }));
      // Every tenth key is deleted in the last round: tombstones stay readable (delete.retention.ms is a day).
      if (round === ROUNDS - 1) for (let k = 0; k < KEYS; k += 10) messages[k] = { key: `acct-${k}`, value: null };
      await producer.send({ topic: 'accounts', messages });
      for (const m of messages) last.set(m.key, m.value);
    }
    const metrics = `http://127.0.0.1:${brokers[0]!.broker.metricsPort}/metrics`;
    await waitFor(
      'the cleaner to have removed most superseded records',
      async () => {
        const text = await (await fetch(metrics)).text();
        const removed = Number(/millrace_log_cleaner_records_removed_total (\d+)/.exec(text)?.[1] ?? 0);
        return removed > (KEYS * ROUNDS) / 2;
      },
      60_000,
    );
    const ends = await client.admin().fetchTopicOffsets('accounts');
    const consumer = client.consumer();
    consumer.assign(ends.map((e) => ({ topic: 'accounts', partition: e.partition, offset: 'earliest' as const })));
    const seen = new Map<string, string | null>();
    let read = 0;
    const done = new Set<number>();
    for await (const m of consumer) {
      read++;
      seen.set(m.key!.toString(), m.value === null ? null : m.value.toString());
      if (m.offset === ends.find((e) => e.partition === m.partition)!.offset - 1n) done.add(m.partition);
      if (done.size === ends.length) break;
    }
    await consumer.close();
    expect(seen.size).toBe(KEYS);
    for (const [k, v] of last) expect(seen.get(k)).toBe(v);
    expect(read).toBeLessThan((KEYS * ROUNDS) / 2);
    console.log(JSON.stringify({ written: KEYS * ROUNDS, readAfterCompaction: read }));
  });
});
