import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { wire } from '../../protocol/wire.js';
import { encodeRecordBatch, decodeRecordBatches } from '../../protocol/records/index.js';
import { subjects } from '../../protocol/subjects.js';
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
});
