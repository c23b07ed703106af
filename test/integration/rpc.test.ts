import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { MillraceError } from '../../protocol/errors.js';
import { wire } from '../../protocol/wire.js';
import { connectNats, maxPayload } from '../../src/transport/connection.js';
import { RpcServer, request } from '../../src/transport/rpc.js';

let server: NatsConnection;
let client: NatsConnection;
let rpc: RpcServer;
const observed: string[] = [];

beforeAll(async () => {
  server = await connectNats({ servers: inject('natsUrl'), name: 'rpc-test-server' });
  client = await connectNats({ servers: inject('natsUrl'), name: 'rpc-test-client' });
  rpc = new RpcServer(server, pino({ level: 'silent' }), (api, error) => observed.push(`${api}:${error}`));
  rpc.handle('list_offsets', 'rpc.test.echo', wire.ListOffsetsRequest, wire.ListOffsetsResponse, (req) => {
    if (req.replicaId === 99) throw new MillraceError('NOT_LEADER_OR_FOLLOWER', 'broker 1 is not the leader');
    if (req.replicaId === 98) throw new Error('boom');
    if (req.replicaId === 97) return { topics: [{ name: 'x'.repeat(maxPayload(server) + 10) }] };
    return {
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: (t.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.timestamp })),
      })),
    };
  });
  await server.flush();
});

afterAll(async () => {
  await rpc.close();
  await server.close();
  await client.close();
});

const call = (replicaId: number, timeoutMs = 5_000) =>
  request(
    client,
    'rpc.test.echo',
    wire.ListOffsetsRequest,
    { replicaId, topics: [{ name: 't', partitions: [{ partition: 2, timestamp: 2 ** 45 }] }] },
    wire.ListOffsetsResponse,
    timeoutMs,
  );

describe('RPC over NATS', () => {
  it('round-trips typed messages with 64-bit numbers', async () => {
    const res = await call(-1);
    expect(res.topics[0]!.partitions![0]!.offset).toBe(2 ** 45);
  });

  it('answers a handler error with its code and keeps serving', async () => {
    await expect(call(99)).rejects.toMatchObject({
      errorName: 'NOT_LEADER_OR_FOLLOWER',
      retriable: true,
      detail: 'broker 1 is not the leader',
    });
    await expect(call(98)).rejects.toMatchObject({ errorName: 'UNKNOWN_SERVER_ERROR' });
    await expect(call(97)).rejects.toMatchObject({ errorName: 'MESSAGE_TOO_LARGE' });
    expect((await call(-1)).topics).toHaveLength(1);
  });

  it('answers garbage bytes with INVALID_REQUEST', async () => {
    const reply = await client.request('rpc.test.echo', Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01]), {
      timeout: 5_000,
    });
    const decoded = wire.ErrorResponse.decode(reply.data);
    expect(MillraceError.fromCode(decoded.errorCode, decoded.errorMessage).errorName).toBe('INVALID_REQUEST');
    expect(observed).toContain('list_offsets:INVALID_REQUEST');
  });

  it('refuses an oversized request before sending, and reports no listener and timeouts', async () => {
    const huge = { topics: [{ name: 'y'.repeat(maxPayload(client) + 1) }] };
    await expect(
      request(client, 'rpc.test.echo', wire.ListOffsetsRequest, huge, wire.ListOffsetsResponse, 1000),
    ).rejects.toMatchObject({
      errorName: 'RECORD_LIST_TOO_LARGE',
    });
    await expect(
      request(client, 'rpc.test.nobody', wire.ListOffsetsRequest, {}, wire.ListOffsetsResponse, 1000),
    ).rejects.toMatchObject({
      errorName: 'NETWORK_EXCEPTION',
      retriable: true,
    });
  });
});
