import { spawn } from 'node:child_process';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, registrySerde, stringSerde } from '../../src/client/index.js';
import { SchemaRegistryServer } from '../../src/registry/server.js';
import { cliPath, runCli } from '../harness/cli.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';

const brokers: TestBroker[] = [];
const cluster = uniqueCluster('registry');
let client: Millrace;
let a: SchemaRegistryServer;
let b: SchemaRegistryServer;

beforeAll(async () => {
  brokers.push(await startBroker(inject('natsUrl'), cluster, 1));
  client = new Millrace({ servers: inject('natsUrl'), cluster });
  // Two registry processes' worth on one cluster: both serve the same ids.
  a = await SchemaRegistryServer.start(client, { port: 0 });
  b = await SchemaRegistryServer.start(client, { port: 0 });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await client?.close();
  await stopAll(brokers);
});

const http = async (base: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // a raw schema
  }
  return { status: res.status, body: json };
};

const orderV1 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'total', type: 'double' },
  ],
};

describe('schema registry, driven by @kafkajs/confluent-schema-registry', () => {
  it('registers Avro, JSON and Protobuf schemas, encodes and decodes with them, and serves the same ids from both instances', async () => {
    const onA = new SchemaRegistry({ host: a.url });
    const onB = new SchemaRegistry({ host: b.url });
    const { id: avroId } = await onA.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(orderV1) },
      { subject: 'orders-value' },
    );
    const encoded = await onA.encode(avroId, { id: 'o-1', total: 9.5 });
    expect(encoded[0]).toBe(0);
    expect(encoded.readInt32BE(1)).toBe(avroId);
    // The other instance knows the id, by reading _schemas.
    await waitFor(
      'instance B to have the schema',
      async () => (await http(b.url, 'GET', `/schemas/ids/${avroId}`)).status === 200,
    );
    expect(await onB.decode(encoded)).toEqual({ id: 'o-1', total: 9.5 });
    expect(await onB.getLatestSchemaId('orders-value')).toBe(avroId);

    const { id: jsonId } = await onB.register(
      {
        type: SchemaType.JSON,
        schema: JSON.stringify({ type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] }),
      },
      { subject: 'stock-value' },
    );
    expect(await onA.decode(await onB.encode(jsonId, { sku: 'x-1' }))).toEqual({ sku: 'x-1' });
    const { id: protoId } = await onA.register(
      {
        type: SchemaType.PROTOBUF,
        schema: 'syntax = "proto3";\npackage shop;\nmessage Payment { string id = 1; int64 cents = 2; }\n',
      },
      { subject: 'payments-value' },
    );
    const proto = await onA.encode(protoId, { id: 'p-1', cents: 1250 });
    expect(await onB.decode(proto)).toMatchObject({ id: 'p-1' });
    expect(new Set([avroId, jsonId, protoId]).size).toBe(3);
    expect((await http(a.url, 'GET', '/schemas/types')).body).toEqual(['AVRO', 'JSON', 'PROTOBUF']);
    expect((await http(b.url, 'GET', `/schemas/ids/${protoId}`)).body).toMatchObject({ schemaType: 'PROTOBUF' });
  });

  it('resolves references, and refuses an incompatible schema with 409 under the subject’s level', async () => {
    const registry = new SchemaRegistry({ host: a.url });
    await registry.register(
      {
        type: SchemaType.AVRO,
        schema: JSON.stringify({
          type: 'record',
          name: 'Money',
          namespace: 'shop',
          fields: [{ name: 'cents', type: 'long' }],
        }),
      },
      { subject: 'money' },
    );
    const { id } = await registry.register(
      {
        type: SchemaType.AVRO,
        schema: JSON.stringify({
          type: 'record',
          name: 'Invoice',
          namespace: 'shop',
          fields: [{ name: 'amount', type: 'shop.Money' }],
        }),
        references: [{ name: 'shop.Money', subject: 'money', version: 1 }],
      },
      { subject: 'invoices-value' },
    );
    expect(await registry.decode(await registry.encode(id, { amount: { cents: 12 } }))).toEqual({
      amount: { cents: 12 },
    });
    expect((await http(a.url, 'GET', '/subjects/money/versions/1/referencedby')).body).toEqual([id]);

    // BACKWARD by default: a new field without a default cannot read version 1's records.
    const breaking = { ...orderV1, fields: [...orderV1.fields, { name: 'currency', type: 'string' }] };
    await expect(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(breaking) }, { subject: 'orders-value' }),
    ).rejects.toMatchObject({ status: 409 });
    const compatible = {
      ...orderV1,
      fields: [...orderV1.fields, { name: 'currency', type: 'string', default: 'EUR' }],
    };
    const check = await http(a.url, 'POST', '/compatibility/subjects/orders-value/versions/latest?verbose=true', {
      schema: JSON.stringify(compatible),
    });
    expect(check.body).toEqual({ is_compatible: true, messages: [] });
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(compatible) }, { subject: 'orders-value' });
    // The client sets a subject's level the first time it registers it, and checks it after.
    await registry.register(
      {
        type: SchemaType.AVRO,
        schema: JSON.stringify({ type: 'record', name: 'Audit', fields: [{ name: 'at', type: 'long' }] }),
      },
      { subject: 'audit-value', compatibility: COMPATIBILITY.FULL_TRANSITIVE },
    );
    expect((await http(b.url, 'GET', '/config/audit-value')).body).toEqual({ compatibilityLevel: 'FULL_TRANSITIVE' });
    expect((await http(b.url, 'GET', '/config/never-configured')).body).toMatchObject({ error_code: 40408 });
    expect((await http(b.url, 'GET', '/config/never-configured?defaultToGlobal=true')).body).toEqual({
      compatibilityLevel: 'BACKWARD',
    });
    expect((await http(a.url, 'PUT', '/config', { compatibility: 'SIDEWAYS' })).body).toMatchObject({
      error_code: 42203,
    });
  });

  it('soft and hard deletes versions and subjects as Confluent’s API does', async () => {
    const schema = (n: number) =>
      JSON.stringify({ type: 'record', name: 'T', fields: [{ name: `f${n}`, type: 'int', default: n }] });
    await http(a.url, 'PUT', '/config/temp', { compatibility: 'NONE' });
    for (const n of [1, 2, 3])
      expect((await http(a.url, 'POST', '/subjects/temp/versions', { schema: schema(n) })).status).toBe(200);
    expect((await http(a.url, 'DELETE', '/subjects/temp/versions/2?permanent=true')).body).toMatchObject({
      error_code: 40407,
    });
    expect((await http(a.url, 'DELETE', '/subjects/temp/versions/2')).body).toBe(2);
    expect((await http(a.url, 'GET', '/subjects/temp/versions')).body).toEqual([1, 3]);
    expect((await http(a.url, 'GET', '/subjects/temp/versions?deleted=true')).body).toEqual([1, 2, 3]);
    expect((await http(a.url, 'DELETE', '/subjects/temp/versions/2?permanent=true')).body).toBe(2);
    expect((await http(a.url, 'GET', '/subjects/temp/versions?deleted=true')).body).toEqual([1, 3]);
    expect((await http(a.url, 'DELETE', '/subjects/temp?permanent=true')).body).toMatchObject({ error_code: 40405 });
    expect((await http(a.url, 'DELETE', '/subjects/temp')).body).toEqual([1, 3]);
    expect((await http(a.url, 'GET', '/subjects')).body).not.toContain('temp');
    expect((await http(a.url, 'GET', '/subjects?deleted=true')).body).toContain('temp');
    expect((await http(a.url, 'DELETE', '/subjects/temp?permanent=true')).body).toEqual([1, 3]);
    await waitFor('instance B to forget the subject', async () => {
      const res = await http(b.url, 'GET', '/subjects?deleted=true');
      return !(res.body as string[]).includes('temp');
    });
    expect((await http(b.url, 'GET', '/subjects/temp/versions')).body).toMatchObject({ error_code: 40401 });
    expect((await http(a.url, 'POST', '/subjects/orders-value/versions', { schema: '{"type":' })).body).toMatchObject({
      error_code: 42201,
    });
    expect((await http(a.url, 'GET', '/schemas/ids/99999')).body).toMatchObject({ error_code: 40403 });
  });

  it('gives different schemas registered at once on both instances different ids', async () => {
    const schemas = Array.from({ length: 6 }, (_, i) =>
      JSON.stringify({ type: 'record', name: `Race${i}`, fields: [{ name: 'x', type: 'int' }] }),
    );
    const ids = await Promise.all(
      schemas.map(async (schema, i) => {
        const res = await http(i % 2 ? a.url : b.url, 'POST', `/subjects/race-${i}/versions`, { schema });
        return (res.body as { id: number }).id;
      }),
    );
    expect(new Set(ids).size).toBe(6);
    for (const [i, id] of ids.entries())
      for (const url of [a.url, b.url])
        await waitFor(`schema ${i} by its id on ${url}`, async () => {
          const res = await http(url, 'GET', `/schemas/ids/${id}`);
          return res.status === 200 && (res.body as { schema: string }).schema === schemas[i];
        });
  });

  it('lets the SDK write Confluent’s wire format that @kafkajs/confluent-schema-registry reads, and read what it writes', async () => {
    const value = registrySerde<{ id: string; total: number }>({
      registry: a.url,
      schema: { schema: JSON.stringify(orderV1) },
    });
    await client.admin().createTopics({ topics: [{ topic: 'shop-orders' }] });
    const producer = client.producer<string, { id: string; total: number }>({
      serializers: { key: stringSerde(), value },
    });
    await producer.send({ topic: 'shop-orders', messages: [{ key: 'o-9', value: { id: 'o-9', total: 3 } }] });
    const other = new SchemaRegistry({ host: b.url });
    const consumer = client.consumer();
    consumer.assign([{ topic: 'shop-orders', partition: 0, offset: 0 }]);
    const raw: Buffer[] = [];
    void consumer.run({ eachMessage: ({ message }) => void raw.push(message.value!) });
    await waitFor('the record', () => raw.length === 1);
    await consumer.close();
    expect(await other.decode(raw[0]!)).toEqual({ id: 'o-9', total: 3 });
    // The SDK's deserializer reads what the other client wrote, fetching the schema by id.
    const id = await other.getLatestSchemaId('orders-value');
    const written = await other.encode(id, { id: 'o-10', total: 4, currency: 'USD' });
    expect(await value.deserialize(written, { topic: 'shop-orders', part: 'value', headers: {} })).toEqual({
      id: 'o-10',
      total: 4,
      currency: 'USD',
    });
    expect(() => value.deserialize(Buffer.from('plain'), { topic: 'shop-orders', part: 'value', headers: {} })).toThrow(
      /not in Confluent's wire format/,
    );
    await producer.close();
  });
});

