import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { wire } from '../../protocol/wire.js';
import { encodeRecordBatch, decodeRecordBatches } from '../../protocol/records/index.js';
import { subjects } from '../../protocol/subjects.js';
import { Millrace } from '../../src/client/index.js';
import { request } from '../../src/transport/rpc.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
afterAll(() => stopAll(brokers));

describe('broker smoke', () => {
  it('becomes controller, creates a topic, produces and fetches', async () => {
    const cluster = uniqueCluster();
    brokers.push(await startBroker(inject('natsUrl'), cluster, 1));
    const nc = await connect({ servers: inject('natsUrl') });
    try {
      const md = await request(
        nc,
        subjects.metadata(cluster),
        wire.MetadataRequest,
        { allTopics: true },
        wire.MetadataResponse,
        5000,
      );
      expect(md.controllerId).toBe(1);
      const created = await request(
        nc,
        subjects.brokerApi(cluster, 1, 'create_topics'),
        wire.CreateTopicsRequest,
        { topics: [{ name: 'orders', numPartitions: 3, replicationFactor: 1 }] },
        wire.CreateTopicsResponse,
        5000,
      );
      expect(created.results[0]!.errorCode).toBe(0);
      await waitFor('leader', async () => {
        const m = await request(
          nc,
          subjects.metadata(cluster),
          wire.MetadataRequest,
          { topics: ['orders'] },
          wire.MetadataResponse,
          5000,
        );
        return m.topics[0]?.partitions?.length === 3 && m.topics[0].partitions.every((p) => p.leader === 1);
      });
      await waitFor('leadership taken', async () => {
        const r = await request(
          nc,
          subjects.brokerApi(cluster, 1, 'produce'),
          wire.ProduceRequest,
          {
            acks: 1,
            topics: [
              {
                name: 'orders',
                partitions: [
                  {
                    partition: 0,
                    records: encodeRecordBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }]),
                  },
                ],
              },
            ],
          },
          wire.ProduceResponse,
          5000,
        );
        return r.topics[0]!.partitions![0]!.errorCode === 0 ? r : false;
      });
      const fetched = await request(
        nc,
        subjects.brokerApi(cluster, 1, 'fetch'),
        wire.FetchRequest,
        {
          replicaId: -1,
          maxWaitMs: 100,
          minBytes: 1,
          maxBytes: 1 << 20,
          topics: [{ name: 'orders', partitions: [{ partition: 0, fetchOffset: 0 }] }],
        },
        wire.FetchResponse,
        5000,
      );
      const p = fetched.topics[0]!.partitions![0]!;
      expect(p.highWatermark).toBe(2);
      expect(decodeRecordBatches(p.records!).batches[0]!.records.map((r) => r.value!.toString())).toEqual(['a', 'b']);
    } finally {
      await nc.close();
    }
  });

  it('serves tailing readers from the tail cache when it has a budget, and counts hits and misses', async () => {
    const cluster = uniqueCluster('tail');
    const broker = await startBroker(inject('natsUrl'), cluster, 1, { tailCacheBytes: 4 * 1024 * 1024 });
    brokers.push(broker);
    const client = new Millrace({ servers: inject('natsUrl'), cluster });
    try {
      await client.admin().createTopics({ topics: [{ topic: 'tailed', numPartitions: 1 }] });
      const producer = client.producer();
      for (let i = 0; i < 5; i++) await producer.send({ topic: 'tailed', messages: [{ value: `r${i}` }] });
      const consumer = client.consumer({ maxWaitMs: 50 });
      consumer.assign([{ topic: 'tailed', partition: 0, offset: 'earliest' }]);
      const values: string[] = [];
      for await (const m of consumer) {
        values.push(m.value!.toString());
        if (values.length === 5) break;
      }
      await consumer.close();
      expect(values).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
      const metrics = await (await fetch(`http://127.0.0.1:${broker.broker.metricsPort}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
      expect(value('millrace_tail_cache_hits_total')).toBeGreaterThan(0);
      expect(value('millrace_tail_cache_misses_total')).toBeGreaterThanOrEqual(0);
      expect(value('millrace_tail_cache_bytes')).toBeGreaterThan(0);
      expect(value('millrace_tail_cache_max_bytes')).toBe(4 * 1024 * 1024);
    } finally {
      await client.close();
    }
  });
});
