/**
 * A Kafka connection over a real loopback socket, with a door whose answer cannot be encoded
 * (a handler bug): the connection closes itself with the reason logged, and the process and
 * other connections go on.
 */
import * as net from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Writer, apis, encodeMessage, writeRequestHeader, type KafkaApi } from '../../protocol/kafka/index.js';
import { KafkaListenerMetrics as KafkaMetrics } from '../../src/metrics/kafka.js';
import { newSession } from '../../src/kafka/sasl.js';
import { KafkaConnection, type Door } from '../../src/kafka/connection.js';

describe('Kafka connection', () => {
  let server: net.Server | null = null;
  afterEach(() => server?.close());

  it('closes itself when its answer cannot be encoded, without taking the process down', async () => {
    // A response whose topic id is not a UUID: the encoder refuses it.
    const door: Door = {
      served: new Map<number, KafkaApi>([[apis.Metadata.key, apis.Metadata]]),
      handle: async () => ({ topics: [{ name: 't', topicId: 'not-a-uuid', partitions: [] }] }),
    };
    const metrics = new KafkaMetrics(new Registry());
    let closed: () => void = () => undefined;
    const closedOnServer = new Promise<void>((resolve) => (closed = resolve));
    server = net.createServer((socket) => {
      new KafkaConnection(
        socket,
        door,
        { maxRequestBytes: 1 << 20, idleMs: 60_000 },
        metrics,
        pino({ level: 'silent' }),
        newSession('127.0.0.1', null),
        false,
        closed,
      );
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, '127.0.0.1');
    const clientClosed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.on('error', () => undefined);
    const w = new Writer();
    writeRequestHeader(w, apis.Metadata, { apiVersion: 12, correlationId: 1, clientId: null });
    encodeMessage(apis.Metadata.request, 12, { topics: null }, w);
    const body = Buffer.concat(w.finish());
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length, 0);
    client.write(Buffer.concat([size, body]));
    await Promise.all([closedOnServer, clientClosed]);
    expect(client.destroyed).toBe(true);
  });
});