describe('the CLI with the schema registry', () => {
  it('produces JSON lines as Avro and Protobuf through the registry and consumes them back as JSON', async () => {
    const conn = ['--nats', inject('natsUrl'), '--cluster', cluster, '--schema-registry', a.url];
    await client.admin().createTopics({ topics: [{ topic: 'cli-avro' }, { topic: 'cli-proto' }] });
    const avroSchema = JSON.stringify({ type: 'record', name: 'Reading', fields: [{ name: 'c', type: 'double' }] });
    const produced = await runCli(
      ['produce', 'cli-avro', '--key-separator', ':', '--value-format', 'avro', '--value-schema', avroSchema, ...conn],
      's1:{"c":21.5}\ns2:{"c":-3}\n',
    );
    expect(produced.stderr).toBe('');
    const consumed = await runCli([
      'consume',
      'cli-avro',
      '--from-beginning',
      '--exit-at-end',
      '--format',
      '%k %s\\n',
      ...conn,
    ]);
    expect(consumed.stdout).toBe('s1 {"c":21.5}\ns2 {"c":-3}\n');
    expect((await http(b.url, 'GET', '/subjects/cli-avro-value/versions')).body).toEqual([1]);

    const proto = 'syntax = "proto3"; message Reading { string sensor = 1; int32 c = 2; }';
    expect(
      (
        await runCli(
          ['produce', 'cli-proto', '--value-format', 'protobuf', '--value-schema', proto, ...conn],
          '{"sensor":"s3","c":7}\n',
        )
      ).stderr,
    ).toBe('');
    const protoOut = await runCli(['consume', 'cli-proto', '--from-beginning', '--exit-at-end', '--json', ...conn]);
    expect(JSON.parse(JSON.parse(protoOut.stdout).value as string)).toEqual({ sensor: 's3', c: 7 });

    const notJson = await runCli(
      ['produce', 'cli-avro', '--value-format', 'avro', '--value-schema', avroSchema, ...conn],
      'nope\n',
    );
    expect(notJson.stderr).toMatch(/line 1: the value is not JSON/);
    const wrong = await runCli(
      ['produce', 'cli-avro', '--value-format', 'avro', '--value-schema', avroSchema, ...conn],
      '{"c":"hot"}\n',
    );
    expect(wrong.stderr).toMatch(/INVALID_RECORD/);
    const noSchema = await runCli(['produce', 'cli-avro', '--value-format', 'json', ...conn.slice(0, 4)], '{}\n');
    expect(noSchema.stderr).toMatch(/needs --schema-registry and --value-schema/);
  });

  it('runs as its own process and serves what the others registered', async () => {
    const child = spawn(
      process.execPath,
      [cliPath, 'schema-registry', '--port', '0', '--nats', inject('natsUrl'), '--cluster', cluster],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await waitFor('the registry URL', () => /schema registry at (http:\/\/\S+)/.exec(out)?.[1]);
      expect((await http(url, 'GET', '/subjects')).body).toEqual(expect.arrayContaining(['orders-value', 'money']));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
