/**
 * `millrace bench produce --value-format both`: produce throughput with raw Buffers and with JSON
 * objects through the registry-aware serializer (Confluent's wire format, the schema registered
 * once with `millrace schema-registry`), one after the other on one cluster, in one run.
 */
import { registrySerde } from '../client/index.js';
import { SchemaRegistryServer } from '../registry/server.js';
import { observeLoad } from './observe.js';
import { benchTarget, produceWorkload, type WorkloadOptions } from './workloads.js';

export type ValueFormat = 'raw' | 'registry-json' | 'both';

const BENCH_SCHEMA = JSON.stringify({
  type: 'object',
  properties: { id: { type: 'integer' }, text: { type: 'string' } },
  required: ['id', 'text'],
});

export async function serializerBench(
  o: WorkloadOptions,
  format: Exclude<ValueFormat, 'raw'>,
  target: { brokers: number } | { nats: string; cluster: string },
): Promise<Record<string, unknown>> {
  const { own, client } = await benchTarget(target, 'millrace-bench-serializers');
  const registry = await SchemaRegistryServer.start(client, { port: 0 });
  try {
    const run = async (name: string, serde?: WorkloadOptions['serde']): Promise<Record<string, unknown>> => {
      const topic = `bench-${name}-${Date.now()}`;
      await client
        .admin()
        .createTopics({ topics: [{ topic, numPartitions: o.partitions, replicationFactor: o.replicationFactor }] });
      const observer = await observeLoad(own?.processes() ?? []);
      const result = await produceWorkload(client, topic, { ...o, serde });
      return { ...result, load: await observer.stop() };
    };
    const out: Record<string, unknown> = {
      bench: 'produce',
      ...o,
      brokers: 'brokers' in target ? target.brokers : 'external',
    };
    const raw = format === 'both' ? await run('raw') : null;
    const json = await run(
      'registry-json',
      registrySerde({ registry: registry.url, schema: { schemaType: 'JSON', schema: BENCH_SCHEMA } }),
    );
    if (raw) {
      out.raw = raw;
      out.registryJson = json;
      out.registryJsonOverRaw = +(Number(json.recordsPerSec) / Number(raw.recordsPerSec)).toFixed(3);
    } else Object.assign(out, json);
    return out;
  } finally {
    await registry.close();
    await client.close();
    await own?.stop();
  }
}
